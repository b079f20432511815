// Package premises is the premises register (场所台账): the households, enterprises, idle or
// abandoned factories and warehouses, abandoned farms and idle houses that grid workers visit.
// Premises are the denominator of coverage, so each one is a point placed in exactly one grid
// cell (网格) by its location — computed here, never typed — and placed again whenever the cells
// change (Store.PlaceIn, the register's placer for package regions).
//
// Store methods take the caller's transaction (db.InScope): row-level security on the premises
// table limits every read and write to the caller's area, keyed by the premise's region_path.
package premises

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sieve-city/sieve/gis"
	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/audit"
	"github.com/sieve-city/sieve/internal/db"
)

// Kind is what sort of place a premise is.
type Kind string

// The kinds of premises the seed names as places to sweep.
const (
	Household     Kind = "household"      // 住户
	Enterprise    Kind = "enterprise"     // 企业
	IdleFactory   Kind = "idle_factory"   // 闲置厂房
	IdleWarehouse Kind = "idle_warehouse" // 闲置仓库
	AbandonedFarm Kind = "abandoned_farm" // 废弃养殖场
	IdleHouse     Kind = "idle_house"     // 闲置房屋
	Other         Kind = "other"          // 其他
)

// kindNames maps every accepted spelling of a kind (English code or Chinese name) to the kind.
var kindNames = map[string]Kind{
	"household": Household, "住户": Household, "农户": Household, "居民户": Household,
	"enterprise": Enterprise, "企业": Enterprise, "单位": Enterprise,
	"idle_factory": IdleFactory, "闲置厂房": IdleFactory, "废弃厂房": IdleFactory,
	"idle_warehouse": IdleWarehouse, "闲置仓库": IdleWarehouse, "废弃仓库": IdleWarehouse,
	"abandoned_farm": AbandonedFarm, "废弃养殖场": AbandonedFarm, "闲置养殖场": AbandonedFarm,
	"idle_house": IdleHouse, "闲置房屋": IdleHouse, "空置房屋": IdleHouse,
	"other": Other, "其他": Other,
}

// ParseKind reads a kind by its code or Chinese name; empty means household.
func ParseKind(s string) (Kind, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Household, nil
	}
	if k, ok := kindNames[strings.ToLower(s)]; ok {
		return k, nil
	}
	return "", fmt.Errorf("unknown kind %q (household, enterprise, idle_factory, idle_warehouse, abandoned_farm, idle_house, other, or 住户/企业/闲置厂房/闲置仓库/废弃养殖场/闲置房屋/其他)", s)
}

// Well-known tags. Tags are free text; these are the ones the campaign reports on.
const (
	TagUrbanRuralFringe = "urban_rural_fringe" // 城乡结合部
	TagWorkshopArea     = "workshop_area"      // 传统作坊区
	TagExitedHazchem    = "exited_hazchem"     // 已退出危险化学品生产的企业 (附件1)
)

// Source says how a premise entered the register.
const (
	SourceRegister = "register" // imported or entered by the office
	SourceField    = "field"    // found in the field and added by a grid worker
)

// Premise is one place in the register.
type Premise struct {
	ID           int64     `json:"id"`
	Kind         Kind      `json:"kind"`
	Name         string    `json:"name"`
	Address      string    `json:"address"`
	ContactName  string    `json:"contactName"`
	ContactPhone string    `json:"contactPhone"`
	CreditCode   string    `json:"creditCode"`
	Tags         []string  `json:"tags"`
	Source       string    `json:"source"`
	Ref          string    `json:"ref"`
	Lon          float64   `json:"-"`
	Lat          float64   `json:"-"`
	CellID       *int64    `json:"cellId"`
	RegionID     *int64    `json:"regionId"` // the cell, or the deepest region containing the point
	CreatedAt    time.Time `json:"createdAt"`
	UpdatedAt    time.Time `json:"updatedAt"`

	// Geometry is the point as GeoJSON, written by PostGIS (gis.AsGeoJSON): the API's Feature
	// writer puts it beside the properties.
	Geometry json.RawMessage `json:"-"`
}

// NewPremise is what is needed to add a premise. Lon and Lat are in CRS (WGS-84 when empty).
type NewPremise struct {
	Kind         string   `json:"kind"`
	Name         string   `json:"name"`
	Address      string   `json:"address"`
	ContactName  string   `json:"contactName"`
	ContactPhone string   `json:"contactPhone"`
	CreditCode   string   `json:"creditCode"`
	Tags         []string `json:"tags"`
	Ref          string   `json:"ref"`
	Lon          *float64 `json:"lon"`
	Lat          *float64 `json:"lat"`
	CRS          string   `json:"crs"`
}

// Patch is a partial change; nil fields stay. A new location needs both Lon and Lat.
type Patch struct {
	Kind         *string   `json:"kind"`
	Name         *string   `json:"name"`
	Address      *string   `json:"address"`
	ContactName  *string   `json:"contactName"`
	ContactPhone *string   `json:"contactPhone"`
	CreditCode   *string   `json:"creditCode"`
	Tags         *[]string `json:"tags"`
	Lon          *float64  `json:"lon"`
	Lat          *float64  `json:"lat"`
	CRS          string    `json:"crs"`
}

// Store reads and writes the register. It holds only settings; methods take the caller's scoped
// transaction.
type Store struct {
	// FewCellsShare: List reads an area of at most 1/FewCellsShare of all grid cells through
	// those cells (see List). Reading a page in id order costs about limit × all / matching
	// rows, reading an area's rows about matching rows; they meet near 1/60 of a city of
	// 400,000 premises and 5,000 cells, pages of 100.
	FewCellsShare int
}

// NewStore returns a Store.
func NewStore() *Store { return &Store{FewCellsShare: 60} }

// The public errors of this package.
var (
	ErrOutsideScope = apperr.Invalidf("outside_scope", "该位置不在您负责的区域内",
		"the location is outside your area")
	errLocation = apperr.Invalidf("invalid_location", "经纬度无效",
		"lon and lat are required, in degrees, inside China")
)

// row is a premise checked and converted to WGS-84, ready to store.
type row struct {
	kind                                                      Kind
	name, address, contactName, contactPhone, creditCode, ref string
	tags                                                      []string
	lon, lat                                                  float64
}

var creditCodeRE = regexp.MustCompile(`^[0-9A-Z]{18}$`)

// check validates n and converts its location; problems are returned as field → message.
func check(n NewPremise, defaultCRS gis.CRS) (row, []fieldProblem) {
	var probs []fieldProblem
	bad := func(field, problem, msg string) { probs = append(probs, fieldProblem{field, problem, msg}) }
	r := row{name: strings.TrimSpace(n.Name), address: strings.TrimSpace(n.Address),
		contactName: strings.TrimSpace(n.ContactName), contactPhone: strings.TrimSpace(n.ContactPhone),
		creditCode: strings.ToUpper(strings.TrimSpace(n.CreditCode)), ref: strings.TrimSpace(n.Ref)}
	k, err := ParseKind(n.Kind)
	if err != nil {
		bad("kind", "invalid_kind", err.Error())
	}
	r.kind = k
	switch l := len([]rune(r.name)); {
	case l == 0:
		bad("name", "name_required", "name is required")
	case l > 200:
		bad("name", "too_long", "name is longer than 200 characters")
	}
	if len([]rune(r.address)) > 300 {
		bad("address", "too_long", "address is longer than 300 characters")
	}
	if len([]rune(r.contactName)) > 100 {
		bad("contactName", "too_long", "contact name is longer than 100 characters")
	}
	if len([]rune(r.contactPhone)) > 30 {
		bad("contactPhone", "too_long", "contact phone is longer than 30 characters")
	}
	if len([]rune(r.ref)) > 100 {
		bad("ref", "too_long", "ref is longer than 100 characters")
	}
	if r.creditCode != "" && !creditCodeRE.MatchString(r.creditCode) {
		bad("creditCode", "invalid_credit_code", "credit code (统一社会信用代码) must be 18 digits or capital letters")
	}
	tags, msg := cleanTags(n.Tags)
	if msg != "" {
		bad("tags", "invalid_tags", msg)
	}
	r.tags = tags
	crs := defaultCRS
	if n.CRS != "" {
		if crs, err = gis.ParseCRS(n.CRS); err != nil {
			bad("crs", "invalid_crs", err.Error())
		}
	}
	if n.Lon == nil || n.Lat == nil {
		bad("lon", "location_required", "lon and lat are required")
		return r, probs
	}
	lon, lat, err := toWGS84(*n.Lon, *n.Lat, crs)
	if err != nil {
		bad("lon", "invalid_location", err.Error())
	}
	r.lon, r.lat = lon, lat
	return r, probs
}

type fieldProblem struct{ field, problem, message string }

// toWGS84 checks a point and converts it from crs.
func toWGS84(lon, lat float64, crs gis.CRS) (float64, float64, error) {
	if crs == "" {
		crs = gis.WGS84
	}
	// The common case without allocating: a WGS-84 point well inside China's box.
	if (crs == gis.WGS84 || crs == gis.CGCS2000) && lon >= 74 && lon <= 135 && lat >= 4 && lat <= 53 {
		return lon, lat, nil
	}
	pt := geomPoint(lon, lat)
	if err := gis.CheckCoordinates(pt); err != nil {
		return 0, 0, err
	}
	if err := gis.CheckInChina(pt); err != nil {
		return 0, 0, err
	}
	g, err := gis.ToWGS84(pt, crs)
	if err != nil {
		return 0, 0, err
	}
	c := g.FlatCoords()
	return c[0], c[1], nil
}

func cleanTags(in []string) ([]string, string) {
	out := []string{}
	seen := map[string]bool{}
	for _, t := range in {
		t = strings.TrimSpace(t)
		if t == "" || seen[t] {
			continue
		}
		if len([]rune(t)) > 40 {
			return nil, fmt.Sprintf("tag %q is longer than 40 characters", t)
		}
		seen[t] = true
		out = append(out, t)
	}
	if len(out) > 20 {
		return nil, "at most 20 tags"
	}
	return out, ""
}

func invalidFields(probs []fieldProblem) error {
	details := make([]Issue, 0, len(probs))
	for _, p := range probs {
		details = append(details, Issue{Field: p.field, Problem: p.problem, Message: p.message})
	}
	return apperr.Invalidf("invalid_premise", "场所信息不合法", "invalid premise: %s", probs[0].message).WithDetails(details)
}

// locateSQL places the point expression PT: the lowest-id cell that contains it (a point on a
// border between two cells goes to one of them, always the same), or when no cell does, the
// deepest region that does. It reads region_shapes (migration 0004), whose spatial index row-
// level security does not disable, and so sees the whole map: callers check that the place
// found lies in the caller's area (sieve_in_scope).
const locateSQL = locateCellSQL + locateAreaSQL

// locateCellSQL is the cell half of locateSQL (alias c).
const locateCellSQL = `
	LEFT JOIN LATERAL (
		SELECT x.id, x.path FROM (
			SELECT r.region_id AS id, r.path FROM region_shapes r
			WHERE r.level = 'cell' AND ST_Intersects(r.geom, PT) OFFSET 0) x
		ORDER BY x.id LIMIT 1) c ON true`

// locateAreaSQL is the other half (alias a), looked at only when c found no cell.
const locateAreaSQL = `
	LEFT JOIN LATERAL (
		SELECT x.id, x.path FROM (
			SELECT r.region_id AS id, r.path FROM region_shapes r
			WHERE c.id IS NULL AND r.level <> 'cell' AND ST_Intersects(r.geom, PT) OFFSET 0) x
		ORDER BY nlevel(x.path) DESC, x.id LIMIT 1) a ON true`

func locate(pt string) string { return strings.ReplaceAll(locateSQL, "PT", pt) }

// placeManySQL is the same rule as locateSQL for a whole table of points at once: the
// temporary table premises_load of an import (idx, lon, lat, ...), with a spatial index on its
// points. It fills premises_places (idx, cell_id, path) by walking the grid cells that overlap
// the points' extent and fetching each cell's points through that index — a few thousand index
// scans instead of one per point, and each cell's polygon used for all its points in a row —
// then keeps the lowest-id cell of a point on a border (DISTINCT ON), as locateCellSQL does.
var placeManySQL = []string{
	`CREATE INDEX ON premises_load USING gist ((ST_SetSRID(ST_MakePoint(lon, lat), 4326)))`,
	`ANALYZE premises_load`,
	`CREATE TEMP TABLE premises_places ON COMMIT DROP AS
	SELECT DISTINCT ON (l.idx) l.idx, c.region_id AS cell_id, c.path
	FROM region_shapes c
	CROSS JOIN LATERAL (
		SELECT l.idx FROM premises_load l
		WHERE ST_Intersects(c.geom, ST_SetSRID(ST_MakePoint(l.lon, l.lat), 4326))) l
	WHERE c.level = 'cell'
	  AND c.geom && (SELECT ST_SetSRID(ST_Extent(ST_MakePoint(lon, lat)), 4326) FROM premises_load)
	ORDER BY l.idx, c.region_id`,
}

// placeManyAreaSQL adds to premises_places the points that fell in no cell (placeManySQL).
var placeManyAreaSQL = `INSERT INTO premises_places (idx, path)
	SELECT l.idx, a.path
	FROM premises_load l
	CROSS JOIN LATERAL (SELECT ST_SetSRID(ST_MakePoint(l.lon, l.lat), 4326) AS g) pt
	LEFT JOIN LATERAL (SELECT NULL::bigint AS id) c ON true ` +
	strings.ReplaceAll(locateAreaSQL, "PT", "pt.g") + `
	WHERE a.path IS NOT NULL AND NOT EXISTS (SELECT 1 FROM premises_places p WHERE p.idx = l.idx)`

// premiseCols are the columns scan reads. The point's GeoJSON is gis.AsGeoJSON("p.geom"), written
// out so that the queries stay constants (TestPremiseColsUseAsGeoJSON holds the two together).
const premiseCols = `p.id, p.kind, p.name, p.address, p.contact_name, p.contact_phone, p.credit_code, p.tags,
	p.source, p.ref, ST_X(p.geom), ST_Y(p.geom), ST_AsGeoJSON(ST_ForcePolygonCCW(p.geom), 7), p.cell_id,
	CASE WHEN p.region_path IS NULL THEN NULL ELSE ltree2text(subpath(p.region_path, -1))::bigint END,
	p.created_at, p.updated_at`

func scan(r pgx.Row) (Premise, error) {
	var p Premise
	err := r.Scan(&p.ID, &p.Kind, &p.Name, &p.Address, &p.ContactName, &p.ContactPhone, &p.CreditCode, &p.Tags,
		&p.Source, &p.Ref, &p.Lon, &p.Lat, &p.Geometry, &p.CellID, &p.RegionID, &p.CreatedAt, &p.UpdatedAt)
	return p, err
}

// Get returns premise id if the caller may see it.
func (s *Store) Get(ctx context.Context, q db.Querier, id int64) (Premise, error) {
	const sql = `SELECT ` + premiseCols + ` FROM premises p WHERE p.id = $1`
	p, err := scan(q.QueryRow(ctx, sql, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Premise{}, fmt.Errorf("premises: premise %d: %w", id, apperr.ErrNotFound)
	}
	if err != nil {
		return Premise{}, fmt.Errorf("premises: get %d: %w", id, err)
	}
	return p, nil
}

// Filter narrows a listing. Zero values do not filter.
type Filter struct {
	RegionID int64       // inside this region (any level)
	CellID   int64       // in this cell
	BBox     *[4]float64 // minLon, minLat, maxLon, maxLat (WGS-84)
	Kind     Kind
	Tag      string
	Query    string // part of the name or address
	After    int64  // cursor: premises with a larger id
	Limit    int
}

// List returns the premises the caller may see that match f, by id.
//
// Row-level security keeps PostgreSQL from using an index for any condition that is not
// leakproof, and neither ltree's <@ nor PostGIS's && is: a region or bbox filter would walk the
// register in id order until it has a page. That is quick for a large area (its premises are
// everywhere in that order) and slow for a small one, so for an area of few cells List first
// finds those cells (sieve_cells_in, through region_shapes and its spatial index, migration
// 0014) and reads their premises and the few in no cell through premises_cell (bigint equality
// is leakproof); the exact conditions still apply. On the demo city (50,000 premises) a
// village's page took 87 ms before and 3-13 ms after, a 500 m bbox 45 ms and 6 ms; a whole
// city's page 20 ms either way.
//
// A grid worker's own area is such a small one, filter or not: their policy lets them see the
// premises of their assigned cells only (the scope paths of the transaction, whose last labels
// are the cells' ids), so List reads a worker's page through those cells, whose premises the
// filter then narrows exactly, and never walks the register (an unfiltered page took
// 162 ms for a worker before, the policy refusing every row of the register until the page
// filled). No premise in no cell lies in a cell, so that part is skipped for them.
func (s *Store) List(ctx context.Context, q db.Querier, f Filter) ([]Premise, error) {
	var bb [4]float64
	if f.BBox != nil {
		bb = *f.BBox
	}
	var cells, mine []int64
	if f.CellID == 0 {
		const workerCells = `SELECT CASE WHEN sieve_role() = 'grid_worker' AND NOT sieve_system()
			THEN coalesce(array_agg(ltree2text(subpath(sc, -1))::bigint), '{}') END
			FROM unnest(sieve_scope()) AS sc`
		if err := q.QueryRow(ctx, workerCells).Scan(&mine); err != nil {
			return nil, fmt.Errorf("premises: list: %w", err)
		}
	}
	switch {
	case mine != nil:
		cells = mine
	case f.CellID == 0 && (f.RegionID != 0 || f.BBox != nil):
		const few = `SELECT CASE WHEN count(*) * $4 <= (SELECT count(*) FROM region_shapes WHERE level = 'cell')
				THEN coalesce(array_agg(c.id), '{}') END
			FROM sieve_cells_in(nullif($1::bigint, 0),
				CASE WHEN $2 THEN ST_MakeEnvelope(($3::float8[])[1], $3[2], $3[3], $3[4], 4326) END) AS c(id)`
		if err := q.QueryRow(ctx, few, f.RegionID, f.BBox != nil, bb[:], max(s.FewCellsShare, 1)).Scan(&cells); err != nil {
			return nil, fmt.Errorf("premises: list: %w", err)
		}
	}
	const match = `p.id > $1
		  AND ($2 = 0 OR p.region_path <@ (SELECT path FROM regions WHERE id = $2))
		  AND ($3 = 0 OR p.cell_id = $3)
		  AND (NOT $4 OR p.geom && ST_MakeEnvelope($5, $6, $7, $8, 4326))
		  AND ($9 = '' OR p.kind = $9)
		  AND ($10 = '' OR $10 = ANY (p.tags))
		  AND ($11 = '' OR strpos(p.name, $11) > 0 OR strpos(p.address, $11) > 0)`
	// $13 (the area's cells) is NULL here; it is named so that both statements take the same
	// arguments.
	sql := `SELECT ` + premiseCols + ` FROM premises p WHERE ` + match + ` AND $13::bigint[] IS NULL ORDER BY p.id LIMIT $12`
	switch {
	case mine != nil:
		sql = `SELECT ` + premiseCols + ` FROM premises p WHERE p.cell_id = ANY ($13) AND ` + match + ` ORDER BY p.id LIMIT $12`
	case cells != nil:
		sql = `SELECT p.* FROM (
			(SELECT ` + premiseCols + ` FROM premises p WHERE p.cell_id = ANY ($13) AND ` + match + ` ORDER BY p.id LIMIT $12)
			UNION ALL
			(SELECT ` + premiseCols + ` FROM premises p WHERE p.cell_id IS NULL AND ` + match + ` ORDER BY p.id LIMIT $12)) p
			ORDER BY 1 LIMIT $12`
	}
	rows, err := q.Query(ctx, sql, f.After, f.RegionID, f.CellID, f.BBox != nil, bb[0], bb[1], bb[2], bb[3],
		string(f.Kind), f.Tag, f.Query, f.Limit, cells)
	if err != nil {
		return nil, fmt.Errorf("premises: list: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Premise, error) { return scan(r) })
	if err != nil {
		return nil, fmt.Errorf("premises: scan: %w", err)
	}
	return out, nil
}

// Create adds one premise, placed in its cell. source is SourceRegister or SourceField; by is
// the acting user (0 for tools). A location outside the caller's area is refused with
// ErrOutsideScope.
func (s *Store) Create(ctx context.Context, q db.Querier, n NewPremise, source string, by int64) (Premise, error) {
	r, probs := check(n, gis.WGS84)
	if len(probs) > 0 {
		return Premise{}, invalidFields(probs)
	}
	if err := placeable(ctx, q, r.lon, r.lat); err != nil {
		return Premise{}, err
	}
	const sql = `INSERT INTO premises (kind, name, address, contact_name, contact_phone, credit_code, tags, source,
			ref, geom, cell_id, region_path, created_by)
		SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, pt.g, c.id, coalesce(c.path, a.path), nullif($12::bigint, 0)
		FROM (SELECT ` + "ST_SetSRID(ST_MakePoint($10::float8, $11::float8), 4326)" + ` AS g) pt` + `
		` + "LOCATE" + `
		RETURNING id`
	var id int64
	err := q.QueryRow(ctx, strings.Replace(sql, "LOCATE", locate("pt.g"), 1), r.kind, r.name, r.address,
		r.contactName, r.contactPhone, r.creditCode, r.tags, source, r.ref, r.lon, r.lat, by).Scan(&id)
	if err != nil {
		return Premise{}, fmt.Errorf("premises: create: %w", mapWriteError(err))
	}
	return s.Get(ctx, q, id)
}

// placeable refuses a point that would land outside the caller's area (or in no region at all,
// for callers other than the city office).
func placeable(ctx context.Context, q db.Querier, lon, lat float64) error {
	const sql = `SELECT sieve_in_scope(coalesce(c.path, a.path))
		FROM (SELECT ST_SetSRID(ST_MakePoint($1::float8, $2::float8), 4326) AS g) pt ` + "LOCATE"
	var ok bool
	if err := q.QueryRow(ctx, strings.Replace(sql, "LOCATE", locate("pt.g"), 1), lon, lat).Scan(&ok); err != nil {
		return fmt.Errorf("premises: place: %w", err)
	}
	if !ok {
		return ErrOutsideScope
	}
	return nil
}

var errRefTaken = apperr.New(http.StatusConflict, "ref_taken", "another premise already has this ref", "编号已被其他场所使用")

func mapWriteError(err error) error {
	err = db.MapError(err)
	if errors.Is(err, apperr.ErrConflict) {
		return errRefTaken.Wrap(err)
	}
	return err
}

// Update applies a patch to premise id. A new location places the premise again.
func (s *Store) Update(ctx context.Context, q db.Querier, id int64, p Patch) (Premise, error) {
	cur, err := s.Get(ctx, q, id)
	if err != nil {
		return Premise{}, err
	}
	n := NewPremise{Kind: string(cur.Kind), Name: cur.Name, Address: cur.Address, ContactName: cur.ContactName,
		ContactPhone: cur.ContactPhone, CreditCode: cur.CreditCode, Tags: cur.Tags, Ref: cur.Ref,
		Lon: &cur.Lon, Lat: &cur.Lat}
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&n.Kind, p.Kind)
	set(&n.Name, p.Name)
	set(&n.Address, p.Address)
	set(&n.ContactName, p.ContactName)
	set(&n.ContactPhone, p.ContactPhone)
	set(&n.CreditCode, p.CreditCode)
	if p.Tags != nil {
		n.Tags = *p.Tags
	}
	moved := p.Lon != nil || p.Lat != nil
	if moved {
		if p.Lon == nil || p.Lat == nil {
			return Premise{}, errLocation
		}
		n.Lon, n.Lat, n.CRS = p.Lon, p.Lat, p.CRS
	}
	r, probs := check(n, gis.WGS84)
	if len(probs) > 0 {
		return Premise{}, invalidFields(probs)
	}
	if moved {
		if err := placeable(ctx, q, r.lon, r.lat); err != nil {
			return Premise{}, err
		}
	}
	const sql = `UPDATE premises SET kind = $2, name = $3, address = $4, contact_name = $5, contact_phone = $6,
			credit_code = $7, tags = $8, updated_at = now()
		WHERE id = $1 AND (kind, name, address, contact_name, contact_phone, credit_code, tags)
			IS DISTINCT FROM ($2, $3, $4, $5, $6, $7, $8)`
	if _, err := q.Exec(ctx, sql, id, r.kind, r.name, r.address, r.contactName, r.contactPhone, r.creditCode, r.tags); err != nil {
		return Premise{}, fmt.Errorf("premises: update %d: %w", id, mapWriteError(err))
	}
	if moved {
		const move = `UPDATE premises p SET geom = pt.g, cell_id = c.id, region_path = coalesce(c.path, a.path), updated_at = now()
			FROM (SELECT ST_SetSRID(ST_MakePoint($2::float8, $3::float8), 4326) AS g) pt ` + "LOCATE" + `
			WHERE p.id = $1`
		if _, err := q.Exec(ctx, strings.Replace(move, "LOCATE", locate("pt.g"), 1), id, r.lon, r.lat); err != nil {
			return Premise{}, fmt.Errorf("premises: move %d: %w", id, mapWriteError(err))
		}
	}
	return s.Get(ctx, q, id)
}

// Name is the placer's name in the cells and import reports of package regions.
func (s *Store) Name() string { return "premises" }

// PlaceIn places again every premise inside region regionID (by location or by its current
// region path), after that region's cells changed, and returns how many moved. It is the
// register's placer for package regions (migration 0005 knew it as Reassign) and runs as a bulk
// change: one summary audit entry (premises, reassign, the moved count) instead of one per
// premise.
func (s *Store) PlaceIn(ctx context.Context, q db.Querier, regionID int64) (int64, error) {
	const sql = `WITH area AS (SELECT path, geom FROM regions WHERE id = $1),
		placed AS (
			SELECT p.id, c.id AS cell_id, coalesce(c.path, a.path) AS path
			FROM premises p CROSS JOIN area ` + "LOCATE" + `
			WHERE p.region_path <@ area.path OR ST_Intersects(area.geom, p.geom))
		UPDATE premises p SET cell_id = placed.cell_id, region_path = placed.path, updated_at = now()
		FROM placed
		WHERE p.id = placed.id
		  AND (p.cell_id IS DISTINCT FROM placed.cell_id OR p.region_path IS DISTINCT FROM placed.path)`
	var moved int64
	sum := audit.Summary{Entity: "premises", Action: "reassign", RegionID: regionID}
	err := db.Bulk(ctx, q, sum, func(sum *audit.Summary) error {
		tag, err := q.Exec(ctx, strings.Replace(sql, "LOCATE", locate("p.geom"), 1), regionID)
		if err != nil {
			return fmt.Errorf("premises: reassign: %w", db.MapError(err))
		}
		moved = tag.RowsAffected()
		sum.Counts = map[string]int64{"moved": moved}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return moved, nil
}
