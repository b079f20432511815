// Package tiles builds the coordinators' map layers (地图图层) as Mapbox vector tiles and as
// GeoJSON, in PostGIS, through gis's tile builders (gis.TileEnvelope, TileBoundsWGS84,
// AsMVTGeom, AsMVT), scoped by the caller's area: each layer finds the grid cells of the tile
// first (sieve_cells_in over region_shapes, whose index works under row-level security) or the
// pieces of outlines (region_pieces), then reads its rows by id or cell_id under the caller's
// policies, so a tile of another township is empty.
//
// A Registry holds the layers: regions, cells (with coverage properties), premises (from zoom
// 14) and footprints, and any a later domain adds (Registry.Add: the sites layer with its own
// change-state sequence). A tile's change state makes its ETag: the layer's own per-cell state
// summed over the zones under the tile (tile_zone_states, migrations 0033 and 0039, touched by
// the writes' statement triggers), so an edit in one township leaves the tiles elsewhere as they
// were, plus the last values of the layer's global sequences (migration 0023) and, for layers
// that read the clock, the current period.
package tiles

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sieve-city/sieve/gis"
	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/db"
)

// MaxFeatures is the most features one tile or GeoJSON answer of a layer holds.
const MaxFeatures = 5000

// MaxZoom is the deepest zoom served.
const MaxZoom = 22

// ErrNoLayer is a layer name the registry does not hold.
var ErrNoLayer = apperr.ErrNotFound

// Area is where a layer's rows are looked for, as SQL expressions the layer embeds.
type Area struct {
	// Bounds is the box in WGS-84 (SRID 4326), for spatial indexes of 4326 columns.
	Bounds string
	// Cells is a subquery of the ids of the grid cells meeting Bounds (sieve_cells_in), for
	// "cell_id IN (...)" on tables under row-level security.
	Cells string
	// Geom turns a WGS-84 geometry expression into what the answer holds: tile coordinates
	// (gis.AsMVTGeom) for a tile, GeoJSON text (gis.AsGeoJSON) for GeoJSON.
	Geom func(expr string) string
	// Zoom is the tile's zoom (for GeoJSON the deepest, so every layer answers).
	Zoom string
}

// Layer is one map layer.
type Layer struct {
	// Name is the layer's name in URLs and in the tile (lower case, digits, underscores).
	Name string
	// MinZoom is the first zoom with features (tiles above it are empty).
	MinZoom int
	// States are the sequences whose last values are part of every tile's change state (ETag):
	// what changes the whole layer (tiles_regions_state: the tree of regions).
	States []string
	// CellState is the layer's name in tile_zone_states (migration 0039): the tile's change
	// state also holds the sum and count of the states of the cells in its zones. Empty: the
	// layer has no per-cell state and only States count.
	CellState string
	// Ticks is set for a layer whose rows depend on the clock (the round in force, deadlines
	// passing): the ETag also changes every Ticks. Zero: the rows depend on writes only.
	Ticks time.Duration
	// Rows returns a SELECT of the layer's rows in area: an id column, a geom column (built
	// with area.Geom) and the properties; at most MaxFeatures are kept.
	Rows func(area Area) string
}

// Registry holds the layers by name.
type Registry struct {
	layers map[string]Layer
	sql    map[string][2]string // per layer: StateSQL, TileSQL (built once, in Add)
	// Now is the clock of the layers' Ticks (time.Now; a test sets a fixed one).
	Now func() time.Time
}

var layerName = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// NewRegistry returns the registry with Sieve's layers: regions, cells, premises, footprints.
func NewRegistry() *Registry {
	r := &Registry{layers: map[string]Layer{}, sql: map[string][2]string{}, Now: time.Now}
	for _, l := range defaultLayers() {
		r.Add(l)
	}
	return r
}

// Add adds or replaces a layer (the sites domain adds "sites" when it is wired). It panics on
// a bad name or state sequence name: layers are written by the programmer.
func (r *Registry) Add(l Layer) {
	if !layerName.MatchString(l.Name) || l.Rows == nil {
		panic(fmt.Sprintf("tiles: bad layer %q", l.Name))
	}
	for _, s := range append(append([]string(nil), l.States...), l.CellState) {
		if s != "" && !layerName.MatchString(s) {
			panic(fmt.Sprintf("tiles: bad state %q of layer %q", s, l.Name))
		}
	}
	r.layers[l.Name] = l
	r.sql[l.Name] = [2]string{StateSQL(l), TileSQL(l)}
}

// Names lists the layers.
func (r *Registry) Names() []string {
	out := make([]string, 0, len(r.layers))
	for n := range r.layers {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Layer returns a layer by name, or ErrNoLayer.
func (r *Registry) Layer(name string) (Layer, error) {
	l, ok := r.layers[name]
	if !ok {
		return Layer{}, ErrNoLayer
	}
	return l, nil
}

// ValidTile reports whether z/x/y names a tile.
func ValidTile(z, x, y int) bool {
	if z < 0 || z > MaxZoom || x < 0 || y < 0 {
		return false
	}
	n := 1 << z
	return x < n && y < n
}

// StateSQL is the query of the change state of one tile of layer l: parameters $1 and $2, the
// tile's range of zones (Zones); one text row. It reads no policed table (sequences and
// tile_zone_states, whose read policy is true), so it needs no scoped transaction. The layer's
// per-cell states (with the bumps of touches that found a row held) are read by one range scan
// of tile_zone_states' key (migration 0039): every
// cell has a row in each zoom-14 zone its bounding box meets, so the rows of the tile's zones
// are a superset of the cells the tile reads (an edit in a cell beside the tile revalidates it
// for nothing, never the reverse). The range scan is ~11 µs of server time at zoom 14; the
// GiST lookup of the cells and a probe per cell it replaced were ~60.
func StateSQL(l Layer) string {
	parts := []string{"'" + l.Name + "'"}
	for _, s := range l.States {
		parts = append(parts, "(SELECT last_value FROM "+pgx.Identifier{s}.Sanitize()+")::text")
	}
	if l.CellState != "" {
		parts = append(parts, `(SELECT coalesce(sum(s.state), 0)::text || '-' || count(*) FROM tile_zone_states s
	WHERE s.layer = '`+l.CellState+`' AND s.zone >= $1::int8 AND s.zone < $2::int8)`)
	} else {
		// The parameters are typed even when no part uses them.
		parts = append(parts, "left($1::int8::text || $2::int8::text, 0)")
	}
	return "SELECT concat_ws('.', " + strings.Join(parts, ", ") + ")"
}

// State returns the change state of tile z/x/y of a layer: the last values of the layer's
// sequences, the sum and count of its cells' states, and the clock's period for a layer with
// Ticks. Two tiles of different areas have different states; an edit in one area changes the
// state of the tiles meeting it only.
func (r *Registry) State(ctx context.Context, q db.Querier, name string, z, x, y int) (string, error) {
	var out string
	l, err := r.stateRead(name, z, x, y, &out)
	if err != nil || l == nil {
		return out, err
	}
	return out, l.Scan(q.QueryRow(ctx, l.SQL, l.Args...))
}

// StateLead is the read of tile z/x/y's change state (State) as a db.ReadBatch lead: the API
// reads a fresh tile (QueueTile) and its state with one statement fewer than a read of its own.
// *out holds the state once the batch has run; nil: there is nothing to read, *out holds it
// already (a tile above the layer's first zoom).
func (r *Registry) StateLead(name string, z, x, y int, out *string) (*db.Lead, error) {
	return r.stateRead(name, z, x, y, out)
}

// stateRead is the query of tile z/x/y's change state, its arguments (the tile's zones) and
// the scan into *out; nil when the state is known without a read (*out set).
func (r *Registry) stateRead(name string, z, x, y int, out *string) (*db.Lead, error) {
	l, err := r.Layer(name)
	if err != nil {
		return nil, err
	}
	if !ValidTile(z, x, y) {
		return nil, apperr.ErrNotFound
	}
	if z < l.MinZoom {
		// Above the layer's first zoom a tile is always empty: its state never changes, and
		// reading it would sum the zones of half a province for a 204.
		*out = name + ".empty"
		return nil, nil
	}
	// The clock's period as of before the tile is read (a tile read just after a period ends
	// keeps the old period's tag, never shows old rows under a new one).
	var period string
	if l.Ticks > 0 {
		period = "." + strconv.FormatInt(r.Now().UnixNano()/int64(l.Ticks), 10)
	}
	lo, hi := Zones(z, x, y)
	return &db.Lead{SQL: r.sql[name][0], Args: []any{lo, hi}, Scan: func(row pgx.Row) error {
		if err := row.Scan(out); err != nil {
			return fmt.Errorf("tiles: state of %s %d/%d/%d: %w", name, z, x, y, err)
		}
		*out += period
		return nil
	}}, nil
}

// TileSQL is the query of one tile of layer l: parameters $1 z, $2 x, $3 y; one bytea row
// (empty when nothing is in the tile).
func TileSQL(l Layer) string {
	env := "tile.env"
	area := Area{
		Bounds: "tile.bounds",
		Cells:  "(SELECT k FROM sieve_cells_in(NULL, tile.bounds) k)",
		Geom:   func(expr string) string { return gis.AsMVTGeom(expr, env, gis.DefaultMVT) },
		Zoom:   "$1::int",
	}
	return `WITH tile AS (SELECT e AS env, ` + gis.TileBoundsWGS84("e") + ` AS bounds FROM (SELECT ` + gis.TileEnvelope(1, 2, 3) + ` AS e) t)
SELECT coalesce((SELECT ` + gis.AsMVT("mvt", l.Name, gis.DefaultMVT.Extent, "geom", "id") + ` FROM (
	SELECT * FROM (` + l.Rows(area) + `) r WHERE r.geom IS NOT NULL LIMIT ` + strconv.Itoa(MaxFeatures) + `) mvt), ''::bytea)
FROM tile`
}

// QueueTile queues in b the query of tile z/x/y of a layer, to be run scoped to the caller
// (db.ReadBatch); *out holds the tile once b has run (empty: nothing there for the caller). Above the layer's MinZoom it queues nothing (the tile is
// empty).
func (r *Registry) QueueTile(b *pgx.Batch, name string, z, x, y int, out *[]byte) error {
	l, err := r.Layer(name)
	if err != nil {
		return err
	}
	if !ValidTile(z, x, y) {
		return apperr.ErrNotFound
	}
	if z < l.MinZoom {
		return nil
	}
	b.Queue(r.sql[name][1], z, x, y).QueryRow(func(row pgx.Row) error {
		if err := row.Scan(out); err != nil {
			return fmt.Errorf("tiles: %s %d/%d/%d: %w", name, z, x, y, err)
		}
		return nil
	})
	return nil
}

// GeoJSONSQL is the query of a layer's features in a box as one GeoJSON FeatureCollection:
// parameters $1..$4 min lon, min lat, max lon, max lat.
func GeoJSONSQL(l Layer) string {
	area := Area{
		Bounds: "box.bounds",
		Cells:  "(SELECT k FROM sieve_cells_in(NULL, box.bounds) k)",
		Geom:   gis.AsGeoJSON,
		Zoom:   strconv.Itoa(MaxZoom),
	}
	return `WITH box AS (SELECT ST_MakeEnvelope($1::float8, $2::float8, $3::float8, $4::float8, 4326) AS bounds)
SELECT (SELECT json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg(json_build_object(
	'type', 'Feature', 'id', f.id, 'geometry', f.geom::json, 'properties', to_jsonb(f) - 'geom')), '[]'::json))::text
	FROM (SELECT * FROM (` + l.Rows(area) + `) r WHERE r.geom IS NOT NULL LIMIT ` + strconv.Itoa(MaxFeatures) + `) f)
FROM box`
}

// GeoJSON answers a layer's features in bbox (min lon, min lat, max lon, max lat) as a GeoJSON
// FeatureCollection, in the caller's transaction.
func (r *Registry) GeoJSON(ctx context.Context, tx pgx.Tx, name string, bbox [4]float64) ([]byte, error) {
	l, err := r.Layer(name)
	if err != nil {
		return nil, err
	}
	var out string
	err = tx.QueryRow(ctx, GeoJSONSQL(l), bbox[0], bbox[1], bbox[2], bbox[3]).Scan(&out)
	if errors.Is(err, pgx.ErrNoRows) {
		return []byte(`{"type":"FeatureCollection","features":[]}`), nil
	}
	if err != nil {
		return nil, fmt.Errorf("tiles: GeoJSON of %s: %w", name, err)
	}
	return []byte(out), nil
}
