-- region_shapes: a copy of every region boundary, for placing points (premises, and later
-- photos, sites and leads) in grid cells by location.
--
-- Why a copy: under row-level security PostgreSQL evaluates the policy before any condition
-- that is not leakproof, and PostGIS operators (&&, ST_Intersects) are not, so a spatial join
-- against regions cannot use the GiST index and scans every region for every point. This table's
-- read policy is simply true (it tells where a cell is, not what is in it), so joins use the
-- index. Code that places a point must still check the caller's scope of the result with
-- sieve_in_scope(path), as internal/premises does. Rows are kept in step by a trigger on regions;
-- nothing else writes here.
SELECT set_config('sieve.system', 'on', true);

CREATE TABLE region_shapes (
  region_id  bigint PRIMARY KEY REFERENCES regions (id) ON DELETE CASCADE,
  level      text   NOT NULL,
  path       ltree  NOT NULL,
  geom       geometry(MultiPolygon, 4326) NOT NULL
);
CREATE INDEX region_shapes_geom ON region_shapes USING gist (geom);
CREATE INDEX region_shapes_level ON region_shapes (level);

ALTER TABLE region_shapes ENABLE ROW LEVEL SECURITY;
ALTER TABLE region_shapes FORCE ROW LEVEL SECURITY;
CREATE POLICY region_shapes_read ON region_shapes FOR SELECT USING (true);
CREATE POLICY region_shapes_insert ON region_shapes FOR INSERT WITH CHECK (sieve_in_scope(path));
CREATE POLICY region_shapes_update ON region_shapes FOR UPDATE USING (sieve_in_scope(path)) WITH CHECK (sieve_in_scope(path));
CREATE POLICY region_shapes_delete ON region_shapes FOR DELETE USING (sieve_in_scope(path));

CREATE FUNCTION regions_sync_shape() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.geom IS NULL OR ST_IsEmpty(NEW.geom) THEN
    DELETE FROM region_shapes WHERE region_id = NEW.id;
  ELSE
    INSERT INTO region_shapes (region_id, level, path, geom) VALUES (NEW.id, NEW.level, NEW.path, NEW.geom)
    ON CONFLICT (region_id) DO UPDATE SET level = EXCLUDED.level, path = EXCLUDED.path, geom = EXCLUDED.geom;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER regions_shape AFTER INSERT OR UPDATE OF geom, path, level ON regions
  FOR EACH ROW EXECUTE FUNCTION regions_sync_shape();

INSERT INTO region_shapes (region_id, level, path, geom)
  SELECT id, level, path, geom FROM regions WHERE geom IS NOT NULL AND NOT ST_IsEmpty(geom);
