-- Placement and "the cells of an area" through region_shapes.
--
-- Under row-level security PostgreSQL evaluates a table's policy before any condition that is
-- not leakproof, and neither PostGIS's operators nor ltree's <@ are, so a spatial condition on
-- regions (or on any table with policies) cannot use its index. region_shapes (migration 0004)
-- is the copy of every boundary whose read policy is true: its GiST indexes work for everyone.
-- Everything that looks for cells by location or by area goes through it; callers still check
-- the caller's scope of what they find (sieve_in_scope) where that matters.

-- sieve_cells_in answers "the grid cells in this region and/or this box": the cells at or below
-- region (NULL: anywhere) whose polygon meets bbox (NULL: any), found in region_shapes with
-- its spatial index. The region itself is looked up in regions, under the caller's policies: a
-- region the caller cannot see has no cells. The cells of a visible region are returned
-- whoever holds them, so callers read what lies in them through their own policies (premises
-- listing, and later map tiles and coverage). A plain SQL function, so PostgreSQL inlines it
-- into the calling query.
CREATE FUNCTION sieve_cells_in(region bigint, bbox geometry DEFAULT NULL) RETURNS SETOF bigint
LANGUAGE sql STABLE AS $$
  SELECT s.region_id FROM region_shapes s
  WHERE s.level = 'cell'
    AND ($1 IS NULL OR s.path <@ (SELECT r.path FROM regions r WHERE r.id = $1))
    AND ($2 IS NULL OR ST_Intersects(s.geom, $2))
$$;

-- sieve_media_placement is where media land: for each medium of media_ids, every grid cell its
-- point lies in (how 'point') and every other cell its footprint meets (how 'footprint'),
-- found in region_shapes through its index of cells (region_shapes_cells). A plain SQL
-- function, inlined into place_media's INSERT, so EXPLAIN SELECT * FROM
-- sieve_media_placement(ARRAY[id]) shows the plan placing one image uses.
CREATE FUNCTION sieve_media_placement(media_ids bigint[])
RETURNS TABLE (media_id bigint, cell_id bigint, cell_path ltree, media_region_path ltree, uploaded_by bigint, how text)
LANGUAGE sql STABLE AS $$
  SELECT m.id, c.region_id, c.path, m.region_path, m.uploaded_by, c.how
  FROM media m
  CROSS JOIN LATERAL (
    SELECT s.region_id, s.path, 'point'::text AS how FROM region_shapes s
     WHERE s.level = 'cell' AND ST_Intersects(s.geom, m.point)
    UNION ALL
    SELECT s.region_id, s.path, 'footprint'::text FROM region_shapes s
     WHERE s.level = 'cell' AND ST_Intersects(s.geom, m.footprint)
       AND (m.point IS NULL OR NOT ST_Intersects(s.geom, m.point))) c
  WHERE m.id = ANY ($1)
$$;

-- place_media as in 0010 (the cells of the given media, all media when NULL, from their point
-- and footprint; re-runnable), now finding the cells through region_shapes instead of scanning
-- regions. It writes media_cells, which only the system may: the placement job runs as the
-- system, and package media's placer in db.SystemBulk.
CREATE OR REPLACE FUNCTION place_media(media_ids bigint[] DEFAULT NULL) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  ids bigint[] := coalesce(media_ids, ARRAY(SELECT id FROM media));
  n   integer;
BEGIN
  DELETE FROM media_cells WHERE media_id = ANY (ids);
  INSERT INTO media_cells (media_id, cell_id, cell_path, media_region_path, uploaded_by, how)
  SELECT p.media_id, p.cell_id, p.cell_path, p.media_region_path, p.uploaded_by, p.how
  FROM sieve_media_placement(ids) p;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END $$;

-- place_media_in_region places again, set-wise, the media of region region_id after its cells
-- changed (generated anew, imported, reshaped): every medium whose point or footprint meets
-- the region, or that had cells under it. Only media whose cells differ are rewritten; it
-- returns how many those were. Run as the system (package media's placer does, for package
-- regions); media_cells rows of cells that were deleted are already gone with them.
CREATE FUNCTION place_media_in_region(region_id bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  area_path ltree;
  area_geom geometry;
  ids       bigint[];
  changed   bigint[];
BEGIN
  SELECT r.path, r.geom INTO area_path, area_geom FROM regions r WHERE r.id = place_media_in_region.region_id;
  IF area_path IS NULL THEN
    RETURN 0;
  END IF;
  SELECT array_agg(m.id) INTO ids FROM media m
   WHERE (area_geom IS NOT NULL AND (ST_Intersects(area_geom, m.point) OR ST_Intersects(area_geom, m.footprint)))
      OR m.id IN (SELECT mc.media_id FROM media_cells mc WHERE mc.cell_path <@ area_path);
  IF ids IS NULL THEN
    RETURN 0;
  END IF;
  WITH want AS (SELECT p.media_id, p.cell_id, p.how FROM sieve_media_placement(ids) p),
       have AS (SELECT mc.media_id, mc.cell_id, mc.how FROM media_cells mc WHERE mc.media_id = ANY (ids)),
       diff AS ((SELECT * FROM want EXCEPT SELECT * FROM have) UNION ALL (SELECT * FROM have EXCEPT SELECT * FROM want))
  SELECT array_agg(DISTINCT d.media_id) INTO changed FROM diff d;
  IF changed IS NULL THEN
    RETURN 0;
  END IF;
  PERFORM place_media(changed);
  RETURN cardinality(changed);
END $$;
