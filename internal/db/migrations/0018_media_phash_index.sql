-- The photo-reuse index: multi-index hashing of the media's perceptual hashes (media.phash).
--
-- The evidence check of an inspection asks for every stored photo whose pHash lies within a
-- Hamming distance of 10 (of 64 bits) of a new one, anywhere in the city. A scan of media with
-- bit_count(phash # $1) compares all of them; this table indexes each hash under four keys, one
-- per 16-bit chunk, and the lookup (media.Store.SimilarByPHash) reads only the keys within a
-- few bits of the query's chunks, then compares those candidates exactly. The chunking and the
-- probes are imagery's (imagery/phashindex.go); this file holds the same chunking in SQL:
--
--   chunk_key = (k << 16) | ((phash >> 16k) & 65535)    for k = 0..3
--
-- Why a table of keys and not four expression indexes on media: under row-level security
-- PostgreSQL uses an index only for conditions that are leakproof, and bigint's >> and & are not
-- (nor can the application role, not a superuser, mark a function LEAKPROOF), so a condition on
-- ((phash >> 16) & 65535) scans media. Integer equality is leakproof: chunk_key = ANY ($1) is an
-- index condition here. The index carries phash and media_id, so the lookup is an index-only
-- scan that never reads the table.
--
-- Security: only the system reads and writes this table (the evidence check looks for reuse by
-- anyone, anywhere in the city; nobody else has a use for another photo's hash). Its one policy
-- is sieve_system(), not the table kit's sieve_in_scope(region_path): a path column would be
-- part of every index entry the policy reads (an ltree of ~20 bytes beside 20 bytes of key,
-- hash and id: 295 MB instead of 155 MB for 10^6 photos, more than shared_buffers) and the
-- policy would be evaluated per candidate. Written as (SELECT sieve_system()) it is evaluated once
-- per query (an InitPlan), not once per index entry. With no path, region moves do not touch it.
--
-- Rows are written by media_phash_index, which the thumbnail job calls in the transaction that
-- stores a medium's pHash, and which backfills the media stored before this migration below.
CREATE TABLE media_phash_chunks (
  media_id   bigint  NOT NULL REFERENCES media (id) ON DELETE CASCADE,
  chunk_key  integer NOT NULL,  -- (chunk number << 16) | the chunk's 16 bits
  phash      bigint  NOT NULL,  -- media.phash, compared exactly with the query's
  PRIMARY KEY (media_id, chunk_key)
);
CREATE INDEX media_phash_chunks_key ON media_phash_chunks (chunk_key) INCLUDE (phash, media_id);

ALTER TABLE media_phash_chunks ENABLE ROW LEVEL SECURITY;
ALTER TABLE media_phash_chunks FORCE ROW LEVEL SECURITY;
CREATE POLICY media_phash_chunks_system ON media_phash_chunks
  USING ((SELECT sieve_system())) WITH CHECK ((SELECT sieve_system()));

-- media_phash_index (re)indexes the pHashes of the given media (all media when NULL): it drops
-- their keys and writes four for each medium that has a pHash. Returns how many keys it wrote.
CREATE FUNCTION media_phash_index(media_ids bigint[] DEFAULT NULL) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE n integer;
BEGIN
  DELETE FROM media_phash_chunks WHERE media_ids IS NULL OR media_id = ANY (media_ids);
  INSERT INTO media_phash_chunks (media_id, chunk_key, phash)
  SELECT m.id, (k << 16) | ((m.phash >> (16 * k)) & 65535)::integer, m.phash
  FROM media m CROSS JOIN generate_series(0, 3) AS k
  WHERE m.phash IS NOT NULL AND (media_ids IS NULL OR m.id = ANY (media_ids));
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END $$;

-- The backfill, as the system (this migration's transaction only).
SET LOCAL sieve.system = 'on';
SELECT media_phash_index(NULL);
