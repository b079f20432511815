-- The tiles' change states by zone (issue 12): a tile's ETag state is one range of one index.
--
-- Migration 0033 kept one state per (layer, cell) and summed, for a tile, the states of the
-- cells it meets: the cells found through region_shapes' GiST index, then one probe of
-- tile_cell_states' key per cell. At zoom 14 that was ~60 µs of server time (the GiST scan ~30,
-- the 25 probes ~28), a fifth of what the API adds to a fresh tile.
--
-- Now each cell has one row per layer and *zone*: a zoom-14 tile (ZoneZoom in internal/tiles)
-- that the cell's bounding box meets. Zones are numbered in Morton (Z) order, interleaving the
-- bits of the tile's x and y, so the zones under any tile of zoom 14 or less are one range of
-- numbers: the state is a range scan of (layer, zone), ~11 µs at zoom 14. A tile deeper than 14
-- reads its zoom-14 ancestor's zone: a superset of its cells, like the bounding boxes of 0033
-- (an edit beside the tile revalidates it for nothing, never the reverse). A cell over two
-- zones has a row in each; both move with every touch, so sums and counts still change with
-- every edit and every cell added or removed.
SELECT set_config('sieve.system', 'on', true);

-- sieve_tile_zone is the zone number of zoom-14 tile x/y (0 ≤ x, y < 2^14): the bits of x at
-- the even places, those of y at the odd ones (Morton order). internal/tiles' zone is the same
-- function in Go (TestZonesAgree).
CREATE FUNCTION sieve_tile_zone(x bigint, y bigint) RETURNS bigint LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE v bigint[] := ARRAY[x, y];
BEGIN
  -- Spread the 16 low bits of each over 32 (a zero bit between any two), then interleave.
  FOR i IN 1..2 LOOP
    v[i] := (v[i] | (v[i] << 8)) & x'00FF00FF'::bigint;
    v[i] := (v[i] | (v[i] << 4)) & x'0F0F0F0F'::bigint;
    v[i] := (v[i] | (v[i] << 2)) & x'33333333'::bigint;
    v[i] := (v[i] | (v[i] << 1)) & x'55555555'::bigint;
  END LOOP;
  RETURN v[1] | (v[2] << 1);
END $$;

-- sieve_cell_zones are the zones the bounding box of g (WGS-84) meets, the box widened by a
-- millionth of a zone each way, so that a cell that only touches a tile's edge (which the tile's
-- ST_Intersects counts) has a zone on both sides, whatever the rounding of either computation.
-- (PL/pgSQL, not an SQL function: inlined into a caller's join, the planner costed the zones of
-- every cell before the join and a touch of ten cells took 190 ms.)
CREATE FUNCTION sieve_cell_zones(g geometry) RETURNS bigint[] LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  n    constant float8 := 16384;  -- 2^ZoneZoom
  e    constant float8 := 1e-6;
  x0   bigint;
  x1   bigint;
  y0   bigint;
  y1   bigint;
  out  bigint[] := '{}';
BEGIN
  IF g IS NULL OR ST_IsEmpty(g) THEN
    RETURN out;
  END IF;
  x0 := greatest(0, floor((ST_XMin(g) + 180) / 360 * n - e));
  x1 := least(16383, floor((ST_XMax(g) + 180) / 360 * n + e));
  y0 := greatest(0, floor((1 - asinh(tan(radians(least(85.0511, ST_YMax(g))))) / pi()) / 2 * n - e));
  y1 := least(16383, floor((1 - asinh(tan(radians(greatest(-85.0511, ST_YMin(g))))) / pi()) / 2 * n + e));
  -- A grid cell is a few km across (a zone is ~2 km here); a box of more than 64 x 64 zones
  -- (~130 km) is no cell but a broken outline (or one across the antimeridian), refused here
  -- rather than written as millions of rows.
  IF (x1 - x0 + 1) * (y1 - y0 + 1) > 4096 THEN
    RAISE EXCEPTION 'a grid cell''s bounding box spans % x % map zones (at most 4096 in all)', x1 - x0 + 1, y1 - y0 + 1
      USING ERRCODE = 'check_violation';
  END IF;
  FOR x IN x0..x1 LOOP
    FOR y IN y0..y1 LOOP
      out := out || sieve_tile_zone(x, y);
    END LOOP;
  END LOOP;
  RETURN out;
END $$;

-- tile_zone_states replaces tile_cell_states: the same values (the layer's sequence when
-- something shown in the cell last changed), once per zone of the cell (bump 0), and the bumps
-- of touches that found that row held by another transaction (bump: the touch's value, below).
-- Its key's start is the range a tile reads; (cell_id, layer) is what sieve_tile_touch writes by
-- and a redrawn cell's rows are found by. The state is in no index, so a touch is a HOT update
-- where the page has room (fillfactor).
CREATE TABLE tile_zone_states (
  layer    text   NOT NULL,
  zone     bigint NOT NULL,
  cell_id  bigint NOT NULL REFERENCES regions (id) ON DELETE CASCADE,
  bump     bigint NOT NULL DEFAULT 0,
  state    bigint NOT NULL,
  PRIMARY KEY (layer, zone, cell_id, bump)
) WITH (fillfactor = 70);
CREATE INDEX tile_zone_states_cell ON tile_zone_states (cell_id, layer);
-- Change counters only, like tile_cell_states: readable by anyone, written by the system.
ALTER TABLE tile_zone_states ENABLE ROW LEVEL SECURITY;
ALTER TABLE tile_zone_states FORCE ROW LEVEL SECURITY;
CREATE POLICY tile_zone_states_read ON tile_zone_states FOR SELECT USING (true);
CREATE POLICY tile_zone_states_insert ON tile_zone_states FOR INSERT WITH CHECK (sieve_system());
CREATE POLICY tile_zone_states_delete ON tile_zone_states FOR DELETE USING (sieve_system());
SELECT sieve_system_update('tile_zone_states');

INSERT INTO tile_zone_states (layer, zone, cell_id, state)
SELECT s.layer, z.zone, s.cell_id, s.state
FROM tile_cell_states s
JOIN region_shapes b ON b.region_id = s.cell_id
CROSS JOIN LATERAL unnest(sieve_cell_zones(b.geom)) z(zone)
ORDER BY 1, 2, 3;
DROP TABLE tile_cell_states;

-- Bumps. Migration 0034 skipped a row another transaction holds (FOR UPDATE SKIP LOCKED, so
-- that writers of one cell never wait on each other) and counted on the holder to set it "when
-- it commits"; but the holder sets it when it writes, so when the holder committed first, the
-- skipper's commit changed no state and its edit stayed under the tile's old ETag until the
-- cell's next touch or the layer's clock. A skipper now adds a row of its own (bump = its value:
-- a new key, so the insert never waits), which changes the state's sum and count when the
-- skipper commits; the next touch that holds the zone's row folds the committed bumps into it
-- (deleting them changes the count, so the state moves then too).
-- sieve_tile_touch on the zones' rows: each (layer, zone, cell) of the cells gets the next value
-- of the layer's sequence, in its row when this transaction can take it, else as a bump; a
-- cell without rows yet gets one per zone of its outline in region_shapes (a cell without an
-- outline is in no tile).
CREATE OR REPLACE FUNCTION sieve_tile_touch(layers text[], cells bigint[]) RETURNS void LANGUAGE plpgsql AS $$
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
    WITH k AS (SELECT DISTINCT c FROM unnest(cells) c WHERE c IS NOT NULL),
    free AS (
      SELECT t.zone, t.cell_id FROM tile_zone_states t JOIN k ON t.cell_id = k.c
      WHERE t.layer = l AND t.bump = 0 ORDER BY t.cell_id, t.zone FOR UPDATE OF t SKIP LOCKED),
    upd AS (
      UPDATE tile_zone_states t SET state = v FROM free
      WHERE t.layer = l AND t.zone = free.zone AND t.cell_id = free.cell_id AND t.bump = 0
      RETURNING t.zone, t.cell_id),
    folded AS (
      DELETE FROM tile_zone_states b USING upd
      WHERE b.layer = l AND b.cell_id = upd.cell_id AND b.zone = upd.zone AND b.bump <> 0)
    INSERT INTO tile_zone_states (layer, zone, cell_id, bump, state)
    SELECT l, t.zone, t.cell_id, v, v FROM tile_zone_states t JOIN k ON t.cell_id = k.c
    WHERE t.layer = l AND t.bump = 0 AND NOT EXISTS (SELECT 1 FROM upd WHERE upd.zone = t.zone AND upd.cell_id = t.cell_id)
    ON CONFLICT (layer, zone, cell_id, bump) DO NOTHING;
    INSERT INTO tile_zone_states (layer, zone, cell_id, state)
    SELECT l, z.zone, k.c, v FROM (SELECT DISTINCT c FROM unnest(cells) c WHERE c IS NOT NULL) k
    JOIN region_shapes b ON b.region_id = k.c AND b.level = 'cell'
    CROSS JOIN LATERAL unnest(sieve_cell_zones(b.geom)) z(zone)
    WHERE NOT EXISTS (SELECT 1 FROM tile_zone_states t WHERE t.layer = l AND t.cell_id = k.c)
    ORDER BY k.c, z.zone
    ON CONFLICT (layer, zone, cell_id, bump) DO NOTHING;
  END LOOP;
  PERFORM set_config('sieve.system', was, true);
END $$;

-- A cell's outline drawn, redrawn or gone (region_shapes follows regions): its rows move to the
-- zones of the new outline, each with a new value of its layer's sequence, for the layers with
-- per-cell states (those of migration 0033's tiles_cells_created). Every tile's ETag changes
-- anyway with tiles_regions_state; this keeps the cell's later touches in the right tiles. Row
-- by row, as region_shapes itself is written; an outline saved again in the same zones (a
-- subtree moved: regions_sync_shape rewrites geom with the path) keeps its rows.
CREATE FUNCTION tiles_cell_zones_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE was text := coalesce(current_setting('sieve.system', true), '');
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.level = OLD.level AND sieve_cell_zones(NEW.geom) = sieve_cell_zones(OLD.geom) THEN
    RETURN NULL;
  END IF;
  PERFORM set_config('sieve.system', 'on', true);
  IF TG_OP <> 'INSERT' THEN
    DELETE FROM tile_zone_states WHERE cell_id = OLD.region_id;
  END IF;
  IF TG_OP <> 'DELETE' AND NEW.level = 'cell' THEN
    INSERT INTO tile_zone_states (layer, zone, cell_id, state)
    SELECT l, z.zone, NEW.region_id, nextval(format('tiles_%s_state', l)::regclass)
    FROM unnest(ARRAY['cells', 'premises', 'footprints', 'sites']) l
    CROSS JOIN LATERAL unnest(sieve_cell_zones(NEW.geom)) z(zone)
    ORDER BY 1, 2
    ON CONFLICT (layer, zone, cell_id, bump) DO NOTHING;
  END IF;
  PERFORM set_config('sieve.system', was, true);
  RETURN NULL;
END $$;
CREATE TRIGGER tiles_cell_zones_drawn AFTER INSERT ON region_shapes
  FOR EACH ROW WHEN (NEW.level = 'cell') EXECUTE FUNCTION tiles_cell_zones_changed();
CREATE TRIGGER tiles_cell_zones_redrawn AFTER UPDATE OF geom, level ON region_shapes
  FOR EACH ROW WHEN (OLD.level = 'cell' OR NEW.level = 'cell') EXECUTE FUNCTION tiles_cell_zones_changed();
CREATE TRIGGER tiles_cell_zones_gone AFTER DELETE ON region_shapes
  FOR EACH ROW WHEN (OLD.level = 'cell') EXECUTE FUNCTION tiles_cell_zones_changed();

-- New cells get their rows from tiles_cell_zones_drawn: migration 0033's statement trigger
-- would write them all a second time.
DROP TRIGGER tiles_cells_created ON regions;
DROP FUNCTION tiles_cells_created();
