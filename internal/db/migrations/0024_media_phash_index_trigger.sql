-- The photo-reuse index (media_phash_chunks, 0018) kept by the database itself: whatever
-- writes media.phash — the thumbnail job, a backfill, a test, a future tool — the keys follow in
-- the same statement, so no writer can forget them (0018 had the thumbnail job call
-- media_phash_index; a photo stored any other way was invisible to the reuse rule). Statement-
-- level triggers with transition tables, so a bulk write indexes set-wise, as the change feed
-- (0017) does. Only the system writes pHashes and the index (its policies); a user's insert of a
-- medium without a pHash touches nothing here.
CREATE FUNCTION media_phash_chunks_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    PERFORM media_phash_index(ARRAY(SELECT n.id FROM new_rows n WHERE n.phash IS NOT NULL));
  ELSE
    PERFORM media_phash_index(ARRAY(SELECT n.id FROM new_rows n JOIN old_rows o ON o.id = n.id
                                    WHERE n.phash IS DISTINCT FROM o.phash));
  END IF;
  RETURN NULL;
END $$;

-- media_phash_index(ids) with an empty array would do nothing; with NULL it reindexes all, so
-- the trigger never passes NULL (ARRAY(SELECT ...) of no rows is '{}').
CREATE TRIGGER media_phash_chunks_insert AFTER INSERT ON media
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION media_phash_chunks_sync();
CREATE TRIGGER media_phash_chunks_update AFTER UPDATE ON media
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION media_phash_chunks_sync();
