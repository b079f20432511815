-- One owner for "which cell (or region) holds this point": sieve_locate. Tasks (0015) and sites
-- (0022) each wrote the rule twice, in their placing trigger and in their re-placing function;
-- all four now call this function. The rule is the premises' (internal/premises locateSQL):
-- the lowest-id grid cell whose polygon holds the point, else the deepest region that does,
-- found in region_shapes, whose GiST index works under row-level security. (Premises keep
-- their Go-side SQL: their bulk import places a whole staged table set-wise, cell by cell.)
-- A one-statement SQL function, so the planner inlines it into the callers' queries.
CREATE FUNCTION sieve_locate(pt geometry) RETURNS TABLE (cell_id bigint, path ltree) LANGUAGE sql STABLE AS $$
  SELECT c.region_id, coalesce(c.path, a.path)
  FROM (SELECT 1) one
  LEFT JOIN LATERAL (SELECT s.region_id, s.path FROM region_shapes s
    WHERE s.level = 'cell' AND ST_Intersects(s.geom, pt) ORDER BY s.region_id LIMIT 1) c ON true
  LEFT JOIN LATERAL (SELECT s.path FROM region_shapes s
    WHERE c.region_id IS NULL AND s.level <> 'cell' AND ST_Intersects(s.geom, pt)
    ORDER BY nlevel(s.path) DESC, s.region_id LIMIT 1) a ON true
$$;

CREATE OR REPLACE FUNCTION tasks_place() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  SELECT l.cell_id, l.path INTO NEW.cell_id, NEW.region_path FROM sieve_locate(NEW.point) l;
  RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION sites_place() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  SELECT l.cell_id, l.path INTO NEW.cell_id, NEW.region_path FROM sieve_locate(NEW.point) l;
  RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION place_tasks_in_region(region bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
  WITH area AS (SELECT path, geom FROM regions WHERE id = region),
  placed AS (
    SELECT t.id, l.cell_id, l.path
    FROM tasks t CROSS JOIN area CROSS JOIN LATERAL sieve_locate(t.point) l
    WHERE t.region_path <@ area.path OR ST_Intersects(area.geom, t.point))
  UPDATE tasks t SET cell_id = placed.cell_id, region_path = placed.path, updated_at = now()
  FROM placed
  WHERE t.id = placed.id
    AND (t.cell_id IS DISTINCT FROM placed.cell_id OR t.region_path IS DISTINCT FROM placed.path);
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END $$;

CREATE OR REPLACE FUNCTION place_sites_in_region(region bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
  WITH area AS (SELECT path, geom FROM regions WHERE id = region),
  placed AS (
    SELECT s.id, l.cell_id, l.path
    FROM sites s CROSS JOIN area CROSS JOIN LATERAL sieve_locate(s.point) l
    WHERE s.region_path <@ area.path OR ST_Intersects(area.geom, s.point)),
  moved AS (
    UPDATE sites s SET cell_id = placed.cell_id, region_path = placed.path, updated_at = now()
    FROM placed
    WHERE s.id = placed.id
      AND (s.cell_id IS DISTINCT FROM placed.cell_id OR s.region_path IS DISTINCT FROM placed.path)
    RETURNING s.id, s.region_path),
  relinked AS (
    UPDATE media_site_links l SET site_path = moved.region_path FROM moved WHERE l.site_id = moved.id RETURNING 1)
  SELECT count(*) INTO n FROM moved;
  RETURN n;
END $$;
