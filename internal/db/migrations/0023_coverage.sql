-- Coverage (覆盖率) per grid cell and round, kept current with the writes, and the change state
-- of the map tiles.
--
-- Coverage = premises with a counting inspection in the round / all premises of the cell,
-- rolled up to village, township and city by summing cells (DESIGN.md, core idea 4). Reading it
-- must never scan premises and inspections, so the per-cell numbers live in coverage_cells and
-- are rewritten, set-wise, for exactly the cells a statement touched: statement-level triggers
-- with transition tables on inspections, premises and rounds call sieve_coverage_refresh for
-- the affected (round, cell) pairs; media_cells (drone footprints) refreshes coverage_drone.
-- coverage_days holds, per round, cell and day (Asia/Shanghai), how many premises got their
-- first counting inspection of the round that day: the daily series is its running sum.
--
-- What counts is one function, sieve_inspection_counts(evidence): a verified visit (migration
-- 0016's verdicts pending|verified|flagged|rejected; a coordinator's review turns a flagged visit
-- verified, so it counts), and sieve_inspection_flagged says what a flagged visit is. Change
-- these two functions, and only these, when what counts changes.

CREATE FUNCTION sieve_inspection_counts(evidence text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
  SELECT $1 = 'verified'
$$;

CREATE FUNCTION sieve_inspection_flagged(evidence text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
  SELECT $1 = 'flagged'
$$;

-- round_id has no foreign key, so that rounds can be truncated on their own; the rounds'
-- delete and truncate triggers below remove their coverage.
CREATE TABLE coverage_cells (
  round_id         bigint NOT NULL,
  cell_id          bigint NOT NULL REFERENCES regions (id) ON DELETE CASCADE,
  cell_path        ltree  NOT NULL,
  premises         integer NOT NULL,  -- in the register, in the cell
  verified         integer NOT NULL,  -- with a counting inspection in the round
  flagged          integer NOT NULL,  -- with a flagged inspection in the round and none that counts
  never_visited    integer NOT NULL,  -- no inspection in this round or an earlier one
  due_again        integer NOT NULL,  -- inspected in an earlier round only (回头看)
  last_inspection  timestamptz,       -- the latest visit of the round
  updated_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (round_id, cell_id)
);
CREATE INDEX coverage_cells_cell ON coverage_cells (cell_id);

CREATE TABLE coverage_days (
  round_id   bigint NOT NULL,
  cell_id    bigint NOT NULL REFERENCES regions (id) ON DELETE CASCADE,
  cell_path  ltree  NOT NULL,
  day        date   NOT NULL,
  verified   integer NOT NULL,  -- premises whose first counting inspection of the round was that day
  PRIMARY KEY (round_id, cell_id, day)
);
CREATE INDEX coverage_days_cell ON coverage_days (cell_id);

-- Drone share: the part of a cell's area under drone image footprints, whatever the round.
CREATE TABLE coverage_drone (
  cell_id     bigint PRIMARY KEY REFERENCES regions (id) ON DELETE CASCADE,
  cell_path   ltree  NOT NULL,
  share       double precision NOT NULL CHECK (share BETWEEN 0 AND 1),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

SELECT sieve_secure_table('coverage_cells', 'cell_path', 'system');
SELECT sieve_secure_table('coverage_days', 'cell_path', 'system');
SELECT sieve_secure_table('coverage_drone', 'cell_path', 'system');

-- The change state of each tile layer: a sequence per layer, advanced by every statement that
-- changes what the layer shows (sequences take no row lock, so concurrent writers never wait on
-- it). A tile's ETag is made from it: a changed layer is a new ETag.
CREATE SEQUENCE tiles_regions_state;
CREATE SEQUENCE tiles_cells_state;
CREATE SEQUENCE tiles_premises_state;
CREATE SEQUENCE tiles_footprints_state;

-- sieve_tile_states answers the change state of every layer, one row each.
CREATE FUNCTION sieve_tile_states() RETURNS TABLE (layer text, state bigint) LANGUAGE sql STABLE AS $$
  SELECT 'regions', last_value FROM tiles_regions_state
  UNION ALL SELECT 'cells', last_value FROM tiles_cells_state
  UNION ALL SELECT 'premises', last_value FROM tiles_premises_state
  UNION ALL SELECT 'footprints', last_value FROM tiles_footprints_state
$$;

-- sieve_coverage_refresh rewrites the coverage of cells (ids of grid cells) in rounds (NULL:
-- every round), set-wise. It acts as the system for its own writes, whoever's statement fired
-- it: coverage counts every premise of a cell, also those the writer cannot see, and only this
-- function and sieve_drone_refresh write the coverage tables. The setting is put back after.
CREATE FUNCTION sieve_coverage_refresh(cells bigint[], round_ids bigint[] DEFAULT NULL) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE was text := coalesce(current_setting('sieve.system', true), '');
BEGIN
  IF cells IS NULL OR cardinality(cells) = 0 THEN
    RETURN;
  END IF;
  PERFORM set_config('sieve.system', 'on', true);
  -- One refresh of a cell at a time: a concurrent writer of the same cell waits here until this
  -- transaction ends, and its statements below (each with a fresh snapshot under READ
  -- COMMITTED) then see what this one wrote. Locks are taken in cell order; a refresh of many
  -- cells (a new round, an import) takes one exclusive lock instead of one per cell, which the
  -- small refreshes hold shared, so the lock table never fills up.
  IF cardinality(cells) > 64 THEN
    PERFORM pg_advisory_xact_lock(230022, 0);
  ELSE
    PERFORM pg_advisory_xact_lock_shared(230022, 0);
    PERFORM pg_advisory_xact_lock(230023, (c % 2147483647)::int4) FROM unnest(cells) c ORDER BY c;
  END IF;
  DELETE FROM coverage_cells WHERE cell_id IN (SELECT unnest(cells)) AND (round_ids IS NULL OR round_id = ANY (round_ids));
  DELETE FROM coverage_days WHERE cell_id IN (SELECT unnest(cells)) AND (round_ids IS NULL OR round_id = ANY (round_ids));
  WITH cells_rounds AS (
    SELECT r.id AS round_id, r.starts_at, c.id AS cell_id, c.path AS cell_path
    FROM unnest(cells) k(id)
    JOIN regions c ON c.id = k.id AND c.level = 'cell'
    JOIN rounds r ON (round_ids IS NULL OR r.id = ANY (round_ids)) AND (r.region_path IS NULL OR c.path <@ r.region_path)),
  premise_state AS (
    SELECT cr.round_id, cr.cell_id, cr.cell_path, coalesce(st.counted, false) AS counted,
           coalesce(st.flagged, false) AS flagged, coalesce(st.visited, false) AS visited,
           coalesce(st.earlier, false) AS earlier, st.last, st.first_counted
    FROM cells_rounds cr
    JOIN premises p ON p.cell_id = cr.cell_id
    LEFT JOIN LATERAL (
      SELECT bool_or(i.round_id = cr.round_id AND sieve_inspection_counts(i.evidence)) AS counted,
             bool_or(i.round_id = cr.round_id AND sieve_inspection_flagged(i.evidence)) AS flagged,
             bool_or(i.round_id = cr.round_id) AS visited,
             bool_or(ir.starts_at < cr.starts_at) AS earlier,
             max(i.visited_at) FILTER (WHERE i.round_id = cr.round_id) AS last,
             min(i.visited_at) FILTER (WHERE i.round_id = cr.round_id AND sieve_inspection_counts(i.evidence)) AS first_counted
      FROM inspections i JOIN rounds ir ON ir.id = i.round_id
      WHERE i.premise_id = p.id) st ON true),
  days AS (
    INSERT INTO coverage_days (round_id, cell_id, cell_path, day, verified)
    SELECT s.round_id, s.cell_id, s.cell_path, (s.first_counted AT TIME ZONE 'Asia/Shanghai')::date, count(*)
    FROM premise_state s WHERE s.first_counted IS NOT NULL
    GROUP BY 1, 2, 3, 4)
  -- One pass over the premises' states plus one zero row per (round, cell), so that cells
  -- without premises get a row too; summed by hash, never a join of cells with premises.
  INSERT INTO coverage_cells (round_id, cell_id, cell_path, premises, verified, flagged, never_visited, due_again, last_inspection)
  SELECT x.round_id, x.cell_id, x.cell_path, sum(x.n), sum(x.v), sum(x.f), sum(x.nv), sum(x.d), max(x.last)
  FROM (
    SELECT s.round_id, s.cell_id, s.cell_path, 1 AS n, s.counted::int AS v, (s.flagged AND NOT s.counted)::int AS f,
           (NOT s.visited AND NOT s.earlier)::int AS nv, (NOT s.visited AND s.earlier)::int AS d, s.last
    FROM premise_state s
    UNION ALL
    SELECT cr.round_id, cr.cell_id, cr.cell_path, 0, 0, 0, 0, 0, NULL::timestamptz FROM cells_rounds cr) x
  GROUP BY x.round_id, x.cell_id, x.cell_path;
  PERFORM nextval('tiles_cells_state');
  PERFORM set_config('sieve.system', was, true);
END $$;

-- sieve_drone_refresh rewrites the drone share of cells from the footprints of the drone images
-- placed in them (media_cells), acting as the system like sieve_coverage_refresh.
CREATE FUNCTION sieve_drone_refresh(cells bigint[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE was text := coalesce(current_setting('sieve.system', true), '');
BEGIN
  IF cells IS NULL OR cardinality(cells) = 0 THEN
    RETURN;
  END IF;
  PERFORM set_config('sieve.system', 'on', true);
  IF cardinality(cells) > 64 THEN
    PERFORM pg_advisory_xact_lock(230022, 1);
  ELSE
    PERFORM pg_advisory_xact_lock_shared(230022, 1);
    PERFORM pg_advisory_xact_lock(230024, (c % 2147483647)::int4) FROM unnest(cells) c ORDER BY c;
  END IF;
  DELETE FROM coverage_drone WHERE cell_id = ANY (cells);
  INSERT INTO coverage_drone (cell_id, cell_path, share)
  SELECT c.id, c.path,
         least(1, greatest(0, ST_Area(ST_Intersection(c.geom, f.u)) / nullif(ST_Area(c.geom), 0)))
  FROM regions c
  CROSS JOIN LATERAL (SELECT ST_Union(m.footprint) AS u FROM media_cells mc JOIN media m ON m.id = mc.media_id
                      WHERE mc.cell_id = c.id AND m.footprint IS NOT NULL) f
  WHERE c.id = ANY (cells) AND c.level = 'cell' AND c.geom IS NOT NULL AND f.u IS NOT NULL;
  PERFORM nextval('tiles_cells_state');
  PERFORM nextval('tiles_footprints_state');
  PERFORM set_config('sieve.system', was, true);
END $$;

-- The triggers. Each finds the cells its statement touched and refreshes only those.
CREATE FUNCTION coverage_inspections_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  was    text := coalesce(current_setting('sieve.system', true), '');
  cells  bigint[];
BEGIN
  PERFORM set_config('sieve.system', 'on', true);
  IF TG_OP = 'INSERT' THEN
    SELECT array_agg(DISTINCT p.cell_id) INTO cells FROM new_rows n JOIN premises p ON p.id = n.premise_id WHERE p.cell_id IS NOT NULL;
  ELSE
    SELECT array_agg(DISTINCT p.cell_id) INTO cells FROM new_rows n JOIN old_rows o ON o.id = n.id
      JOIN premises p ON p.id = n.premise_id
     WHERE p.cell_id IS NOT NULL AND (n.evidence IS DISTINCT FROM o.evidence OR n.round_id <> o.round_id
       OR n.visited_at <> o.visited_at OR n.premise_id <> o.premise_id);
  END IF;
  PERFORM set_config('sieve.system', was, true);
  -- Every round: a visit of an earlier round changes "due again" in the later ones.
  PERFORM sieve_coverage_refresh(cells);
  RETURN NULL;
END $$;
CREATE TRIGGER coverage_inspections_insert AFTER INSERT ON inspections
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION coverage_inspections_changed();
CREATE TRIGGER coverage_inspections_update AFTER UPDATE ON inspections
  REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION coverage_inspections_changed();

-- Inspections or premises truncated: every cell again (TRUNCATE has no transition table).
CREATE FUNCTION coverage_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  was    text := coalesce(current_setting('sieve.system', true), '');
  cells  bigint[];
BEGIN
  PERFORM set_config('sieve.system', 'on', true);
  cells := ARRAY(SELECT id FROM regions WHERE level = 'cell');
  PERFORM set_config('sieve.system', was, true);
  PERFORM nextval('tiles_premises_state');
  PERFORM sieve_coverage_refresh(cells);
  RETURN NULL;
END $$;
CREATE TRIGGER coverage_inspections_truncate AFTER TRUNCATE ON inspections
  FOR EACH STATEMENT EXECUTE FUNCTION coverage_truncated();
CREATE TRIGGER coverage_premises_truncate AFTER TRUNCATE ON premises
  FOR EACH STATEMENT EXECUTE FUNCTION coverage_truncated();

CREATE FUNCTION coverage_premises_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE cells bigint[];
BEGIN
  IF TG_OP = 'INSERT' THEN
    SELECT array_agg(DISTINCT cell_id) INTO cells FROM new_rows WHERE cell_id IS NOT NULL;
  ELSIF TG_OP = 'DELETE' THEN
    SELECT array_agg(DISTINCT cell_id) INTO cells FROM old_rows WHERE cell_id IS NOT NULL;
  ELSE
    SELECT array_agg(DISTINCT c) INTO cells FROM new_rows n JOIN old_rows o ON o.id = n.id
      CROSS JOIN LATERAL (VALUES (n.cell_id), (o.cell_id)) v(c)
     WHERE c IS NOT NULL AND n.cell_id IS DISTINCT FROM o.cell_id;
  END IF;
  PERFORM nextval('tiles_premises_state');
  IF EXISTS (SELECT 1 FROM rounds) THEN
    PERFORM sieve_coverage_refresh(cells);
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER coverage_premises_insert AFTER INSERT ON premises
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION coverage_premises_changed();
CREATE TRIGGER coverage_premises_update AFTER UPDATE ON premises
  REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION coverage_premises_changed();
CREATE TRIGGER coverage_premises_delete AFTER DELETE ON premises
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION coverage_premises_changed();

-- A new round, or one whose period or region changed, is computed for all its cells.
CREATE FUNCTION coverage_rounds_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  was    text := coalesce(current_setting('sieve.system', true), '');
  cells  bigint[];
BEGIN
  PERFORM set_config('sieve.system', 'on', true);
  SELECT array_agg(c.id) INTO cells FROM regions c
   WHERE c.level = 'cell' AND EXISTS (SELECT 1 FROM new_rows r WHERE r.region_path IS NULL OR c.path <@ r.region_path);
  PERFORM set_config('sieve.system', was, true);
  PERFORM sieve_coverage_refresh(cells);
  RETURN NULL;
END $$;
CREATE TRIGGER coverage_rounds_insert AFTER INSERT ON rounds
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION coverage_rounds_changed();
CREATE TRIGGER coverage_rounds_update AFTER UPDATE ON rounds
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION coverage_rounds_changed();

-- A round deleted or truncated takes its coverage along.
CREATE FUNCTION coverage_rounds_removed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE was text := coalesce(current_setting('sieve.system', true), '');
BEGIN
  PERFORM set_config('sieve.system', 'on', true);
  IF TG_OP = 'TRUNCATE' THEN
    DELETE FROM coverage_cells;
    DELETE FROM coverage_days;
  ELSE
    DELETE FROM coverage_cells WHERE round_id IN (SELECT id FROM old_rows);
    DELETE FROM coverage_days WHERE round_id IN (SELECT id FROM old_rows);
  END IF;
  PERFORM nextval('tiles_cells_state');
  PERFORM set_config('sieve.system', was, true);
  RETURN NULL;
END $$;
CREATE TRIGGER coverage_rounds_delete AFTER DELETE ON rounds
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION coverage_rounds_removed();
CREATE TRIGGER coverage_rounds_truncate AFTER TRUNCATE ON rounds
  FOR EACH STATEMENT EXECUTE FUNCTION coverage_rounds_removed();

CREATE FUNCTION coverage_media_cells_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE cells bigint[];
BEGIN
  IF TG_OP = 'INSERT' THEN
    SELECT array_agg(DISTINCT cell_id) INTO cells FROM new_rows;
  ELSE
    SELECT array_agg(DISTINCT cell_id) INTO cells FROM old_rows;
  END IF;
  PERFORM sieve_drone_refresh(cells);
  RETURN NULL;
END $$;
CREATE TRIGGER coverage_media_cells_insert AFTER INSERT ON media_cells
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION coverage_media_cells_changed();
CREATE TRIGGER coverage_media_cells_delete AFTER DELETE ON media_cells
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION coverage_media_cells_changed();

-- Regions change the outline and cell layers.
CREATE FUNCTION tiles_regions_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM nextval('tiles_regions_state');
  PERFORM nextval('tiles_cells_state');
  RETURN NULL;
END $$;
CREATE TRIGGER tiles_regions_changed AFTER INSERT OR UPDATE OR DELETE ON regions
  FOR EACH STATEMENT EXECUTE FUNCTION tiles_regions_changed();

-- Coverage already computed for the rounds and inspections present when this migration runs.
SELECT sieve_coverage_refresh(ARRAY(SELECT id FROM regions WHERE level = 'cell'));
SELECT sieve_drone_refresh(ARRAY(SELECT DISTINCT cell_id FROM media_cells));

-- Visits change the premises layer too (its status property).
CREATE OR REPLACE FUNCTION coverage_inspections_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  was    text := coalesce(current_setting('sieve.system', true), '');
  cells  bigint[];
BEGIN
  PERFORM set_config('sieve.system', 'on', true);
  IF TG_OP = 'INSERT' THEN
    SELECT array_agg(DISTINCT p.cell_id) INTO cells FROM new_rows n JOIN premises p ON p.id = n.premise_id WHERE p.cell_id IS NOT NULL;
  ELSE
    SELECT array_agg(DISTINCT p.cell_id) INTO cells FROM new_rows n JOIN old_rows o ON o.id = n.id
      JOIN premises p ON p.id = n.premise_id
     WHERE p.cell_id IS NOT NULL AND (n.evidence IS DISTINCT FROM o.evidence OR n.round_id <> o.round_id
       OR n.visited_at <> o.visited_at OR n.premise_id <> o.premise_id);
  END IF;
  PERFORM set_config('sieve.system', was, true);
  PERFORM nextval('tiles_premises_state');
  -- Every round: a visit of an earlier round changes "due again" in the later ones.
  PERFORM sieve_coverage_refresh(cells);
  RETURN NULL;
END $$;

-- region_pieces: the township, village and city outlines cut into pieces of at most 256
-- vertices (ST_Subdivide), for the regions tile layer: a tile reads only the pieces its box
-- meets, through their index, and clips small shapes. Like region_shapes its read policy is
-- true (the tile query joins regions by id, under the caller's policies, to scope it); rows are
-- kept by a trigger on regions.
CREATE TABLE region_pieces (
  region_id  bigint NOT NULL REFERENCES regions (id) ON DELETE CASCADE,
  level      text   NOT NULL,
  path       ltree  NOT NULL,
  geom       geometry(Geometry, 4326) NOT NULL
);
CREATE INDEX region_pieces_geom ON region_pieces USING gist (geom);
CREATE INDEX region_pieces_region ON region_pieces (region_id);
ALTER TABLE region_pieces ENABLE ROW LEVEL SECURITY;
ALTER TABLE region_pieces FORCE ROW LEVEL SECURITY;
CREATE POLICY region_pieces_read ON region_pieces FOR SELECT USING (true);
CREATE POLICY region_pieces_insert ON region_pieces FOR INSERT WITH CHECK (sieve_in_scope(path));
CREATE POLICY region_pieces_delete ON region_pieces FOR DELETE USING (sieve_in_scope(path));
SELECT sieve_system_update('region_pieces');

CREATE FUNCTION regions_sync_pieces() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM region_pieces WHERE region_id = NEW.id;
  IF NEW.level <> 'cell' AND NEW.geom IS NOT NULL AND NOT ST_IsEmpty(NEW.geom) THEN
    INSERT INTO region_pieces (region_id, level, path, geom)
    SELECT NEW.id, NEW.level, NEW.path, ST_Subdivide(NEW.geom, 256);
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER regions_pieces AFTER INSERT OR UPDATE OF geom, path, level ON regions
  FOR EACH ROW EXECUTE FUNCTION regions_sync_pieces();
INSERT INTO region_pieces (region_id, level, path, geom)
  SELECT id, level, path, ST_Subdivide(geom, 256) FROM regions
  WHERE level <> 'cell' AND geom IS NOT NULL AND NOT ST_IsEmpty(geom);
