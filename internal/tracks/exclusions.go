package tracks

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sieve-city/sieve/gis"
	"github.com/sieve-city/sieve/internal/apperr"
)

// ExclusionKind is what sort of place an exclusion is.
type ExclusionKind string

// The kinds of excluded places.
const (
	ChemicalSite ExclusionKind = "chemical_site" // 危化品企业: a licensed chemical firm
	Depot        ExclusionKind = "depot"         // 停车场/车队: a carrier's depot or yard
	ServiceArea  ExclusionKind = "service_area"  // 服务区: a motorway service area
	FuelStation  ExclusionKind = "fuel_station"  // 加油站
	OtherPlace   ExclusionKind = "other"         // 其他
)

var exclusionKinds = []ExclusionKind{ChemicalSite, Depot, ServiceArea, FuelStation, OtherPlace}

// Exclusion is a place on the city's list (track_exclusions) where stays are not leads.
type Exclusion struct {
	ID   int64         `json:"id"`
	Kind ExclusionKind `json:"kind"`
	Name string        `json:"name"`
	// Lon, Lat: the place (a point on an outline's surface for an outline).
	Lon       float64   `json:"lon"`
	Lat       float64   `json:"lat"`
	RadiusM   float64   `json:"radiusM"`
	Note      string    `json:"note"`
	Active    bool      `json:"active"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// ExclusionPatch changes a place of the list; absent fields stay. Active false takes the place
// off the list (it stays, with its history, and can be put back).
type ExclusionPatch struct {
	Kind    *ExclusionKind `json:"kind"`
	Name    *string        `json:"name"`
	RadiusM *float64       `json:"radiusM"`
	Note    *string        `json:"note"`
	Active  *bool          `json:"active"`
}

// NewExclusion is a place to add to the list; crs gcj02 takes a position from a phone map.
type NewExclusion struct {
	Kind    ExclusionKind `json:"kind"`
	Name    string        `json:"name"`
	Lon     *float64      `json:"lon"`
	Lat     *float64      `json:"lat"`
	RadiusM *float64      `json:"radiusM"`
	Note    string        `json:"note"`
	CRS     string        `json:"crs"`
}

// Exclusions is the store of the exclusion list.
type Exclusions struct{}

const exclusionCols = `id, kind, name, ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)), radius_m::float8,
	note, active, created_at, updated_at`

func scanExclusion(row pgx.Row) (Exclusion, error) {
	var e Exclusion
	err := row.Scan(&e.ID, &e.Kind, &e.Name, &e.Lon, &e.Lat, &e.RadiusM, &e.Note, &e.Active, &e.CreatedAt, &e.UpdatedAt)
	return e, err
}

// List returns the whole list (everyone logged in reads it), by kind and name.
func (Exclusions) List(ctx context.Context, tx pgx.Tx) ([]Exclusion, error) {
	const q = `SELECT ` + exclusionCols + ` FROM track_exclusions ORDER BY kind, name, id`
	rows, err := tx.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("tracks: exclusions: %w", err)
	}
	defer rows.Close()
	out := []Exclusion{}
	for rows.Next() {
		e, err := scanExclusion(rows)
		if err != nil {
			return nil, fmt.Errorf("tracks: exclusions: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// errOutsideScope: the city office adds places anywhere, a township's coordinator in the township.
var errOutsideScope = apperr.Invalidf("outside_scope", "该位置不在您负责的区域内", "the location is outside your area")

func invalid(code, zh, format string, a ...any) error { return apperr.Invalidf(code, zh, format, a...) }

// Add puts a place on the list, where the caller may write (the city office anywhere, a
// township's coordinator in the township: 422 outside_scope elsewhere, as for sites).
func (Exclusions) Add(ctx context.Context, tx pgx.Tx, n NewExclusion, by int64) (Exclusion, error) {
	var e Exclusion
	n.Name = strings.TrimSpace(n.Name)
	switch {
	case !slices.Contains(exclusionKinds, n.Kind):
		return e, invalid("invalid_kind", "排除地点类型应为 chemical_site、depot、service_area、fuel_station 或 other", "kind must be one of chemical_site, depot, service_area, fuel_station, other")
	case n.Name == "" || len([]rune(n.Name)) > 200:
		return e, invalid("invalid_name", "名称应为 1–200 个字", "name must have 1 to 200 characters")
	case n.Lon == nil || n.Lat == nil || math.IsNaN(*n.Lon) || math.IsNaN(*n.Lat):
		return e, invalid("invalid_position", "请提供位置（经度、纬度）", "lon and lat are required")
	case n.RadiusM != nil && !(*n.RadiusM >= 0 && *n.RadiusM <= 5000):
		return e, invalid("invalid_radius", "半径应在 0–5000 米之间", "radiusM must be between 0 and 5000")
	case len([]rune(n.Note)) > 500:
		return e, invalid("invalid_note", "备注最多 500 字", "note must have at most 500 characters")
	}
	crs, err := gis.ParseCRS(n.CRS)
	if err != nil {
		return e, invalid("unsupported_crs", "不支持的坐标系（wgs84、cgcs2000 或 gcj02）", "%v", err)
	}
	lon, lat := *n.Lon, *n.Lat
	if crs == gis.GCJ02 {
		lon, lat = gis.GCJ02ToWGS84(lon, lat)
	}
	radius := 200.0
	if n.RadiusM != nil {
		radius = *n.RadiusM
	}
	var inside, mine bool
	const where = `SELECT l.path IS NOT NULL, coalesce(sieve_in_scope(l.path), false)
		FROM sieve_locate(ST_SetSRID(ST_MakePoint($1, $2), 4326)) l`
	if err := tx.QueryRow(ctx, where, lon, lat).Scan(&inside, &mine); err != nil {
		return e, fmt.Errorf("tracks: exclusion place: %w", err)
	}
	if !inside {
		return e, invalid("outside_city", "该位置不在本市范围内", "the place lies outside every region")
	}
	if !mine {
		return e, errOutsideScope
	}
	const q = `INSERT INTO track_exclusions (kind, name, geom, radius_m, note, created_by)
		VALUES ($1, $2, ST_SetSRID(ST_MakePoint($3, $4), 4326), $5, $6, nullif($7, 0))
		RETURNING ` + exclusionCols
	e, err = scanExclusion(tx.QueryRow(ctx, q, n.Kind, n.Name, lon, lat, radius, n.Note, by))
	if err != nil {
		return e, fmt.Errorf("tracks: add exclusion: %w", err)
	}
	return e, nil
}

// Update changes a place of the list; one outside the caller's area is not found.
func (Exclusions) Update(ctx context.Context, tx pgx.Tx, id int64, p ExclusionPatch) (Exclusion, error) {
	if p.Name != nil {
		*p.Name = strings.TrimSpace(*p.Name)
	}
	switch {
	case p.Kind != nil && !slices.Contains(exclusionKinds, *p.Kind):
		return Exclusion{}, invalid("invalid_kind", "排除地点类型应为 chemical_site、depot、service_area、fuel_station 或 other", "kind must be one of chemical_site, depot, service_area, fuel_station, other")
	case p.Name != nil && (*p.Name == "" || len([]rune(*p.Name)) > 200):
		return Exclusion{}, invalid("invalid_name", "名称应为 1–200 个字", "name must have 1 to 200 characters")
	case p.RadiusM != nil && !(*p.RadiusM >= 0 && *p.RadiusM <= 5000):
		return Exclusion{}, invalid("invalid_radius", "半径应在 0–5000 米之间", "radiusM must be between 0 and 5000")
	case p.Note != nil && len([]rune(*p.Note)) > 500:
		return Exclusion{}, invalid("invalid_note", "备注最多 500 字", "note must have at most 500 characters")
	}
	const q = `UPDATE track_exclusions SET kind = coalesce($2, kind), name = coalesce($3, name),
			radius_m = coalesce($4, radius_m), note = coalesce($5, note), active = coalesce($6, active), updated_at = now()
		WHERE id = $1 AND sieve_in_scope(region_path)
		RETURNING ` + exclusionCols
	e, err := scanExclusion(tx.QueryRow(ctx, q, id, p.Kind, p.Name, p.RadiusM, p.Note, p.Active))
	if errors.Is(err, pgx.ErrNoRows) {
		return e, fmt.Errorf("tracks: exclusion %d: %w", id, apperr.ErrNotFound)
	}
	if err != nil {
		return e, fmt.Errorf("tracks: update exclusion: %w", err)
	}
	return e, nil
}
