-- The table kit: a table's row-level security, its audit trigger and its path copies, each
-- given by one helper, so that a new table gets its standard security in a line or two and a
-- reviewer reads the same shape everywhere. The live state is made visible and enforced by two
-- tests in internal/db: the catalogue test (every table has forced RLS, a read policy, the
-- system's UPDATE policy if it holds a path, an audit trigger or a stated reason not to) and the
-- security golden file (testdata/security.golden: every policy, trigger and sieve_* function).
--
-- A new table, in its migration:
--
--   CREATE TABLE things (..., region_path ltree NOT NULL, ...);
--   SELECT sieve_secure_table('things', 'region_path', 'scope');   -- or 'system'
--   SELECT sieve_audit_table('things');
--   CREATE TRIGGER things_region_path BEFORE INSERT OR UPDATE OF region_id ON things       -- a path copy
--     FOR EACH ROW EXECUTE FUNCTION sieve_copy_path('region_id', 'regions', 'path', 'region_path');
--
-- sieve_secure_table(tbl, path_col, writes) enables and forces row-level security and owns these
-- policies of the table, all permissive, re-created on every call (so a call is idempotent and a
-- later call with other arguments replaces them):
--   <table>_read           FOR SELECT  USING sieve_in_scope(path_col)
--   writes = 'scope':  the caller's area is where they may write
--   <table>_insert         FOR INSERT  WITH CHECK sieve_in_scope(path_col)
--   <table>_update         FOR UPDATE  USING and WITH CHECK sieve_in_scope(path_col)
--   <table>_delete         FOR DELETE  USING sieve_in_scope(path_col)
--   writes = 'system': only tools and jobs (sieve_system()) write
--   <table>_insert         FOR INSERT  WITH CHECK sieve_system()
--   <table>_delete         FOR DELETE  USING sieve_system()
--   and always
--   <table>_system_update  FOR UPDATE  USING and WITH CHECK sieve_system()   (sieve_system_update)
-- Permissive policies are OR-ed, so a table that grants more (the uploader sees their own media,
-- an inspector records their own visits) adds policies of its own under other names beside the
-- kit's; one that grants less uses AS RESTRICTIVE. sieve_in_scope is true for the system.
--
-- The system UPDATE policy is what region moves need: sieve_repath (0012) rewrites, as the
-- system, every ltree column of every table when a region changes parent. A table whose own
-- UPDATE policy already lets the system through would not strictly need it, but one rule ("every
-- table with a path has <table>_system_update") is one the catalogue test can check and nobody
-- has to reason about.
--
-- sieve_audit_table(tbl) (re)attaches <table>_audit: audit_row() after every row change, with the
-- bulk skip (a bulk load sets sieve.bulk and writes one summary itself; with the WHEN condition
-- PostgreSQL does not even queue the trigger event, see 0006).
--
-- sieve_copy_path() is the one trigger function for path copies: a BEFORE row trigger that copies
-- a column of the row its foreign key points at, read under the caller's policies (a row the
-- caller cannot see gives NULL, as does a NULL key). Its arguments, in the CREATE TRIGGER:
--   (foreign-key column, source table, source column, target column)
-- the source table's key being its id column.

-- sieve_system_update gives tbl the UPDATE policy of the system, <table>_system_update.
CREATE FUNCTION sieve_system_update(tbl regclass) RETURNS void LANGUAGE plpgsql AS $$
DECLARE pol text := (SELECT relname FROM pg_class WHERE oid = tbl) || '_system_update';
BEGIN
  EXECUTE format('DROP POLICY IF EXISTS %I ON %s', pol, tbl);
  EXECUTE format('CREATE POLICY %I ON %s FOR UPDATE USING (sieve_system()) WITH CHECK (sieve_system())', pol, tbl);
END $$;

-- sieve_secure_table: see the head of this file.
CREATE FUNCTION sieve_secure_table(tbl regclass, path_col text, writes text DEFAULT 'scope') RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  t      text := (SELECT relname FROM pg_class WHERE oid = tbl);
  scope  text := format('sieve_in_scope(%I)', path_col);
  stmt   text := 'CREATE POLICY %I ON %s FOR %s %s (%s)';
  p      text;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_attribute
                 WHERE attrelid = tbl AND attname = path_col AND attnum > 0 AND NOT attisdropped
                   AND atttypid = 'ltree'::regtype) THEN
    RAISE EXCEPTION 'sieve_secure_table: %.% is not an ltree column', t, path_col;
  END IF;
  IF writes IS NULL OR writes NOT IN ('scope', 'system') THEN
    RAISE EXCEPTION 'sieve_secure_table: writes must be scope or system, not %', writes;
  END IF;
  EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
  EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', tbl);
  FOREACH p IN ARRAY ARRAY['_read', '_insert', '_update', '_delete'] LOOP
    EXECUTE format('DROP POLICY IF EXISTS %I ON %s', t || p, tbl);
  END LOOP;
  EXECUTE format(stmt, t || '_read', tbl, 'SELECT', 'USING', scope);
  IF writes = 'scope' THEN
    EXECUTE format(stmt, t || '_insert', tbl, 'INSERT', 'WITH CHECK', scope);
    EXECUTE format(stmt || ' WITH CHECK (%s)', t || '_update', tbl, 'UPDATE', 'USING', scope, scope);
    EXECUTE format(stmt, t || '_delete', tbl, 'DELETE', 'USING', scope);
  ELSE
    EXECUTE format(stmt, t || '_insert', tbl, 'INSERT', 'WITH CHECK', 'sieve_system()');
    EXECUTE format(stmt, t || '_delete', tbl, 'DELETE', 'USING', 'sieve_system()');
  END IF;
  PERFORM sieve_system_update(tbl);
END $$;

-- sieve_audit_table: see the head of this file.
CREATE FUNCTION sieve_audit_table(tbl regclass) RETURNS void LANGUAGE plpgsql AS $$
DECLARE trg text := (SELECT relname FROM pg_class WHERE oid = tbl) || '_audit';
BEGIN
  EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', trg, tbl);
  EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE ON %s FOR EACH ROW '
                 'WHEN (coalesce(current_setting(''sieve.bulk'', true), '''') <> ''on'') '
                 'EXECUTE FUNCTION audit_row()', trg, tbl);
END $$;

-- sieve_copy_path: see the head of this file. The key is read from NEW with its own type, so the
-- lookup uses the source's primary key; NEW's target column is set through jsonb, the one way
-- PL/pgSQL has to assign a column named at run time.
CREATE FUNCTION sieve_copy_path() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE p ltree;
BEGIN
  IF TG_NARGS <> 4 THEN
    RAISE EXCEPTION 'sieve_copy_path on %: want (key column, source table, source column, target column)', TG_TABLE_NAME;
  END IF;
  -- jsonb_populate_record ignores a key that names no column: a misspelt target would leave the
  -- path unset without a word.
  IF NOT EXISTS (SELECT 1 FROM pg_attribute
                 WHERE attrelid = TG_RELID AND attname = TG_ARGV[3] AND attnum > 0 AND NOT attisdropped) THEN
    RAISE EXCEPTION 'sieve_copy_path on %: no column %', TG_TABLE_NAME, TG_ARGV[3];
  END IF;
  EXECUTE format('SELECT s.%I FROM %I s WHERE s.id = ($1).%I', TG_ARGV[2], TG_ARGV[1], TG_ARGV[0]) INTO p USING NEW;
  NEW := jsonb_populate_record(NEW, jsonb_build_object(TG_ARGV[3], p));
  RETURN NEW;
END $$;

-- The three path copies from regions, on the generic function. Their behaviour stays: a NULL
-- region and a region the caller cannot see both give NULL (users and rounds allow it, rounds
-- meaning the whole city; surveys' NOT NULL then refuses the row).
DROP TRIGGER users_region_path ON users;
CREATE TRIGGER users_region_path BEFORE INSERT OR UPDATE OF region_id ON users
  FOR EACH ROW EXECUTE FUNCTION sieve_copy_path('region_id', 'regions', 'path', 'region_path');
DROP FUNCTION users_set_region_path();

DROP TRIGGER surveys_region_path ON surveys;
CREATE TRIGGER surveys_region_path BEFORE INSERT OR UPDATE OF region_id ON surveys
  FOR EACH ROW EXECUTE FUNCTION sieve_copy_path('region_id', 'regions', 'path', 'region_path');
DROP FUNCTION surveys_set_region_path();

DROP TRIGGER rounds_region_path ON rounds;
CREATE TRIGGER rounds_region_path BEFORE INSERT OR UPDATE OF region_id ON rounds
  FOR EACH ROW EXECUTE FUNCTION sieve_copy_path('region_id', 'regions', 'path', 'region_path');
DROP FUNCTION rounds_set_region_path();

-- Kept as they are:
-- * inspections_place (0011) copies two columns from premises, the cell id (not a path) and the
--   region path, in one lookup, and fires for every row of a bulk load (the demo records 23,000
--   inspections in one statement). There the generic function costs: 23,000 rows copying one
--   column through sieve_copy_path took 0.40 s, through a function like inspections_place copying
--   both 0.08 s (PostgreSQL 15, the test stack).
-- * regions_set_path (0002) builds a path (the parent's path + the row's own id), it does not
--   copy one.
-- * media and upload_sessions take region_path from the survey when there is one and else from
--   the uploader, in the INSERT (and the session's UPDATE) that internal/media writes: two
--   sources, chosen by the row, in Go code. As triggers they would be two sieve_copy_path
--   triggers with WHEN (NEW.survey_id IS [NOT] NULL); that move belongs with the media code.
-- * cell_assignments.cell_path is written by the INSERT ... SELECT that checks the cell.

-- Row-level security through the kit where the policies were already exactly the kit's: the same
-- policies again, plus the system UPDATE.
SELECT sieve_secure_table('premises', 'region_path', 'scope');
SELECT sieve_secure_table('surveys', 'region_path', 'scope');

-- Every other table with a path copy gets the system UPDATE policy beside its own ones. Three
-- had it under the name <table>_update already (media_cells and media_site_links from 0012,
-- inspections from 0011: only the system's evidence check updates an inspection); they take the
-- kit's name.
SELECT sieve_system_update(tbl)
FROM unnest(ARRAY['regions', 'users', 'cell_assignments', 'region_shapes', 'media', 'upload_sessions',
                  'rounds']::regclass[]) AS tbl;
ALTER POLICY media_cells_update ON media_cells RENAME TO media_cells_system_update;
ALTER POLICY media_site_links_update ON media_site_links RENAME TO media_site_links_system_update;
ALTER POLICY inspections_update ON inspections RENAME TO inspections_system_update;

-- Audit triggers without the bulk skip, re-attached through the kit (premises and inspections
-- have it already, from 0006 and 0011).
SELECT sieve_audit_table(tbl)
FROM unnest(ARRAY['regions', 'users', 'cell_assignments', 'surveys', 'media', 'media_site_links',
                  'upload_sessions', 'rounds']::regclass[]) AS tbl;
