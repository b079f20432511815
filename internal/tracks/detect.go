package tracks

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Stay is one stay point (停留点) of one vehicle, as the last import in the transaction found it.
type Stay struct {
	Plate          string
	Started, Ended time.Time
	Points         int
	Lon, Lat       float64
	Night          bool
	// ExcludedBy says why the stay is not part of any place: "kind:name" of the exclusion,
	// "premise:name" of a licensed chemical firm, or "outside_city"; empty for a kept stay.
	ExcludedBy string
}

// findStays fills the temporary table track_stays from the staged points: the stays
// (sieve_track_stays), each with its place in the city's UTM zone and whether it overlaps the
// night, then marks those at excluded places or outside the city's outline.
func (s *Source) findStays(ctx context.Context, tx pgx.Tx, c city) error {
	// The ordered pass sorts every point: give the sort memory instead of temporary files; JIT
	// costs more than it saves on these statements.
	const setup = `SET LOCAL work_mem = '256MB'; SET LOCAL jit = off;
		DROP TABLE IF EXISTS pg_temp.track_stays;
		CREATE TEMP TABLE track_stays (plate text, started timestamptz, ended timestamptz, points int,
			lon float8, lat float8, m geometry, night boolean, excluded_by text) ON COMMIT DROP`
	if _, err := tx.Exec(ctx, setup); err != nil {
		return fmt.Errorf("tracks: stays: %w", err)
	}
	// Night: the stay overlaps 20:00-06:00 local time.
	const find = `INSERT INTO track_stays (plate, started, ended, points, lon, lat, m, night)
		SELECT v.plate, s.started, s.ended, s.points, s.lon, s.lat,
			ST_Transform(ST_SetSRID(ST_MakePoint(s.lon, s.lat), 4326), $3::int),
			s.ended - s.started >= interval '14 hours'
			OR extract(hour FROM s.started AT TIME ZONE $4) NOT BETWEEN 6 AND 19
			OR extract(hour FROM s.ended AT TIME ZONE $4) NOT BETWEEN 6 AND 19
			OR (s.started AT TIME ZONE $4)::date <> (s.ended AT TIME ZONE $4)::date
		FROM (SELECT x.vehicle, to_timestamp(x.started) AS started, to_timestamp(x.ended) AS ended, x.points, x.lon, x.lat
			FROM sieve_track_stays($1, $2) x) s
		JOIN track_vehicles v ON v.v = s.vehicle`
	if _, err := tx.Exec(ctx, find, s.cfg.StayRadiusM, int64(s.cfg.StayMin/time.Second), c.srid, s.cfg.Zone.String()); err != nil {
		return fmt.Errorf("tracks: stays: %w", err)
	}
	// The nearest exclusion within its radius, the city's list first, then the licensed
	// chemical premises the importer can see. The lists are small (hundreds of places) and
	// policed, so they are projected once and tried against each stay.
	const exclude = `WITH ex AS MATERIALIZED (
			SELECT e.kind || ':' || e.name AS what, ST_Transform(e.geom, $1::int) AS g, e.radius_m::float8 AS r, 0 AS pref
			FROM track_exclusions e WHERE e.active
			UNION ALL
			SELECT 'premise:' || p.name, ST_Transform(p.geom, $1::int), $2::float8, 1
			FROM premises p WHERE p.tags && $3::text[])
		UPDATE track_stays s SET excluded_by = (SELECT ex.what FROM ex WHERE ST_DWithin(ex.g, s.m, ex.r)
			ORDER BY ex.pref, ST_Distance(ex.g, s.m) LIMIT 1)`
	if _, err := tx.Exec(ctx, exclude, c.srid, s.cfg.ExcludeRadiusM, s.cfg.ExcludeTags); err != nil {
		return fmt.Errorf("tracks: exclusions: %w", err)
	}
	// The rows were checked against the city's extent; its outline decides for the stays.
	const outside = `UPDATE track_stays s SET excluded_by = 'outside_city'
		WHERE s.excluded_by IS NULL AND NOT EXISTS (SELECT 1 FROM region_shapes c
			WHERE c.level = 'city' AND ST_Intersects(c.geom, ST_SetSRID(ST_MakePoint(s.lon, s.lat), 4326)))`
	if _, err := tx.Exec(ctx, outside); err != nil {
		return fmt.Errorf("tracks: stays outside the city: %w", err)
	}
	return nil
}

// places clusters the kept stays across vehicles (DBSCAN, every stay a core point: places are
// the stays' connected groups at ClusterM), keys each group by its centroid's cell of the key
// grid (groups in one cell merge, so a key names one place), and returns those with at least
// MinStops stays, the most stopped-at first.
func (s *Source) places(ctx context.Context, tx pgx.Tx, c city) ([]Place, error) {
	const q = `WITH cl AS (
			SELECT s.plate, s.started, s.ended, s.night, s.m, ST_ClusterDBSCAN(s.m, $1, 1) OVER () AS cid
			FROM track_stays s WHERE s.excluded_by IS NULL),
		ctr AS (SELECT cid, ST_Centroid(ST_Collect(m)) AS g FROM cl GROUP BY cid),
		keyed AS (
			SELECT cl.*, floor(ST_X(ctr.g) / $2)::bigint AS kx, floor(ST_Y(ctr.g) / $2)::bigint AS ky
			FROM cl JOIN ctr USING (cid)),
		grp AS (
			SELECT kx, ky, ST_Centroid(ST_Collect(m)) AS g, ST_Collect(m) AS ms, count(*) AS stops,
				count(DISTINCT plate) AS vehicles, count(*) FILTER (WHERE night) AS nights,
				sum(extract(epoch FROM ended - started)) / 3600 AS hours,
				max(extract(epoch FROM ended - started)) / 3600 AS longest,
				min(started) AS first, max(ended) AS last, array_agg(DISTINCT plate ORDER BY plate) AS plates
			FROM keyed GROUP BY kx, ky HAVING count(*) >= $3)
		SELECT kx, ky, ST_X(ST_Transform(g, 4326)), ST_Y(ST_Transform(g, 4326)), stops, vehicles, nights,
			hours::float8, longest::float8, ST_MaxDistance(g, ms), first, last, plates[1:20]
		FROM grp ORDER BY stops DESC, vehicles DESC, kx, ky`
	rows, err := tx.Query(ctx, q, s.cfg.ClusterM, s.cfg.KeyGridM, s.cfg.MinStops)
	if err != nil {
		return nil, fmt.Errorf("tracks: places: %w", err)
	}
	defer rows.Close()
	var out []Place
	for rows.Next() {
		var p Place
		if err := rows.Scan(&p.KeyX, &p.KeyY, &p.Lon, &p.Lat, &p.Stops, &p.Vehicles, &p.Nights,
			&p.Hours, &p.LongestH, &p.RadiusM, &p.First, &p.Last, &p.Plates); err != nil {
			return nil, fmt.Errorf("tracks: places: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("tracks: places: %w", err)
	}
	return out, nil
}

// Stays lists the stays the last Import in tx found, kept and excluded, by vehicle and time.
func Stays(ctx context.Context, tx pgx.Tx) ([]Stay, error) {
	const q = `SELECT plate, started, ended, points, lon, lat, night, coalesce(excluded_by, '')
		FROM pg_temp.track_stays ORDER BY plate, started`
	rows, err := tx.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("tracks: stays: %w", err)
	}
	defer rows.Close()
	var out []Stay
	for rows.Next() {
		var s Stay
		if err := rows.Scan(&s.Plate, &s.Started, &s.Ended, &s.Points, &s.Lon, &s.Lat, &s.Night, &s.ExcludedBy); err != nil {
			return nil, fmt.Errorf("tracks: stays: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
