-- Moving a region to another parent (区划调整: a village handed to another township, say).
--
-- A region's path is its parent's path + its id, and many tables keep a copy of a region's path
-- for their row-level security policies (premises.region_path, users.region_path,
-- cell_assignments.cell_path, media.region_path ...). When a region moves, the path of the region
-- and of everything under it changes, and so must every copy. sieve_repath rewrites them all:
-- it finds the ltree columns of the schema's tables in the catalogue, so a table added later with
-- a path copy is covered without touching this function. audit_log keeps the paths of its time.
--
-- It runs under the caller's policies; internal/regions runs it as the system once it has
-- checked that the caller may move the region (both parents in their area). A row that a policy
-- keeps it from rewriting would leave a stale path behind, so it checks at the end that nothing
-- under the old path is left, and fails (rolling the move back) if anything is.
CREATE FUNCTION sieve_repath(old_path ltree, new_path ltree) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  c     record;
  n     bigint;
  total bigint := 0;
  left_over boolean;
BEGIN
  FOR c IN
    SELECT t.oid::regclass AS tbl, a.attname AS col
    FROM pg_attribute a
    JOIN pg_class t ON t.oid = a.attrelid
    JOIN pg_namespace s ON s.oid = t.relnamespace
    WHERE a.atttypid = 'ltree'::regtype AND a.attnum > 0 AND NOT a.attisdropped
      AND t.relkind IN ('r', 'p') AND s.nspname = current_schema() AND t.relname <> 'audit_log'
    ORDER BY t.relname, a.attname
  LOOP
    EXECUTE format('UPDATE %s SET %I = CASE WHEN %I = $1 THEN $2 ELSE $2 || subpath(%I, nlevel($1)) END WHERE %I <@ $1',
                   c.tbl, c.col, c.col, c.col, c.col)
      USING old_path, new_path;
    GET DIAGNOSTICS n = ROW_COUNT;
    total := total + n;
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s WHERE %I <@ $1)', c.tbl, c.col) INTO left_over USING old_path;
    IF left_over THEN
      RAISE EXCEPTION 'sieve_repath: rows of %.% under % could not be rewritten', c.tbl, c.col, old_path
        USING ERRCODE = 'insufficient_privilege';
    END IF;
  END LOOP;
  RETURN total;
END $$;

-- Tables whose rows only the system writes had no UPDATE policy; sieve_repath updates them.
CREATE POLICY media_cells_update ON media_cells FOR UPDATE USING (sieve_system()) WITH CHECK (sieve_system());
CREATE POLICY media_site_links_update ON media_site_links FOR UPDATE USING (sieve_system()) WITH CHECK (sieve_system());
