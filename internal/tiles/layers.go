package tiles

import "time"

// RoundTicks is how often the ETag of a layer showing the round in force changes without a
// write: a round starting or ending is on the map within that time.
const RoundTicks = time.Hour

// currentRound is the round the map shows: the latest started city-wide round in force, else
// the latest started round in force (rounds are read under the caller's policies).
const currentRound = `(SELECT r.id FROM rounds r WHERE r.starts_at <= now() AND r.ends_at > now()
	ORDER BY r.region_path IS NOT NULL, r.starts_at DESC LIMIT 1)`

// defaultLayers are Sieve's own layers. Every one reads its rows by id or cell_id from the
// cells or outline pieces of the tile, so row-level security scopes it without giving up the
// spatial index.
func defaultLayers() []Layer {
	return []Layer{
		{
			// Township and village outlines (乡镇、村界), subdivided: townships from zoom 0,
			// villages from zoom 10.
			Name: "regions", MinZoom: 0, States: []string{"tiles_regions_state"},
			Rows: func(a Area) string {
				return `SELECT r.id, r.level, r.code, r.name, ` + a.Geom("p.geom") + ` AS geom
	FROM region_pieces p JOIN regions r ON r.id = p.region_id
	WHERE ST_Intersects(p.geom, ` + a.Bounds + `)
	  AND (p.level = 'township' OR (p.level = 'village' AND ` + a.Zoom + ` >= 10))`
			},
		},
		{
			// Grid cells (网格) with the coverage of the current round, from zoom 9.
			Name: "cells", MinZoom: 9, States: []string{"tiles_regions_state"}, CellState: "cells", Ticks: RoundTicks,
			Rows: func(a Area) string {
				// Names and codes from zoom 12 only: a whole-city tile stays small.
				return `SELECT c.id, CASE WHEN ` + a.Zoom + ` >= 12 THEN c.code END AS code,
		CASE WHEN ` + a.Zoom + ` >= 12 THEN c.name END AS name, coalesce(cc.premises, 0) AS premises, coalesce(cc.verified, 0) AS verified,
		coalesce(cc.flagged, 0) AS flagged, coalesce(cc.never_visited, 0) AS never_visited, coalesce(cc.due_again, 0) AS due_again,
		CASE WHEN coalesce(cc.premises, 0) > 0 THEN round((cc.verified::numeric / cc.premises), 4)::float8 ELSE 0 END AS share_verified,
		round(coalesce(d.share, 0)::numeric, 4)::float8 AS drone_share,
		to_char(cc.last_inspection AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD') AS last_day,
		` + a.Geom("c.geom") + ` AS geom
	FROM regions c
	LEFT JOIN coverage_cells cc ON cc.cell_id = c.id AND cc.round_id = ` + currentRound + `
	LEFT JOIN coverage_drone d ON d.cell_id = c.id
	WHERE c.id IN ` + a.Cells
			},
		},
		{
			// Premises (场所) from zoom 14, with their state in the current round: verified,
			// flagged, visited (not yet verified), due (inspected in an earlier round only),
			// never.
			Name: "premises", MinZoom: 14, States: []string{"tiles_regions_state"}, CellState: "premises", Ticks: RoundTicks,
			Rows: func(a Area) string {
				return `SELECT p.id, p.kind, p.name, p.cell_id,
		CASE WHEN st.counted THEN 'verified' WHEN st.flagged THEN 'flagged' WHEN st.visited THEN 'visited'
		     WHEN st.seen THEN 'due' ELSE 'never' END AS status,
		` + a.Geom("p.geom") + ` AS geom
	FROM premises p
	CROSS JOIN LATERAL (
		SELECT coalesce(bool_or(i.round_id = cr.id AND sieve_inspection_counts(i.evidence)), false) AS counted,
		       coalesce(bool_or(i.round_id = cr.id AND sieve_inspection_flagged(i.evidence)), false) AS flagged,
		       coalesce(bool_or(i.round_id = cr.id), false) AS visited,
		       count(i.id) > 0 AS seen
		FROM (SELECT ` + currentRound + ` AS id) cr LEFT JOIN inspections i ON i.premise_id = p.id) st
	WHERE p.cell_id IN ` + a.Cells + ` AND ST_Intersects(p.geom, ` + a.Bounds + `)`
			},
		},
		{
			// Drone image footprints (航拍影像覆盖范围), from zoom 12.
			Name: "footprints", MinZoom: 12, States: []string{"tiles_regions_state"}, CellState: "footprints",
			Rows: func(a Area) string {
				return `SELECT m.id, m.survey_id, to_char(m.taken_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI') AS taken_at,
		` + a.Geom("m.footprint") + ` AS geom
	FROM media m
	WHERE m.id IN (SELECT mc.media_id FROM media_cells mc WHERE mc.cell_id IN ` + a.Cells + `)
	  AND m.footprint IS NOT NULL AND ST_Intersects(m.footprint, ` + a.Bounds + `)`
			},
		},
	}
}
