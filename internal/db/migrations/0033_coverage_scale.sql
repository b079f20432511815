-- Coverage at city size and tile ETags per area (issue 12).
--
-- 1. The coverage refresh without its quadratic plan.
-- Migration 0023's sieve_coverage_refresh looked each premise's visits up in a lateral subquery
-- that joined inspections with rounds (for "visited in an earlier round"). While a bulk insert's
-- statement trigger ran it, rounds and inspections had no statistics yet, the planner took
-- rounds for ~600 rows and answered the lateral with a BitmapAnd of inspections_premise and
-- inspections_round_cell: for every premise the whole round's part of the round index was read.
-- At 1,000 cells and 44,000 visits that was 4 s, at 2,000 cells and 88,000 visits more than 10
-- minutes (gdb on the backend: tbm_add_tuples under MultiExecBitmapAnd in the refresh). It also
-- paid 2-4 s of JIT compilation for a query that runs in a second.
--
-- The refresh below is set-wise: one join of the touched cells' premises with their visits,
-- grouped per (round, premise), then per (round, cell). The earlier rounds of each round are an
-- array computed once per round, so no plan can walk the round index per premise; small
-- refreshes (one cell, one visit) still go through premises_cell and inspections_premise. JIT is
-- off for the function: its queries are short joins and aggregates, where compiling costs more
-- than it saves.
CREATE OR REPLACE FUNCTION sieve_coverage_refresh(cells bigint[], round_ids bigint[] DEFAULT NULL) RETURNS void
LANGUAGE plpgsql SET jit = off AS $$
DECLARE was text := coalesce(current_setting('sieve.system', true), '');
BEGIN
  IF cells IS NULL OR cardinality(cells) = 0 THEN
    RETURN;
  END IF;
  PERFORM set_config('sieve.system', 'on', true);
  -- The locking of migration 0023, unchanged: one refresh of a cell at a time, many cells under
  -- one exclusive lock.
  IF cardinality(cells) > 64 THEN
    PERFORM pg_advisory_xact_lock(230022, 0);
  ELSE
    PERFORM pg_advisory_xact_lock_shared(230022, 0);
    PERFORM pg_advisory_xact_lock(230023, (c % 2147483647)::int4) FROM unnest(cells) c ORDER BY c;
  END IF;
  DELETE FROM coverage_cells WHERE cell_id = ANY (cells) AND (round_ids IS NULL OR round_id = ANY (round_ids));
  DELETE FROM coverage_days WHERE cell_id = ANY (cells) AND (round_ids IS NULL OR round_id = ANY (round_ids));
  WITH rs AS (
    SELECT r.id, r.region_path, ARRAY(SELECT e.id FROM rounds e WHERE e.starts_at < r.starts_at) AS earlier
    FROM rounds r WHERE round_ids IS NULL OR r.id = ANY (round_ids)),
  cells_rounds AS (
    SELECT rs.id AS round_id, rs.earlier, c.id AS cell_id, c.path AS cell_path
    FROM regions c JOIN rs ON rs.region_path IS NULL OR c.path <@ rs.region_path
    WHERE c.id = ANY (cells) AND c.level = 'cell'),
  premise_state AS (
    SELECT cr.round_id, cr.cell_id,
           coalesce(bool_or(i.round_id = cr.round_id AND sieve_inspection_counts(i.evidence)), false) AS counted,
           coalesce(bool_or(i.round_id = cr.round_id AND sieve_inspection_flagged(i.evidence)), false) AS flagged,
           coalesce(bool_or(i.round_id = cr.round_id), false) AS visited,
           coalesce(bool_or(i.round_id = ANY (cr.earlier)), false) AS earlier,
           max(i.visited_at) FILTER (WHERE i.round_id = cr.round_id) AS last,
           min(i.visited_at) FILTER (WHERE i.round_id = cr.round_id AND sieve_inspection_counts(i.evidence)) AS first_counted
    FROM cells_rounds cr
    JOIN premises p ON p.cell_id = cr.cell_id
    LEFT JOIN inspections i ON i.premise_id = p.id
    GROUP BY cr.round_id, cr.cell_id, p.id),
  days AS (
    INSERT INTO coverage_days (round_id, cell_id, cell_path, day, verified)
    SELECT d.round_id, d.cell_id, cr.cell_path, d.day, d.n
    FROM (SELECT s.round_id, s.cell_id, (s.first_counted AT TIME ZONE 'Asia/Shanghai')::date AS day, count(*) AS n
          FROM premise_state s WHERE s.first_counted IS NOT NULL GROUP BY 1, 2, 3) d
    JOIN cells_rounds cr ON cr.round_id = d.round_id AND cr.cell_id = d.cell_id)
  -- One row per (round, cell), also for cells without premises.
  INSERT INTO coverage_cells (round_id, cell_id, cell_path, premises, verified, flagged, never_visited, due_again, last_inspection)
  SELECT cr.round_id, cr.cell_id, cr.cell_path, coalesce(s.n, 0), coalesce(s.v, 0), coalesce(s.f, 0),
         coalesce(s.nv, 0), coalesce(s.d, 0), s.last
  FROM cells_rounds cr
  LEFT JOIN (
    SELECT s.round_id, s.cell_id, count(*) AS n, count(*) FILTER (WHERE s.counted) AS v,
           count(*) FILTER (WHERE s.flagged AND NOT s.counted) AS f,
           count(*) FILTER (WHERE NOT s.visited AND NOT s.earlier) AS nv,
           count(*) FILTER (WHERE NOT s.visited AND s.earlier) AS d, max(s.last) AS last
    FROM premise_state s GROUP BY s.round_id, s.cell_id) s ON s.round_id = cr.round_id AND s.cell_id = cr.cell_id;
  PERFORM sieve_tile_touch(ARRAY['cells', 'premises'], cells);
  PERFORM set_config('sieve.system', was, true);
END $$;

-- 2. The change state of the tiles per grid cell, so that a tile's ETag depends on its area.
--
-- Migration 0023 kept one sequence per layer: an edit anywhere in the city gave every tile of
-- the layer a new ETag. tile_cell_states holds, per layer and grid cell, the value the layer's
-- sequence had when something shown in that cell last changed (sieve_tile_touch, called by the
-- writes' statement triggers). A tile's state is the sum and count of the states of the cells
-- it meets (found through region_shapes' index, the cells the tile itself reads): values only
-- grow, so any touch of one of them changes the sum, also when transactions commit out of
-- the sequence's order (a max would miss a smaller value committed after a larger one). The
-- layer sequences stay: nextval gives the values, and the regions layer (and a structural edit
-- of the tree, migration 0023's tiles_regions_changed) still use their last values.
CREATE TABLE tile_cell_states (
  layer    text   NOT NULL,
  cell_id  bigint NOT NULL REFERENCES regions (id) ON DELETE CASCADE,
  state    bigint NOT NULL,
  PRIMARY KEY (layer, cell_id)
);
-- Change counters only (no names, no numbers of the cells): readable by anyone, like
-- region_shapes, so the ETag is computed without a scoped transaction; written by the system.
ALTER TABLE tile_cell_states ENABLE ROW LEVEL SECURITY;
ALTER TABLE tile_cell_states FORCE ROW LEVEL SECURITY;
CREATE POLICY tile_cell_states_read ON tile_cell_states FOR SELECT USING (true);
CREATE POLICY tile_cell_states_insert ON tile_cell_states FOR INSERT WITH CHECK (sieve_system());
CREATE POLICY tile_cell_states_delete ON tile_cell_states FOR DELETE USING (sieve_system());
SELECT sieve_system_update('tile_cell_states');

-- The sites layer's sequence (the sites domain's layer, internal/sites).
CREATE SEQUENCE tiles_sites_state;

-- sieve_tile_touch records a change of layers in cells: each (layer, cell) gets the next value
-- of the layer's sequence tiles_<layer>_state. Rows are written in cell order, so that two
-- statements touching the same cells never wait on each other crosswise.
CREATE FUNCTION sieve_tile_touch(layers text[], cells bigint[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  was  text := coalesce(current_setting('sieve.system', true), '');
  l    text;
  v    bigint;
BEGIN
  IF cells IS NULL OR cardinality(cells) = 0 THEN
    RETURN;
  END IF;
  PERFORM set_config('sieve.system', 'on', true);
  FOREACH l IN ARRAY layers LOOP
    v := nextval(format('tiles_%s_state', l)::regclass);
    INSERT INTO tile_cell_states (layer, cell_id, state)
    SELECT l, c, v FROM (SELECT DISTINCT c FROM unnest(cells) c WHERE c IS NOT NULL) k
    WHERE EXISTS (SELECT 1 FROM regions r WHERE r.id = k.c)
    ORDER BY c
    ON CONFLICT (layer, cell_id) DO UPDATE SET state = EXCLUDED.state;
  END LOOP;
  PERFORM set_config('sieve.system', was, true);
END $$;

-- Every layer of every cell once, so that states exist from the start.
SELECT sieve_tile_touch(ARRAY['cells', 'premises', 'footprints', 'sites'], ARRAY(SELECT id FROM regions WHERE level = 'cell'));

-- New cells (generated or imported) start with a state of every layer.
CREATE FUNCTION tiles_cells_created() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM sieve_tile_touch(ARRAY['cells', 'premises', 'footprints', 'sites'],
    ARRAY(SELECT id FROM new_rows WHERE level = 'cell'));
  RETURN NULL;
END $$;
CREATE TRIGGER tiles_cells_created AFTER INSERT ON regions
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tiles_cells_created();

-- The drone share: as migration 0023, touching the cells and footprints of its cells.
CREATE OR REPLACE FUNCTION sieve_drone_refresh(cells bigint[]) RETURNS void LANGUAGE plpgsql AS $$
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
  PERFORM sieve_tile_touch(ARRAY['cells', 'footprints'], cells);
  PERFORM set_config('sieve.system', was, true);
END $$;

-- Visits: the refresh touches the cells and premises of their cells (migration 0023 advanced
-- the premises sequence here besides).
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
  -- Every round: a visit of an earlier round changes "due again" in the later ones.
  PERFORM sieve_coverage_refresh(cells);
  RETURN NULL;
END $$;

-- Inspections or premises truncated: every cell again; the refresh touches them all.
CREATE OR REPLACE FUNCTION coverage_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  was    text := coalesce(current_setting('sieve.system', true), '');
  cells  bigint[];
BEGIN
  PERFORM set_config('sieve.system', 'on', true);
  cells := ARRAY(SELECT id FROM regions WHERE level = 'cell');
  PERFORM set_config('sieve.system', was, true);
  PERFORM sieve_coverage_refresh(cells);
  RETURN NULL;
END $$;

-- Premises: every changed premise touches the premises layer of its cells (old and new); the
-- coverage is refreshed for the cells that gained or lost premises, as in migration 0023.
CREATE OR REPLACE FUNCTION coverage_premises_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  cells    bigint[];
  touched  bigint[];
BEGIN
  IF TG_OP = 'INSERT' THEN
    SELECT array_agg(DISTINCT cell_id) INTO cells FROM new_rows WHERE cell_id IS NOT NULL;
    touched := cells;
  ELSIF TG_OP = 'DELETE' THEN
    SELECT array_agg(DISTINCT cell_id) INTO cells FROM old_rows WHERE cell_id IS NOT NULL;
    touched := cells;
  ELSE
    SELECT array_agg(DISTINCT c) INTO cells FROM new_rows n JOIN old_rows o ON o.id = n.id
      CROSS JOIN LATERAL (VALUES (n.cell_id), (o.cell_id)) v(c)
     WHERE c IS NOT NULL AND n.cell_id IS DISTINCT FROM o.cell_id;
    SELECT array_agg(DISTINCT c) INTO touched FROM (SELECT cell_id FROM new_rows UNION SELECT cell_id FROM old_rows) v(c)
     WHERE c IS NOT NULL;
  END IF;
  IF EXISTS (SELECT 1 FROM rounds) THEN
    PERFORM sieve_coverage_refresh(cells);
  END IF;
  PERFORM sieve_tile_touch(ARRAY['premises'], touched);
  RETURN NULL;
END $$;

-- A round removed: its coverage goes, and every cell's cells and premises layers change (the
-- round in force may be another now).
CREATE OR REPLACE FUNCTION coverage_rounds_removed() RETURNS trigger LANGUAGE plpgsql AS $$
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
  PERFORM sieve_tile_touch(ARRAY['cells', 'premises'], ARRAY(SELECT id FROM regions WHERE level = 'cell'));
  PERFORM set_config('sieve.system', was, true);
  RETURN NULL;
END $$;

-- Sites (疑似点) touch the sites layer of their cells, old and new; their disposal actions (the
-- last action and the overdue flag the layer shows) touch their site's cell.
CREATE FUNCTION tiles_sites_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE cells bigint[];
BEGIN
  IF TG_OP = 'INSERT' THEN
    SELECT array_agg(DISTINCT cell_id) INTO cells FROM new_rows;
  ELSIF TG_OP = 'DELETE' THEN
    SELECT array_agg(DISTINCT cell_id) INTO cells FROM old_rows;
  ELSE
    SELECT array_agg(DISTINCT c) INTO cells FROM (SELECT cell_id FROM new_rows UNION SELECT cell_id FROM old_rows) v(c);
  END IF;
  PERFORM sieve_tile_touch(ARRAY['sites'], cells);
  RETURN NULL;
END $$;
CREATE TRIGGER tiles_sites_insert AFTER INSERT ON sites
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tiles_sites_changed();
CREATE TRIGGER tiles_sites_update AFTER UPDATE ON sites
  REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION tiles_sites_changed();
CREATE TRIGGER tiles_sites_delete AFTER DELETE ON sites
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION tiles_sites_changed();

CREATE FUNCTION tiles_site_actions_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  was    text := coalesce(current_setting('sieve.system', true), '');
  cells  bigint[];
BEGIN
  PERFORM set_config('sieve.system', 'on', true);
  IF TG_OP = 'DELETE' THEN
    SELECT array_agg(DISTINCT s.cell_id) INTO cells FROM old_rows a JOIN sites s ON s.id = a.site_id;
  ELSE
    SELECT array_agg(DISTINCT s.cell_id) INTO cells FROM new_rows a JOIN sites s ON s.id = a.site_id;
  END IF;
  PERFORM set_config('sieve.system', was, true);
  PERFORM sieve_tile_touch(ARRAY['sites'], cells);
  RETURN NULL;
END $$;
CREATE TRIGGER tiles_site_actions_insert AFTER INSERT ON site_actions
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tiles_site_actions_changed();
CREATE TRIGGER tiles_site_actions_update AFTER UPDATE ON site_actions
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tiles_site_actions_changed();
CREATE TRIGGER tiles_site_actions_delete AFTER DELETE ON site_actions
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION tiles_site_actions_changed();

-- sieve_tile_states also answers the sites layer's sequence.
CREATE OR REPLACE FUNCTION sieve_tile_states() RETURNS TABLE (layer text, state bigint) LANGUAGE sql STABLE AS $$
  SELECT 'regions', last_value FROM tiles_regions_state
  UNION ALL SELECT 'cells', last_value FROM tiles_cells_state
  UNION ALL SELECT 'premises', last_value FROM tiles_premises_state
  UNION ALL SELECT 'footprints', last_value FROM tiles_footprints_state
  UNION ALL SELECT 'sites', last_value FROM tiles_sites_state
$$;

-- 3. The one foreign key onto inspections without an index: deleting visits (a test's or a
-- maintenance clean-up; the API never deletes them) checks inspections.disputed_by for every
-- deleted row, by a scan without this index. A DELETE of the benchmark city's 220,000 visits was
-- still running after 20 minutes; this is the likely cause, not measured since.
CREATE INDEX inspections_disputed_by ON inspections (disputed_by) WHERE disputed_by IS NOT NULL;
