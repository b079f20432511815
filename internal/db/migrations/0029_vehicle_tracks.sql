-- Leads from hazardous-chemical vehicle tracks (危化品车辆轨迹, issue 14): the places where a
-- hazardous-chemical vehicle may stop without it meaning anything (the exclusion list), and the
-- stay-point finder the import runs over the points it staged.
--
-- track_exclusions is the list the city keeps: registered chemical firms (危化品企业), the
-- carriers' depots and yards (停车场/车队), motorway service areas (服务区), fuel stations
-- (加油站) and anything else (其他). Each is a point or an outline with a radius in metres; a
-- stay whose place lies within the radius of an active one is not a lead. A row lives where it lies (the
-- path of its cell, or of the deepest region holding it: sieve_locate), so under the kit's
-- policies the city office writes all of them and a township's coordinator those in the
-- township; everyone logged in reads all of them, because an import leaves out every listed
-- place whoever imports. (Premises tagged as licensed chemical firms are left out too, by the
-- import, without being copied here: internal/tracks.)
CREATE TABLE track_exclusions (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind         text   NOT NULL CHECK (kind IN ('chemical_site', 'depot', 'service_area', 'fuel_station', 'other')),
  name         text   NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  geom         geometry(Geometry, 4326) NOT NULL
               CHECK (GeometryType(geom) IN ('POINT', 'POLYGON', 'MULTIPOLYGON') AND ST_IsValid(geom)),
  radius_m     real   NOT NULL DEFAULT 200 CHECK (radius_m BETWEEN 0 AND 5000),
  note         text   NOT NULL DEFAULT '' CHECK (length(note) <= 500),
  active       boolean NOT NULL DEFAULT true,  -- false: taken off the list (kept, audited)
  region_path  ltree  NOT NULL,
  created_by   bigint REFERENCES users (id) ON DELETE SET NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now()
);

-- track_exclusions_place gives a row the path of where it lies (sieve_locate of a point on its
-- surface); a place outside every region keeps NULL and the NOT NULL refuses it.
CREATE FUNCTION track_exclusions_place() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.region_path := (SELECT l.path FROM sieve_locate(ST_PointOnSurface(NEW.geom)) l);
  RETURN NEW;
END $$;
CREATE TRIGGER track_exclusions_place BEFORE INSERT OR UPDATE OF geom ON track_exclusions
  FOR EACH ROW EXECUTE FUNCTION track_exclusions_place();

SELECT sieve_secure_table('track_exclusions', 'region_path', 'scope');
CREATE POLICY track_exclusions_read_all ON track_exclusions FOR SELECT
  USING (sieve_system() OR sieve_user_id() IS NOT NULL);
SELECT sieve_audit_table('track_exclusions');

-- sieve_track_stays finds the stay points (停留点) in the import's staged points, the temporary
-- table track_points (k, lon, lat) that internal/tracks fills with COPY in the same transaction,
-- k being the vehicle's number in the import times 2^32 plus the fix's Unix time in seconds (one
-- bigint: sorting by it is sorting by vehicle, then time, and a single integer key sorts several
-- times faster than a plate's text and a timestamp). Per vehicle in time order, a run of
-- consecutive points all within radius_m of the run's first point (its anchor) is a stay when
-- its last point is at least min_stay_s seconds after the anchor. A point farther away closes
-- the run and anchors the next one. A gap in the points (a tracker that stops sending while the
-- engine is off) inside such a run counts as time spent there. Distances are on a local plane
-- (metres per degree at the anchor's latitude), within 0.1 % of the geodesic at a few hundred
-- metres. One ordered pass in PL/pgSQL: the rule is sequential (where a run ends depends on
-- where it began), which window functions cannot say, and a recursive query would be far
-- slower. Each stay: the vehicle's number, its first and last time (Unix seconds), how many
-- points, their mean position.
CREATE FUNCTION sieve_track_stays(radius_m float8, min_stay_s bigint)
RETURNS TABLE (vehicle integer, started bigint, ended bigint, points integer, lon float8, lat float8)
LANGUAGE plpgsql AS $$
DECLARE
  key    bigint; x float8; y float8;  -- the current fix
  cur    bigint := -1;                -- the run's vehicle (-1 before the first fix)
  v      bigint;
  t      bigint;
  ax     float8; ay float8;           -- the run's anchor
  t0     bigint; t1 bigint;
  sx     float8; sy float8; k integer;
  kx     float8; ky float8 := 110574.0;
  r2     float8 := radius_m * radius_m;
  dx     float8; dy float8;
BEGIN
  FOR key, x, y IN SELECT p.k, p.lon, p.lat FROM pg_temp.track_points p ORDER BY p.k LOOP
    v := key >> 32;
    t := key & 4294967295;
    IF v = cur THEN
      dx := (x - ax) * kx;
      dy := (y - ay) * ky;
      IF dx * dx + dy * dy <= r2 THEN
        t1 := t; sx := sx + x; sy := sy + y; k := k + 1;
        CONTINUE;
      END IF;
    END IF;
    IF cur >= 0 AND t1 - t0 >= min_stay_s THEN
      vehicle := cur; started := t0; ended := t1; points := k; lon := sx / k; lat := sy / k;
      RETURN NEXT;
    END IF;
    cur := v; ax := x; ay := y; t0 := t; t1 := t; sx := x; sy := y; k := 1;
    kx := 111320.0 * cos(radians(y));
  END LOOP;
  IF cur >= 0 AND t1 - t0 >= min_stay_s THEN
    vehicle := cur; started := t0; ended := t1; points := k; lon := sx / k; lat := sy / k;
    RETURN NEXT;
  END IF;
END $$;
