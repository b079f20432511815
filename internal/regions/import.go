package regions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/sieve-city/sieve/gis"
	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/audit"
	"github.com/sieve-city/sieve/internal/db"
)

// ImportOptions says how to read a boundary file. Empty fields take the defaults.
type ImportOptions struct {
	// CRS of the coordinates; "" means what the file declares (WGS-84 when it declares none).
	CRS gis.CRS
	// Property names; by default the usual ones are tried (code/adcode/区划代码...,
	// name/mc/名称..., level/级别, parent/parent_code/上级代码, kind/类型).
	CodeField, NameField, LevelField, ParentField, KindField string
	// Level of the features: it overrides what a feature says or its code implies (a public
	// dump's own level words may not be Sieve's), and is the level of features that say none.
	Level Level
	// ParentID is the parent of features whose parent is neither said nor implied by the code.
	ParentID int64
	// SliverFraction: an overlap, overhang or gap smaller than this fraction of the smaller
	// region's area is a sliver, snapped or reported as a warning; larger ones are errors
	// (overlaps, overhangs) or warnings (gaps). Default 0.01.
	SliverFraction float64
	// SliverMaxKm2 bounds a sliver by size too: an overlap or overhang above it is no sliver
	// whatever its share (square kilometres between neighbours are a shifted or wrong file):
	// it is still cut (within SliverFraction) but reported by its size in a warning of its
	// own (large_overlap_snapped, large_overhang_clipped). Default 0.05 km².
	SliverMaxKm2 float64
}

// Severity of an import issue.
const (
	SeverityError   = "error"   // the file is not imported
	SeverityWarning = "warning" // imported, with the repair or remark described
)

// Issue is one finding about one feature of a boundary file.
type Issue struct {
	Feature  int     `json:"feature"` // 0-based index in the file; -1 when it concerns a region already stored
	Code     string  `json:"code,omitempty"`
	Severity string  `json:"severity"`
	Problem  string  `json:"problem"` // stable code, e.g. repaired, outside_parent, overlap, sliver_overlap_snapped, gap
	Message  string  `json:"message"`
	Other    string  `json:"other,omitempty"` // code of the other region involved
	AreaKm2  float64 `json:"areaKm2,omitempty"`
}

// Report is the per-feature outcome of an import.
type Report struct {
	Features      int   `json:"features"`
	Created       int   `json:"created"`
	Updated       int   `json:"updated"`
	Moved         int   `json:"moved"` // of those updated, moved to another parent
	Errors        int   `json:"errors"`
	Warnings      int   `json:"warnings"`
	PremisesMoved int64 `json:"premisesMoved"`
	// Placed counts, by placer (premises, media ...), the rows placed anew in changed cells.
	Placed map[string]int64 `json:"placed"`
	Issues []Issue          `json:"issues"`
}

func (r *Report) add(is Issue) {
	if is.Severity == SeverityError {
		r.Errors++
	} else {
		r.Warnings++
	}
	r.Issues = append(r.Issues, is)
}

// item is one feature read from the file.
type item struct {
	idx                          int
	code, name, kind, parentCode string
	level                        Level
	wkb                          []byte
	id, parentID                 int64
	existed                      bool
	ok                           bool
}

// ReadFeatures reads a boundary file — GeoJSON (FeatureCollection, bare array of features, one
// feature) or a zipped ESRI Shapefile — and returns its features in WGS-84.
func (s *Store) ReadFeatures(ctx context.Context, data []byte, crs gis.CRS) ([]gis.Feature, error) {
	if isZip(data) {
		gj, err := s.shapefileToGeoJSON(ctx, data)
		if err != nil {
			return nil, err
		}
		data = gj
	}
	features, declared, err := gis.ParseFeaturesCRS(data)
	if err != nil {
		var fe *gis.FeatureError
		if errors.As(err, &fe) {
			return nil, errRejected(Report{Errors: 1, Issues: []Issue{{Feature: fe.Index, Severity: SeverityError,
				Problem: "invalid_feature", Message: fe.Err.Error()}}})
		}
		if errors.Is(err, gis.ErrUnsupportedCRS) {
			return nil, apperr.Invalidf("unsupported_crs", "不支持的坐标系（仅支持 WGS-84、CGCS2000 经纬度和 GCJ-02）", "%v", err)
		}
		return nil, apperr.Invalidf("invalid_geojson", "GeoJSON 格式错误", "%v", err)
	}
	if crs == "" {
		if !declaresCRS(data) && IsDataV(features) {
			return nil, apperr.Invalidf("crs_undeclared", "文件像是 DataV/高德导出的行政区划（含 adcode、acroutes 等属性），"+
				"这类文件通常是 GCJ-02 坐标但未声明坐标系；直接按 WGS-84 导入会偏移约 500 米。请选择：?crs=gcj02（转换后导入）"+
				"或 ?crs=wgs84（确认文件已是 WGS-84）",
				"the file looks like a DataV/GeoAtlas boundary dump (adcode, acroutes ...), which is GCJ-02 without saying so; "+
					"read as WGS-84 it would land about 500 m off. Choose: ?crs=gcj02 (convert) or ?crs=wgs84 (it is WGS-84 already)")
		}
		crs = declared
	}
	for i := range features {
		if features[i].Geometry == nil {
			continue
		}
		g, err := gis.ToWGS84(features[i].Geometry, crs)
		if err != nil {
			return nil, apperr.Invalidf("unsupported_crs", "不支持的坐标系", "%v", err)
		}
		features[i].Geometry = g
	}
	return features, nil
}

// declaresCRS reports whether a GeoJSON document has a top-level "crs" member (a bare array
// of features or a shapefile converted without one has none).
func declaresCRS(data []byte) bool {
	var top struct {
		CRS json.RawMessage `json:"crs"`
	}
	if err := json.Unmarshal(data, &top); err != nil {
		return false
	}
	return len(top.CRS) > 0 && string(top.CRS) != "null"
}

// errRejected is the 422 of a file that was not imported; its report counts nothing as
// created, updated, moved or placed, since the transaction is rolled back.
func errRejected(rep Report) error {
	rep.Created, rep.Updated, rep.Moved, rep.PremisesMoved = 0, 0, 0, 0
	rep.Placed = map[string]int64{}
	sort.SliceStable(rep.Issues, func(i, j int) bool { return rep.Issues[i].Feature < rep.Issues[j].Feature })
	if len(rep.Issues) > 2000 {
		rep.Issues = rep.Issues[:2000]
	}
	return apperr.Invalidf("import_rejected", "导入未执行：文件中有错误，详见逐要素报告",
		"nothing imported: %d errors, see details", rep.Errors).WithDetails(rep)
}

var (
	codeKeys   = []string{"adcode", "code", "qhdm", "xzqdm", "dm", "gb", "区划代码", "统计用区划代码", "行政区划代码", "代码", "编码"}
	nameKeys   = []string{"name", "mc", "xzqmc", "qhmc", "名称", "区划名称", "村名", "乡镇名称", "网格名称"}
	levelKeys  = []string{"level", "级别", "层级"}
	parentKeys = []string{"parent", "parent_code", "parentcode", "上级代码", "上级区划代码", "sjdm"}
	kindKeys   = []string{"kind", "类型", "类别"}
)

// prop reads a property by an explicit name or the first of the usual names present.
func prop(props map[string]any, explicit string, keys []string) string {
	str := func(v any) string {
		switch v := v.(type) {
		case nil:
			return ""
		case string:
			return strings.TrimSpace(v)
		case json.Number:
			return v.String()
		case map[string]any:
			// DataV's parent is an object: {"adcode": 411000}.
			for _, k := range []string{"adcode", "code"} {
				if c, ok := v[k]; ok && c != nil {
					return strings.TrimSpace(fmt.Sprint(c))
				}
			}
			return ""
		}
		return strings.TrimSpace(fmt.Sprint(v))
	}
	if explicit != "" {
		return str(props[explicit])
	}
	lower := make(map[string]any, len(props))
	for k, v := range props {
		lower[strings.ToLower(strings.TrimSpace(k))] = v
	}
	for _, k := range keys {
		if v := str(lower[k]); v != "" {
			return v
		}
	}
	return ""
}

// NormaliseCode shortens a 12-digit statistical division code (统计用区划代码) of a county or a
// township to the 6 or 9 digits Sieve stores: 411081000000 → 411081, 411081100000 → 411081100.
func NormaliseCode(code string) string {
	code = strings.TrimSpace(code)
	if len(code) == 12 && strings.Trim(code, "0123456789") == "" {
		switch {
		case strings.HasSuffix(code, "000000"):
			return code[:6]
		case strings.HasSuffix(code, "000"):
			return code[:9]
		}
	}
	return code
}

// impliedLevel and impliedParent follow the division-code structure: 6 digits a county-level
// city, 9 a township, 12 a village; "VILLAGE-NN" a grid cell of that village.
func impliedLevel(code string) Level {
	if before, _, ok := strings.Cut(code, "-"); ok && before != "" {
		return Cell
	}
	if strings.Trim(code, "0123456789") != "" {
		return ""
	}
	switch len(code) {
	case 6:
		return City
	case 9:
		return Township
	case 12:
		return Village
	}
	return ""
}

func impliedParent(code string, level Level) string {
	switch level {
	case Cell:
		if i := strings.LastIndex(code, "-"); i > 0 {
			return code[:i]
		}
	case Village:
		if len(code) == 12 {
			return code[:9]
		}
	case Township:
		if len(code) == 9 {
			return code[:6]
		}
	}
	return ""
}

// dataVLevels maps the level words of the public DataV/GeoAtlas boundary dumps to Sieve's:
// their "district" is a county-level unit (禹州市 411081), Sieve's top; "street" a
// township-level one (乡镇/街道).
var dataVLevels = map[string]Level{"district": City, "street": Township}

// parseFileLevel reads a feature's own level word: Sieve's (ParseLevel), or, in a DataV-style
// file, the dump's (dataVLevels), where "city" and "province" are above Sieve's tree.
func parseFileLevel(word string, dataV bool) (Level, string, error) {
	w := strings.ToLower(strings.TrimSpace(word))
	if l, ok := dataVLevels[w]; ok {
		return l, "", nil
	}
	if dataV && (w == "city" || w == "province" || w == "country") {
		return "", "level_above_city", fmt.Errorf("level %q of this DataV-style file is above Sieve's top level, the county-level city "+
			"(the dump's \"district\"); import the districts and streets, or give ?level=", word)
	}
	l, err := ParseLevel(word)
	if err != nil {
		return "", "invalid_level", err
	}
	return l, "", nil
}

// dataVKeys are properties only the DataV/GeoAtlas dumps carry (besides adcode).
var dataVKeys = []string{"acroutes", "childrenNum", "subFeatureIndex", "centroid", "center"}

// IsDataV reports whether features look like a DataV/GeoAtlas boundary dump: an adcode and at
// least one of the dump's own properties (acroutes, childrenNum, centroid ...). Those dumps
// are in GCJ-02 (they come from AMap) without saying so.
func IsDataV(features []gis.Feature) bool {
	for _, f := range features {
		if _, ok := f.Properties["adcode"]; !ok {
			continue
		}
		for _, k := range dataVKeys {
			if _, ok := f.Properties[k]; ok {
				return true
			}
		}
	}
	return false
}

func defaultKind(level Level, name string) string {
	switch level {
	case City:
		return "市"
	case Township:
		for _, k := range []string{"街道", "镇", "乡"} {
			if strings.HasSuffix(name, k) {
				return k
			}
		}
	case Village:
		for _, k := range []string{"社区", "村"} {
			if strings.HasSuffix(name, k) {
				return k
			}
		}
	case Cell:
		return "网格"
	}
	return ""
}

// Import applies a boundary file as a whole or not at all. Each feature becomes a region (or
// updates the region with its code): invalid rings and self-intersections are repaired with
// ST_MakeValid (warning); a region reaching outside its parent is an error, or clipped with a
// warning when the overhang is a sliver; overlaps between siblings are errors, or snapped away
// with a warning when slivers; gaps between siblings inside their parent are warnings. Any
// error rolls the import back and is returned as a 422 whose details are the Report.
// Premises, media and whatever else lives in the cells of the regions touched are placed again
// (the Store's placers).
func (s *Store) Import(ctx context.Context, q db.Querier, features []gis.Feature, opt ImportOptions) (Report, error) {
	if opt.SliverFraction <= 0 {
		opt.SliverFraction = 0.01
	}
	if opt.SliverMaxKm2 <= 0 {
		opt.SliverMaxKm2 = 0.05
	}
	rep := Report{Features: len(features), Issues: []Issue{}, Placed: map[string]int64{}}
	if len(features) == 0 {
		return rep, apperr.Invalidf("empty_import", "文件中没有要素", "the file holds no features")
	}
	items := make([]*item, len(features))
	byCode := map[string]*item{}
	fail := func(it *item, problem, msg string) {
		it.ok = false
		rep.add(Issue{Feature: it.idx, Code: it.code, Severity: SeverityError, Problem: problem, Message: msg})
	}
	var defaultParentCode string
	if opt.ParentID != 0 {
		if err := q.QueryRow(ctx, `SELECT code FROM regions WHERE id = $1`, opt.ParentID).Scan(&defaultParentCode); err != nil {
			return rep, fmt.Errorf("regions: parent %d: %w", opt.ParentID, db.MapError(err))
		}
	}
	dataV := IsDataV(features)
	for i, f := range features {
		it := &item{idx: i, ok: true}
		items[i] = it
		it.code = NormaliseCode(prop(f.Properties, opt.CodeField, codeKeys))
		if it.code == "" && f.ID != nil {
			it.code = NormaliseCode(fmt.Sprint(f.ID))
		}
		it.name = prop(f.Properties, opt.NameField, nameKeys)
		it.parentCode = NormaliseCode(prop(f.Properties, opt.ParentField, parentKeys))
		lv := prop(f.Properties, opt.LevelField, levelKeys)
		switch {
		case opt.Level != "":
			it.level = opt.Level
		case lv != "":
			l, problem, err := parseFileLevel(lv, dataV)
			if err != nil {
				fail(it, problem, err.Error())
			}
			it.level = l
		case impliedLevel(it.code) != "":
			it.level = impliedLevel(it.code)
		default:
			it.level = opt.Level
		}
		if it.code == "" {
			fail(it, "missing_code", "the feature has no code property (code, adcode, 区划代码 ...)")
		} else if len(it.code) > 32 {
			fail(it, "invalid_code", "code is longer than 32 characters")
		}
		if it.name == "" {
			fail(it, "missing_name", "the feature has no name property (name, mc, 名称 ...)")
		} else if len([]rune(it.name)) > 100 {
			fail(it, "invalid_name", "name is longer than 100 characters")
		}
		if it.level == "" && it.ok {
			fail(it, "missing_level", "no level property, none implied by the code, and none given for the import")
		}
		it.kind = prop(f.Properties, opt.KindField, kindKeys)
		if it.kind == "" {
			it.kind = defaultKind(it.level, it.name)
		}
		if len([]rune(it.kind)) > 20 {
			it.kind = string([]rune(it.kind)[:20])
		}
		if it.parentCode == "" {
			it.parentCode = impliedParent(it.code, it.level)
		}
		if it.parentCode == "" && it.level != City {
			it.parentCode = defaultParentCode
		}
		if prev, dup := byCode[it.code]; dup && it.code != "" {
			fail(it, "duplicate_code", fmt.Sprintf("code %s repeats feature %d", it.code, prev.idx))
		} else if it.code != "" {
			byCode[it.code] = it
		}
		mp, err := gis.Polygonal(f.Geometry)
		if f.Geometry == nil {
			err = errors.New("the feature has no geometry")
		}
		if err != nil {
			fail(it, "not_polygonal", strings.TrimPrefix(err.Error(), "gis: "))
			continue
		}
		if err := gis.CheckInChina(mp); err != nil {
			fail(it, "outside_china", strings.TrimPrefix(err.Error(), "gis: "))
			continue
		}
		if it.wkb, err = gis.EncodeWKB(mp); err != nil {
			fail(it, "not_polygonal", err.Error())
		}
	}

	// Parents: in the file (placed before their children) or already stored and in the
	// caller's area.
	for _, it := range items {
		if !it.ok || it.level == City {
			continue
		}
		if it.parentCode == "" {
			fail(it, "parent_not_found", "no parent: give a parent code property, a division code, or the import's parent")
			continue
		}
		if p, ok := byCode[it.parentCode]; ok {
			if !validNesting(p.level, it.level) {
				fail(it, "wrong_nesting", fmt.Sprintf("a %s cannot be inside a %s (%s)", it.level, p.level, p.code))
			}
			continue
		}
		var (
			pid     int64
			plevel  Level
			inScope bool
		)
		err := q.QueryRow(ctx, `SELECT id, level, sieve_in_scope(path) FROM regions WHERE code = $1`, it.parentCode).
			Scan(&pid, &plevel, &inScope)
		if errors.Is(err, pgx.ErrNoRows) {
			fail(it, "parent_not_found", fmt.Sprintf("parent region %s is neither in the file nor in your area", it.parentCode))
			continue
		}
		if err != nil {
			return rep, fmt.Errorf("regions: import parent: %w", err)
		}
		switch {
		case !inScope:
			fail(it, "outside_scope", fmt.Sprintf("parent region %s is outside your area", it.parentCode))
		case !validNesting(plevel, it.level):
			fail(it, "wrong_nesting", fmt.Sprintf("a %s cannot be inside a %s (%s)", it.level, plevel, it.parentCode))
		default:
			it.parentID = pid
		}
	}
	if rep.Errors > 0 {
		return rep, errRejected(rep)
	}

	if err := s.load(ctx, q, items, &rep); err != nil {
		return rep, err
	}
	if rep.Errors > 0 {
		return rep, errRejected(rep)
	}
	if err := s.write(ctx, q, items, byCode, &rep); err != nil {
		return rep, err
	}
	if rep.Errors > 0 {
		return rep, errRejected(rep)
	}
	if err := s.checkGeometry(ctx, q, opt.SliverFraction, opt.SliverMaxKm2, &rep); err != nil {
		return rep, err
	}
	if rep.Errors > 0 {
		return rep, errRejected(rep)
	}
	for _, it := range items {
		if it.level == Cell {
			if err := reindexCells(ctx, q); err != nil {
				return rep, err
			}
			break
		}
	}
	// Place again what lives in cells (the placers) under the parents of the topmost regions
	// written.
	done := map[int64]bool{}
	for _, it := range items {
		target := it.parentID
		if _, inFile := byCode[it.parentCode]; inFile || it.level == City {
			if it.level != City {
				continue
			}
			target = it.id
		}
		if done[target] {
			continue
		}
		done[target] = true
		if err := s.placeIn(ctx, q, target, rep.Placed); err != nil {
			return rep, err
		}
	}
	rep.PremisesMoved = rep.Placed[premisesPlacer]
	sort.SliceStable(rep.Issues, func(i, j int) bool { return rep.Issues[i].Feature < rep.Issues[j].Feature })
	return rep, nil
}

// validNesting: each level sits in the one above; grid cells may also sit directly in a
// township that has no villages.
func validNesting(parent, child Level) bool {
	return levelRank[child] == levelRank[parent]+1 || (child == Cell && parent == Township)
}

// load copies the features into a temporary table and repairs their geometry there.
func (s *Store) load(ctx context.Context, q db.Querier, items []*item, rep *Report) error {
	const create = `CREATE TEMP TABLE region_load (idx int PRIMARY KEY, wkb bytea, raw geometry, geom geometry,
		region_id bigint) ON COMMIT DROP`
	if _, err := q.Exec(ctx, create); err != nil {
		return fmt.Errorf("regions: import: %w", err)
	}
	i := 0
	src := pgx.CopyFromFunc(func() ([]any, error) {
		if i >= len(items) {
			return nil, nil
		}
		it := items[i]
		i++
		return []any{it.idx, it.wkb}, nil
	})
	if _, err := q.CopyFrom(ctx, pgx.Identifier{"region_load"}, []string{"idx", "wkb"}, src); err != nil {
		return fmt.Errorf("regions: import copy: %w", err)
	}
	repair := `UPDATE region_load SET raw = ` + "ST_SetSRID(ST_GeomFromWKB(wkb), 4326)" + `;
		UPDATE region_load SET geom = ` + gis.MakeValidPolygonal("raw")
	if _, err := q.Exec(ctx, repair); err != nil {
		return fmt.Errorf("regions: import repair: %w", err)
	}
	const findings = `SELECT idx, NOT ST_IsValid(raw), coalesce(ST_IsValidReason(raw), ''), ST_IsEmpty(geom),
			coalesce(abs(` + "ST_Area(raw::geography) - ST_Area(geom::geography)" + `)/1e6, 0)
		FROM region_load WHERE NOT ST_IsValid(raw) OR ST_IsEmpty(geom) ORDER BY idx`
	rows, err := q.Query(ctx, findings)
	if err != nil {
		return fmt.Errorf("regions: import validity: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			idx           int
			invalid, empt bool
			reason        string
			changed       float64
		)
		if err := rows.Scan(&idx, &invalid, &reason, &empt, &changed); err != nil {
			return err
		}
		it := items[idx]
		if empt {
			rep.add(Issue{Feature: idx, Code: it.code, Severity: SeverityError, Problem: "empty_after_repair",
				Message: "the geometry encloses no area (" + reason + ")"})
			continue
		}
		rep.add(Issue{Feature: idx, Code: it.code, Severity: SeverityWarning, Problem: "repaired",
			Message: "invalid geometry repaired with ST_MakeValid: " + reason, AreaKm2: changed})
	}
	return rows.Err()
}

// write inserts new regions and updates those whose code exists, parents first.
func (s *Store) write(ctx context.Context, q db.Querier, items []*item, byCode map[string]*item, rep *Report) error {
	order := append([]*item(nil), items...)
	sort.SliceStable(order, func(i, j int) bool { return levelRank[order[i].level] < levelRank[order[j].level] })
	for _, it := range order {
		if p, ok := byCode[it.parentCode]; ok && it.level != City {
			it.parentID = p.id
		}
		var (
			id         int64
			parentID   *int64
			parentCode *string
			level      Level
			inScope    bool
		)
		const lookup = `SELECT r.id, r.parent_id, p.code, r.level, sieve_in_scope(r.path)
			FROM regions r LEFT JOIN regions p ON p.id = r.parent_id WHERE r.code = $1`
		err := q.QueryRow(ctx, lookup, it.code).Scan(&id, &parentID, &parentCode, &level, &inScope)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			var pid *int64
			if it.level != City {
				pid = &it.parentID
			}
			const ins = `INSERT INTO regions (parent_id, level, code, name, kind, geom)
				SELECT $1, $2, $3, $4, $5, geom FROM region_load WHERE idx = $6 RETURNING id`
			if err := q.QueryRow(ctx, ins, pid, it.level, it.code, it.name, it.kind, it.idx).Scan(&it.id); err != nil {
				err = db.MapError(err)
				if errors.Is(err, apperr.ErrConflict) {
					rep.add(Issue{Feature: it.idx, Code: it.code, Severity: SeverityError, Problem: "code_taken",
						Message: "a region outside your area already has this code"})
					return nil
				}
				return fmt.Errorf("regions: import insert %s: %w", it.code, err)
			}
			rep.Created++
		case err != nil:
			return fmt.Errorf("regions: import lookup %s: %w", it.code, err)
		case !inScope:
			rep.add(Issue{Feature: it.idx, Code: it.code, Severity: SeverityError, Problem: "outside_scope",
				Message: "the region with this code is outside your area"})
			continue
		case level != it.level:
			rep.add(Issue{Feature: it.idx, Code: it.code, Severity: SeverityError, Problem: "cannot_move",
				Message: fmt.Sprintf("a region with this code exists at level %s; an import does not change a region's level", level)})
			continue
		default:
			if parentID != nil && *parentID != it.parentID {
				msg, err := s.move(ctx, q, id, it.parentID)
				if err != nil {
					return err
				}
				if msg != "" {
					rep.add(Issue{Feature: it.idx, Code: it.code, Severity: SeverityError, Problem: "cannot_move", Message: msg})
					continue
				}
				rep.add(Issue{Feature: it.idx, Code: it.code, Severity: SeverityWarning, Problem: "moved",
					Message: fmt.Sprintf("moved from parent %s to %s, with everything inside it", *parentCode, it.parentCode)})
				rep.Moved++
			}
			const upd = `UPDATE regions SET name = $2, kind = $3, geom = l.geom, updated_at = now()
				FROM region_load l WHERE regions.id = $1 AND l.idx = $4`
			if _, err := q.Exec(ctx, upd, id, it.name, it.kind, it.idx); err != nil {
				return fmt.Errorf("regions: import update %s: %w", it.code, db.MapError(err))
			}
			it.id, it.existed = id, true
			rep.Updated++
		}
		if _, err := q.Exec(ctx, `UPDATE region_load SET region_id = $1 WHERE idx = $2`, it.id, it.idx); err != nil {
			return fmt.Errorf("regions: import: %w", err)
		}
	}
	return nil
}

// move puts region id under newParent (both in the caller's area, checked when the file was
// read): its path and the path of everything inside it change, and so does every copy of those
// paths (sieve_repath, migration 0012), rewritten as the system in bulk mode: the region's own
// update is audited row by row, the rewritten copies in one summary (regions, repath, rows).
// It returns why it refused, or "".
func (s *Store) move(ctx context.Context, q db.Querier, id, newParent int64) (string, error) {
	var oldPath string
	var under bool
	err := q.QueryRow(ctx, `SELECT r.path::text, p.path <@ r.path FROM regions r, regions p
		WHERE r.id = $1 AND p.id = $2`, id, newParent).Scan(&oldPath, &under)
	if err != nil {
		return "", fmt.Errorf("regions: move %d: %w", id, err)
	}
	if under {
		return "a region cannot move inside itself", nil
	}
	var newPath string
	err = q.QueryRow(ctx, `UPDATE regions SET parent_id = $2, updated_at = now() WHERE id = $1 RETURNING path::text`,
		id, newParent).Scan(&newPath)
	if err != nil {
		return "", fmt.Errorf("regions: move %d: %w", id, db.MapError(err))
	}
	sum := audit.Summary{Entity: "regions", Action: "repath", RegionID: id}
	err = db.SystemBulk(ctx, q, sum, func(sum *audit.Summary) error {
		var rows int64
		if err := q.QueryRow(ctx, `SELECT sieve_repath($1::ltree, $2::ltree)`, oldPath, newPath).Scan(&rows); err != nil {
			return err
		}
		sum.Counts = map[string]int64{"rows": rows}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("regions: move %d from %s to %s: %w", id, oldPath, newPath, err)
	}
	return "", nil
}

// checkGeometry compares the regions written with their parents and siblings.
func (s *Store) checkGeometry(ctx context.Context, q db.Querier, frac, maxKm2 float64, rep *Report) error {
	const minArea = 1e-6 // km², 1 m²: below this a difference is floating-point noise

	// Nesting: the part of a region outside its parent.
	nesting := `SELECT l.idx, r.code, p.code, ` + gis.AreaKm2("ST_Difference(r.geom, p.geom)") + `, ` + gis.AreaKm2("r.geom") + `
		FROM region_load l JOIN regions r ON r.id = l.region_id JOIN regions p ON p.id = r.parent_id
		WHERE p.geom IS NOT NULL AND NOT ST_CoveredBy(r.geom, p.geom)
		ORDER BY l.idx`
	type overhang struct {
		idx         int
		code, other string
		out, area   float64
	}
	var clip []overhang
	err := each(ctx, q, nesting, func(r pgx.Rows) error {
		var o overhang
		if err := r.Scan(&o.idx, &o.code, &o.other, &o.out, &o.area); err != nil {
			return err
		}
		switch {
		case o.out > frac*o.area:
			rep.add(Issue{Feature: o.idx, Code: o.code, Severity: SeverityError, Problem: "outside_parent", Other: o.other,
				AreaKm2: o.out, Message: fmt.Sprintf("%.4f km² (%.1f%%) lies outside its parent %s", o.out, 100*o.out/o.area, o.other)})
		default:
			clip = append(clip, o)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, o := range clip {
		fix := `UPDATE regions r SET geom = ` + gis.MakeValidPolygonal("ST_Intersection(r.geom, p.geom)") + `
			FROM regions p, region_load l WHERE l.idx = $1 AND r.id = l.region_id AND p.id = r.parent_id`
		if _, err := q.Exec(ctx, fix, o.idx); err != nil {
			return fmt.Errorf("regions: clip to parent: %w", err)
		}
		if o.out >= minArea {
			rep.add(Issue{Feature: o.idx, Code: o.code, Severity: SeverityWarning, Problem: "clipped_to_parent", Other: o.other,
				AreaKm2: o.out, Message: fmt.Sprintf("a sliver of %.6f km² outside parent %s was cut off", o.out, o.other)})
		}
		if o.out > maxKm2 {
			rep.add(Issue{Feature: o.idx, Code: o.code, Severity: SeverityWarning, Problem: "large_overhang_clipped", Other: o.other,
				AreaKm2: o.out, Message: fmt.Sprintf("%.3f km² outside parent %s were cut off: more than %.2f km² is no sliver; "+
					"check the file's coordinates (a GCJ-02 file read as WGS-84 is ~500 m off)", o.out, o.other, maxKm2)})
		}
	}

	// Overlaps between siblings, each pair once (the later feature, or the one in the file,
	// is the one snapped).
	overlaps := `SELECT l.idx, a.code, b.code, coalesce(bl.idx, -1),
			` + gis.AreaKm2("ST_Intersection(a.geom, b.geom)") + `, least(` + gis.AreaKm2("a.geom") + `, ` + gis.AreaKm2("b.geom") + `)
		FROM region_load l JOIN regions a ON a.id = l.region_id
		JOIN regions b ON b.parent_id IS NOT DISTINCT FROM a.parent_id AND b.level = a.level AND b.id <> a.id
			AND ST_Intersects(a.geom, b.geom) AND NOT ST_Touches(a.geom, b.geom)
		LEFT JOIN region_load bl ON bl.region_id = b.id
		WHERE bl.idx IS NULL OR bl.idx < l.idx
		ORDER BY l.idx, b.code`
	type pair struct {
		idx, otherIdx int
		code, other   string
		area, smaller float64
	}
	var snap []pair
	err = each(ctx, q, overlaps, func(r pgx.Rows) error {
		var p pair
		if err := r.Scan(&p.idx, &p.code, &p.other, &p.otherIdx, &p.area, &p.smaller); err != nil {
			return err
		}
		switch {
		case p.area > frac*p.smaller:
			msg := fmt.Sprintf("overlaps %s by %.4f km² (%.1f%% of the smaller)", p.other, p.area, 100*p.area/p.smaller)
			rep.add(Issue{Feature: p.idx, Code: p.code, Severity: SeverityError, Problem: "overlap", Other: p.other, AreaKm2: p.area, Message: msg})
			if p.otherIdx >= 0 {
				rep.add(Issue{Feature: p.otherIdx, Code: p.other, Severity: SeverityError, Problem: "overlap", Other: p.code, AreaKm2: p.area,
					Message: fmt.Sprintf("overlaps %s by %.4f km²", p.code, p.area)})
			}
		default:
			snap = append(snap, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, p := range snap {
		fix := `UPDATE regions a SET geom = ` + gis.MakeValidPolygonal("ST_Difference(a.geom, b.geom)") + `
			FROM regions b, region_load l WHERE l.idx = $1 AND a.id = l.region_id AND b.code = $2`
		if _, err := q.Exec(ctx, fix, p.idx, p.other); err != nil {
			return fmt.Errorf("regions: snap sliver: %w", err)
		}
		if p.area >= minArea {
			rep.add(Issue{Feature: p.idx, Code: p.code, Severity: SeverityWarning, Problem: "sliver_overlap_snapped", Other: p.other,
				AreaKm2: p.area, Message: fmt.Sprintf("a sliver of %.6f km² shared with %s was removed from this region", p.area, p.other)})
		}
		if p.area > maxKm2 {
			rep.add(Issue{Feature: p.idx, Code: p.code, Severity: SeverityWarning, Problem: "large_overlap_snapped", Other: p.other,
				AreaKm2: p.area, Message: fmt.Sprintf("an overlap of %.3f km² with %s was cut from this region (%.2f%% of the smaller): "+
					"more than %.2f km² is no sliver; check the file's coordinates (a GCJ-02 file read as WGS-84 is ~500 m off)",
					p.area, p.other, 100*p.area/p.smaller, maxKm2)})
		}
	}

	// Gaps: parts of a parent covered by none of its children.
	gaps := `WITH parents AS (
			SELECT DISTINCT r.parent_id AS id FROM region_load l JOIN regions r ON r.id = l.region_id
			WHERE r.parent_id IS NOT NULL)
		SELECT coalesce(pl.idx, -1), p.code, ` + gis.AreaKm2("p.geom") + `, ` + gis.AreaKm2("d.geom") + `
		FROM parents x JOIN regions p ON p.id = x.id
		LEFT JOIN region_load pl ON pl.region_id = p.id
		CROSS JOIN LATERAL (SELECT (ST_Dump(ST_Difference(p.geom,
			(SELECT ST_Union(c.geom) FROM regions c WHERE c.parent_id = p.id AND c.geom IS NOT NULL)))).geom) d
		WHERE p.geom IS NOT NULL
		ORDER BY p.code`
	type gapSum struct {
		idx        int
		slivers    int
		sliverArea float64
	}
	sums := map[string]*gapSum{}
	var codes []string
	err = each(ctx, q, gaps, func(r pgx.Rows) error {
		var (
			idx           int
			code          string
			parent, piece float64
		)
		if err := r.Scan(&idx, &code, &parent, &piece); err != nil {
			return err
		}
		if piece < minArea {
			return nil
		}
		if piece < frac*parent {
			if sums[code] == nil {
				sums[code] = &gapSum{idx: idx}
				codes = append(codes, code)
			}
			sums[code].slivers++
			sums[code].sliverArea += piece
			return nil
		}
		rep.add(Issue{Feature: idx, Code: code, Severity: SeverityWarning, Problem: "gap", AreaKm2: piece,
			Message: fmt.Sprintf("%.4f km² of %s lies in none of its children", piece, code)})
		return nil
	})
	if err != nil {
		return err
	}
	for _, c := range codes {
		g := sums[c]
		rep.add(Issue{Feature: g.idx, Code: c, Severity: SeverityWarning, Problem: "sliver_gap", AreaKm2: g.sliverArea,
			Message: fmt.Sprintf("%d sliver gaps (%.6f km² in all) between the children of %s", g.slivers, g.sliverArea, c)})
	}
	return nil
}

// each runs a query and calls fn for every row.
func each(ctx context.Context, q db.Querier, sql string, fn func(pgx.Rows) error, args ...any) error {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return fmt.Errorf("regions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("regions: %w", err)
	}
	return nil
}
