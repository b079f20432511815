package sites

import (
	"time"

	"github.com/sieve-city/sieve/internal/tiles"
)

// OverdueTicks is how often the sites layer's ETag changes without a write, so that an action
// passing its deadline shows as overdue on the map within that time (the site's own page,
// GET /sites/{id}, is always current).
const OverdueTicks = 10 * time.Minute

// TileLayer is the sites layer of the map (疑似点图层), plugged into the map's tiles.Registry
// (api.New adds it): one feature per site in the tile's cells, its outline polygon from zoom 14
// when it has one and its point otherwise, with the status, the situation classes
// (comma-separated), the firm's name, the last disposal action (its action, department and
// deadline) and whether an action is overdue. Its change state is per cell (tile_zone_states
// "sites", touched by the statement triggers on sites and site_actions, migrations 0033, 0039), so an
// edit of a site in one township leaves the other townships' tiles as they were. Rows are read
// under the caller's policies through the tile's cells (the cells-first pattern), so another
// township's tile is empty.
var TileLayer = tiles.Layer{
	Name: "sites", MinZoom: 9, States: []string{"tiles_regions_state"}, CellState: "sites", Ticks: OverdueTicks,
	Rows: func(a tiles.Area) string {
		return `SELECT s.id, s.status, array_to_string(s.classes, ',') AS classes, s.firm_name AS name,
		s.outline IS NOT NULL AS has_outline, la.action AS last_action, la.department AS last_department,
		to_char(la.deadline AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD') AS last_deadline,
		EXISTS (SELECT 1 FROM site_actions o WHERE o.site_id = s.id AND o.done_at IS NULL AND o.deadline < now()) AS overdue,
		` + a.Geom(`CASE WHEN s.outline IS NOT NULL AND `+a.Zoom+` >= 14 THEN s.outline ELSE s.point END`) + ` AS geom
	FROM sites s
	LEFT JOIN LATERAL (SELECT x.action, x.department, x.deadline FROM site_actions x WHERE x.site_id = s.id
	                   ORDER BY x.created_at DESC, x.id DESC LIMIT 1) la ON true
	WHERE s.cell_id IN ` + a.Cells + ` AND ST_Intersects(coalesce(s.outline, s.point), ` + a.Bounds + `)`
	},
}
