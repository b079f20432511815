// Package regions is the tree of polygons the campaign is organised by (区域): city → township
// or street (乡镇/街道) → administrative village or community (行政村/社区) → grid cell (网格).
// It imports boundary files (GeoJSON, bare arrays of features, zipped ESRI Shapefiles; WGS-84,
// CGCS2000 or GCJ-02) with per-feature validation and repair, generates grid cells by clipping
// a square or hexagon lattice to a boundary, and reads the tree with areas and counts.
//
// Store methods take the caller's transaction (db.InScope): row-level security decides which
// regions a caller sees (their area and the regions above it) and may change (their area).
package regions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sieve-city/sieve/gis"
	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/db"
)

// Level is a region's place in the tree.
type Level string

// The levels, from the top.
const (
	City     Level = "city"     // 市
	Township Level = "township" // 乡镇/街道
	Village  Level = "village"  // 行政村/社区
	Cell     Level = "cell"     // 网格
)

var levelRank = map[Level]int{City: 0, Township: 1, Village: 2, Cell: 3}

// ParseLevel checks a level name (English, or 市/乡镇/街道/村/社区/网格).
func ParseLevel(s string) (Level, error) {
	switch s {
	case "city", "市", "县", "县级市":
		return City, nil
	case "township", "乡镇", "乡", "镇", "街道":
		return Township, nil
	case "village", "村", "行政村", "社区", "居委会":
		return Village, nil
	case "cell", "网格":
		return Cell, nil
	}
	return "", fmt.Errorf("unknown level %q (city, township, village, cell)", s)
}

// Region is one node of the tree, with what the caller can see below it.
type Region struct {
	ID        int64    `json:"id"`
	ParentID  *int64   `json:"parentId"`
	Level     Level    `json:"level"`
	Code      string   `json:"code"`
	Name      string   `json:"name"`
	Kind      string   `json:"kind"` // 镇, 乡, 街道, 村, 社区, 网格 ...
	AreaKm2   float64  `json:"areaKm2"`
	Children  int64    `json:"children"`  // direct children
	Cells     int64    `json:"cells"`     // grid cells at or below this region
	Premises  int64    `json:"premises"`  // premises in its grid cells
	WorkerIDs []int64  `json:"workerIds"` // grid workers assigned (cells only)
	GridShape *string  `json:"gridShape,omitempty"`
	GridSizeM *float64 `json:"gridSizeM,omitempty"`
	// Geometry is the boundary as an RFC 7946 GeoJSON geometry (null when not loaded).
	Geometry  json.RawMessage `json:"-"`
	Path      string          `json:"-"`
	CreatedAt time.Time       `json:"createdAt"`
	UpdatedAt time.Time       `json:"updatedAt"`
}

// Store reads and writes regions. OGR2OGR is the path of GDAL's ogr2ogr, used to read
// shapefiles ("ogr2ogr" on the PATH when empty).
type Store struct {
	OGR2OGR string
	// Shapefile bounds shapefile imports (shapefile.go; zero: the defaults).
	Shapefile ShapefileLimits
	// Placers re-place what lives in grid cells whenever cells change (see Placer).
	Placers []Placer
}

// NewStore returns a Store whose cell changes re-place the rows of placers, in that order.
func NewStore(placers ...Placer) *Store { return &Store{OGR2OGR: "ogr2ogr", Placers: placers} }

// Placer owns rows that live in grid cells (premises, media; later sites, leads, tips) and
// places them again when cells change. It is the one answer to "the cells of a region changed":
// after GenerateCells and Import, the Store calls every placer it was given (cmd/sieve wires
// the list) for the region whose cells changed, inside the same transaction, so the packages
// that keep rows in cells never need regions to know them.
type Placer interface {
	// Name is the placer's key in the reports' placed counts ("premises", "media" ...).
	Name() string
	// PlaceIn places again, set-wise (one bulk change, db.Bulk), every row of the placer's
	// inside region regionID or placed under it, and returns how many rows' places changed.
	// It runs in the caller's transaction after the caller was allowed to change the region.
	PlaceIn(ctx context.Context, q db.Querier, regionID int64) (int64, error)
}

// placeIn runs every placer for region id, adding their counts to placed.
func (s *Store) placeIn(ctx context.Context, q db.Querier, id int64, placed map[string]int64) error {
	for _, p := range s.Placers {
		n, err := p.PlaceIn(ctx, q, id)
		if err != nil {
			return fmt.Errorf("regions: place %s in %d: %w", p.Name(), id, err)
		}
		placed[p.Name()] += n
	}
	return nil
}

// premisesPlacer is the name of the placer whose count is also reported as premisesMoved.
const premisesPlacer = "premises"

// regionCols are the columns scan reads; $1 says whether to load the boundary. Premises are
// counted through their cell ids: under row-level security a btree lookup on cell_id can use
// its index (int8 equality is leakproof), a path comparison cannot.
var regionCols = regionColumns("")

// workerRegionCols are regionCols for a grid worker's list, whose visible cells are among the
// region ids $8 (List): the cells below each region are looked up by those ids instead of
// comparing the path of every region of the city under the policy.
var workerRegionCols = regionColumns("k.id = ANY ($8) AND ")

// regionColumns writes the columns with cells (a condition on the cells k, ending in AND)
// narrowing the cells counted.
func regionColumns(cells string) string {
	return `r.id, r.parent_id, r.level, r.code, r.name, r.kind,
	coalesce(` + gis.AreaKm2("r.geom") + `, 0),
	(SELECT count(*) FROM regions k WHERE k.parent_id = r.id),
	(SELECT count(*) FROM regions k WHERE ` + cells + `k.path <@ r.path AND k.level = 'cell'),
	(SELECT count(*) FROM premises p
		WHERE p.cell_id = ANY (ARRAY(SELECT k.id FROM regions k WHERE ` + cells + `k.path <@ r.path AND k.level = 'cell'))),
	coalesce((SELECT array_agg(a.user_id ORDER BY a.user_id) FROM cell_assignments a WHERE a.cell_id = r.id), '{}'),
	r.grid_shape, r.grid_size_m, r.path::text, r.created_at, r.updated_at,
	CASE WHEN $1::bool AND r.geom IS NOT NULL THEN ` + gis.AsGeoJSON("r.geom") + ` END`
}

func scan(row pgx.Row) (Region, error) {
	var r Region
	var g *string
	err := row.Scan(&r.ID, &r.ParentID, &r.Level, &r.Code, &r.Name, &r.Kind, &r.AreaKm2, &r.Children, &r.Cells,
		&r.Premises, &r.WorkerIDs, &r.GridShape, &r.GridSizeM, &r.Path, &r.CreatedAt, &r.UpdatedAt, &g)
	if g != nil {
		r.Geometry = json.RawMessage(*g)
	}
	return r, err
}

// Get returns region id if the caller may see it; withGeom loads its boundary.
func (s *Store) Get(ctx context.Context, q db.Querier, id int64, withGeom bool) (Region, error) {
	sql := `SELECT ` + regionCols + ` FROM regions r WHERE r.id = $2`
	r, err := scan(q.QueryRow(ctx, sql, withGeom, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Region{}, fmt.Errorf("regions: region %d: %w", id, apperr.ErrNotFound)
	}
	if err != nil {
		return Region{}, fmt.Errorf("regions: get %d: %w", id, err)
	}
	return r, nil
}

// Filter narrows a listing. Zero values do not filter.
type Filter struct {
	ParentID int64
	Within   int64 // anywhere below this region
	Level    Level
	Query    string // part of the name, or the start of the code
	WithGeom bool
	After    int64
	Limit    int
}

// List returns the regions the caller may see that match f, by id.
//
// A grid worker sees their cells and the regions above them (the policy: inside the scope, or
// above it), and those are exactly the labels of their scope paths (paths of region ids). List
// reads a worker's regions by those ids (bigint equality, which row-level security lets use the
// primary key) instead of walking every region of the city in id order with the policy
// refusing nearly all (0.3-0.9 s for an unfiltered page before); the filter still applies.
func (s *Store) List(ctx context.Context, q db.Querier, f Filter) ([]Region, error) {
	const workerRegions = `SELECT CASE WHEN sieve_role() = 'grid_worker' AND NOT sieve_system()
		THEN coalesce(array_agg(DISTINCT ltree2text(subpath(sc, i, 1))::bigint), '{}') END
		FROM unnest(sieve_scope()) AS sc, generate_series(0, nlevel(sc) - 1) AS i`
	var ids []int64
	if err := q.QueryRow(ctx, workerRegions).Scan(&ids); err != nil {
		return nil, fmt.Errorf("regions: list: %w", err)
	}
	const match = `r.id > $2
		  AND ($3 = 0 OR r.parent_id = $3)
		  AND ($4 = 0 OR (r.path <@ (SELECT path FROM regions WHERE id = $4) AND r.id <> $4))
		  AND ($5 = '' OR r.level = $5)
		  AND ($6 = '' OR strpos(r.name, $6) > 0 OR starts_with(r.code, $6))`
	// $8 (a worker's regions) is NULL in the first; both statements take the same arguments.
	sql := `SELECT ` + regionCols + ` FROM regions r WHERE ` + match + ` AND $8::bigint[] IS NULL ORDER BY r.id LIMIT $7`
	if ids != nil {
		sql = `SELECT ` + workerRegionCols + ` FROM regions r WHERE r.id = ANY ($8) AND ` + match + ` ORDER BY r.id LIMIT $7`
	}
	rows, err := q.Query(ctx, sql, f.WithGeom, f.After, f.ParentID, f.Within, string(f.Level), f.Query, f.Limit, ids)
	if err != nil {
		return nil, fmt.Errorf("regions: list: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Region, error) { return scan(r) })
	if err != nil {
		return nil, fmt.Errorf("regions: scan: %w", err)
	}
	return out, nil
}

// writable returns region id's path and level if the caller may change things in it; a region
// the caller can only see from below (an ancestor of their area) counts as not found.
func writable(ctx context.Context, q db.Querier, id int64) (path string, level Level, hasGeom bool, err error) {
	const sql = `SELECT path::text, level, geom IS NOT NULL AND NOT ST_IsEmpty(geom) FROM regions
		WHERE id = $1 AND sieve_in_scope(path)`
	err = q.QueryRow(ctx, sql, id).Scan(&path, &level, &hasGeom)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", false, fmt.Errorf("regions: region %d: %w", id, apperr.ErrNotFound)
	}
	return path, level, hasGeom, err
}
