package premises

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/twpayne/go-geom"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/sieve-city/sieve/gis"
	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/audit"
	"github.com/sieve-city/sieve/internal/db"
)

// Issue is one problem of an import or of a premise, for the per-row report.
type Issue struct {
	Row     int    `json:"row,omitempty"`     // CSV: line number in the file (the header is line 1)
	Feature *int   `json:"feature,omitempty"` // GeoJSON: 0-based index of the feature
	Field   string `json:"field,omitempty"`
	Problem string `json:"problem"` // stable code, e.g. invalid_location, outside_scope
	Message string `json:"message"`
}

// ImportReport is what an import did.
type ImportReport struct {
	Received     int     `json:"received"`
	Created      int64   `json:"created"`
	InCells      int64   `json:"inCells"`      // placed in a grid cell
	OutsideCells int64   `json:"outsideCells"` // inside a region but in no cell yet
	Issues       []Issue `json:"issues"`
}

// MaxImportRows bounds one import.
const MaxImportRows = 1_000_000

// Batch is a parsed import: rows ready to store, or the problems that stop it.
type Batch struct {
	rows   []row
	where  []Issue // where[i] locates rows[i] in the file (Row or Feature set)
	Issues []Issue
}

// newBatch sizes a batch for about n rows: growing a slice of 400,000 rows by appending cost
// more than the rest of the parse, in copies and garbage collection.
func newBatch(n int) *Batch {
	n = min(n, MaxImportRows)
	return &Batch{rows: make([]row, 0, n), where: make([]Issue, 0, n)}
}

// Len is the number of rows read.
func (b *Batch) Len() int { return len(b.rows) }

// column names accepted in CSV headers and GeoJSON properties, lower-cased.
var columns = map[string][]string{
	"lon":          {"lon", "lng", "long", "longitude", "x", "经度"},
	"lat":          {"lat", "latitude", "y", "纬度"},
	"name":         {"name", "名称", "场所名称", "单位名称", "企业名称", "户主姓名"},
	"kind":         {"kind", "type", "类型", "类别", "场所类型"},
	"address":      {"address", "addr", "地址", "详细地址"},
	"contactName":  {"contact", "contact_name", "contactname", "owner", "legal_person", "联系人", "法人", "法定代表人", "户主"},
	"contactPhone": {"phone", "contact_phone", "contactphone", "tel", "电话", "联系电话", "联系方式"},
	"creditCode":   {"credit_code", "creditcode", "uscc", "统一社会信用代码", "信用代码"},
	"tags":         {"tags", "tag", "标签"},
	"ref":          {"ref", "id", "编号", "序号"},
}

func fieldOf(header string) string {
	h := strings.ToLower(strings.TrimSpace(strings.TrimPrefix(header, "\ufeff")))
	for f, names := range columns {
		for _, n := range names {
			if h == n {
				return f
			}
		}
	}
	return ""
}

// decodeText returns data as UTF-8: files saved by Excel on Chinese Windows are GBK (GB18030),
// which is recognised by not being valid UTF-8.
func decodeText(data []byte) ([]byte, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if utf8.Valid(data) {
		return data, nil
	}
	out, err := simplifiedchinese.GB18030.NewDecoder().Bytes(data)
	if err != nil {
		return nil, fmt.Errorf("premises: text is neither UTF-8 nor GBK: %w", err)
	}
	return out, nil
}

func splitTags(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ';' || r == ',' || r == '、' || r == '|' || r == '；' || r == '，' })
}

// Add checks one premise and adds it to the batch (or its problems to Issues); row numbers it
// in reports. Tools that build imports in code (sieve demo) use it.
func (b *Batch) Add(n NewPremise, crs gis.CRS, row int) {
	b.add(n, crs, Issue{Row: row})
}

func (b *Batch) add(n NewPremise, crs gis.CRS, where Issue) {
	r, probs := check(n, crs)
	for _, p := range probs {
		is := where
		is.Field, is.Problem, is.Message = p.field, p.problem, p.message
		b.Issues = append(b.Issues, is)
	}
	if len(probs) == 0 {
		b.rows = append(b.rows, r)
		b.where = append(b.where, where)
	}
}

// ParseCSV reads premises from CSV with a header row. lon/lat columns are required (names such
// as lon, lng, longitude, 经度 / lat, latitude, 纬度), in crs (GCJ-02 is converted). UTF-8 and
// GBK files are accepted; a ';' or tab separator is recognised from the header line.
func ParseCSV(data []byte, crs gis.CRS) (*Batch, error) {
	text, err := decodeText(data)
	if err != nil {
		return nil, apperr.Invalidf("invalid_encoding", "文件编码无法识别（应为 UTF-8 或 GBK）", "%v", err)
	}
	head, _, _ := bytes.Cut(text, []byte("\n"))
	cr := csv.NewReader(bytes.NewReader(text))
	switch {
	case bytes.Count(head, []byte("\t")) > bytes.Count(head, []byte(",")):
		cr.Comma = '\t'
	case bytes.Count(head, []byte(";")) > bytes.Count(head, []byte(",")):
		cr.Comma = ';'
	}
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		return nil, apperr.Invalidf("invalid_csv", "CSV 文件无法读取", "CSV header: %v", err)
	}
	idx := map[string]int{}
	for i, h := range header {
		if f := fieldOf(h); f != "" {
			if _, dup := idx[f]; !dup {
				idx[f] = i
			}
		}
	}
	if _, ok := idx["lon"]; !ok {
		return nil, apperr.Invalidf("missing_columns", "CSV 缺少经度/纬度列", "CSV needs lon and lat columns (lon/lng/longitude/经度, lat/latitude/纬度)")
	}
	if _, ok := idx["lat"]; !ok {
		return nil, apperr.Invalidf("missing_columns", "CSV 缺少经度/纬度列", "CSV needs lon and lat columns (lon/lng/longitude/经度, lat/latitude/纬度)")
	}
	if _, ok := idx["name"]; !ok {
		return nil, apperr.Invalidf("missing_columns", "CSV 缺少名称列", "CSV needs a name column (name/名称)")
	}
	b := newBatch(bytes.Count(text, []byte("\n")))
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			b.Issues = append(b.Issues, Issue{Row: line, Problem: "invalid_csv", Message: err.Error()})
			if len(b.Issues) > 1000 {
				break
			}
			continue
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		get := func(f string) string {
			if i, ok := idx[f]; ok && i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		n := NewPremise{Kind: get("kind"), Name: get("name"), Address: get("address"), ContactName: get("contactName"),
			ContactPhone: get("contactPhone"), CreditCode: get("creditCode"), Tags: splitTags(get("tags")), Ref: get("ref")}
		where := Issue{Row: line}
		lon, err1 := strconv.ParseFloat(get("lon"), 64)
		lat, err2 := strconv.ParseFloat(get("lat"), 64)
		if err1 != nil || err2 != nil {
			where.Field, where.Problem = "lon", "invalid_location"
			where.Message = fmt.Sprintf("lon %q / lat %q are not numbers", get("lon"), get("lat"))
			b.Issues = append(b.Issues, where)
			continue
		}
		n.Lon, n.Lat = &lon, &lat
		b.add(n, crs, where)
		if len(b.rows)+len(b.Issues) > MaxImportRows {
			return nil, apperr.Invalidf("too_many_rows", "单次导入行数过多", "at most %d rows per import", MaxImportRows)
		}
	}
	return b, nil
}

// ParseGeoJSON reads premises from GeoJSON Point features (a FeatureCollection or a bare array
// of features); properties use the same names as the CSV columns. crs overrides the
// document's own "crs" member when not empty.
func ParseGeoJSON(data []byte, crs gis.CRS) (*Batch, error) {
	features, declared, err := gis.ParseFeaturesCRS(data)
	if err != nil {
		var fe *gis.FeatureError
		if errors.As(err, &fe) {
			i := fe.Index
			return nil, apperr.Invalidf("invalid_geojson", "GeoJSON 格式错误", "%v", err).
				WithDetails([]Issue{{Feature: &i, Problem: "invalid_feature", Message: fe.Err.Error()}})
		}
		return nil, apperr.Invalidf("invalid_geojson", "GeoJSON 格式错误", "%v", err)
	}
	if crs == "" {
		crs = declared
	}
	b := newBatch(len(features))
	for i, f := range features {
		i := i
		where := Issue{Feature: &i}
		pt, ok := f.Geometry.(*geom.Point)
		if !ok {
			where.Problem, where.Message = "not_a_point", "premises are points; the geometry must be a Point"
			b.Issues = append(b.Issues, where)
			continue
		}
		prop := func(field string) string {
			for k, v := range f.Properties {
				if fieldOf(k) == field && v != nil {
					switch v := v.(type) {
					case string:
						return strings.TrimSpace(v)
					case json.Number:
						return v.String()
					default:
						return strings.TrimSpace(fmt.Sprint(v))
					}
				}
			}
			return ""
		}
		var tags []string
		for k, v := range f.Properties {
			if fieldOf(k) == "tags" {
				switch v := v.(type) {
				case []any:
					for _, t := range v {
						tags = append(tags, fmt.Sprint(t))
					}
				case string:
					tags = splitTags(v)
				}
			}
		}
		ref := prop("ref")
		if ref == "" && f.ID != nil {
			ref = fmt.Sprint(f.ID)
		}
		c := pt.FlatCoords()
		lon, lat := c[0], c[1]
		b.add(NewPremise{Kind: prop("kind"), Name: prop("name"), Address: prop("address"), ContactName: prop("contactName"),
			ContactPhone: prop("contactPhone"), CreditCode: prop("creditCode"), Tags: tags, Ref: ref,
			Lon: &lon, Lat: &lat}, crs, where)
	}
	return b, nil
}

func geomPoint(lon, lat float64) *geom.Point {
	return geom.NewPointFlat(geom.XY, []float64{lon, lat}).SetSRID(4326)
}

// errRejected is the error of an import that stored nothing; its details list every problem.
func errRejected(received int, issues []Issue) error {
	const maxIssues = 1000
	n := len(issues)
	if len(issues) > maxIssues {
		issues = issues[:maxIssues]
	}
	return apperr.Invalidf("import_rejected", "导入未执行：文件中有错误，请按报告逐行修正后重新导入",
		"nothing imported: %d problems, see details", n).WithDetails(ImportReport{Received: received, Issues: issues})
}

// Import stores a parsed batch, all or nothing: any row that is invalid, lies outside the
// caller's area, or repeats a ref stops the whole import with a per-row report.
//
// The steps: COPY the rows into a temporary table; check refs; place every row at once
// (placeManySQL) and check the places against the caller's area; one INSERT ... SELECT into the
// register, a bulk change (db.Bulk) whose one summary audit entry (premises, import, the
// counts) replaces one per row. A large import into a register smaller than itself (the city's
// first load) drops the register's spatial index and builds it again after the INSERT, which is
// several times cheaper than growing it row by row; the premises table is then locked against
// readers until the import commits. Any import of RebuildIndexAt rows or more keeps other
// writers of premises waiting until it commits.
func (s *Store) Import(ctx context.Context, q db.Querier, b *Batch, by int64) (ImportReport, error) {
	rep := ImportReport{Received: len(b.rows) + countRows(b.Issues), Issues: []Issue{}}
	if len(b.Issues) > 0 {
		return rep, errRejected(rep.Received, b.Issues)
	}
	if len(b.rows) == 0 {
		return rep, apperr.Invalidf("empty_import", "文件中没有场所", "the file holds no premises")
	}
	// JIT compilation costs more than it saves here; the placing sort wants memory.
	const setup = `SET LOCAL jit = off; SET LOCAL work_mem = '256MB';
		CREATE TEMP TABLE premises_load (
			idx int, kind text, name text, address text, contact_name text, contact_phone text, credit_code text,
			tags text[], ref text, lon float8, lat float8) ON COMMIT DROP`
	if _, err := q.Exec(ctx, setup); err != nil {
		return rep, fmt.Errorf("premises: import: %w", err)
	}
	if len(b.rows) >= RebuildIndexAt {
		// Large imports go one at a time and keep other writers out until they commit (readers
		// go on): two of them must not both hold the register and then both want it alone to
		// drop its index, which would deadlock.
		if _, err := q.Exec(ctx, `LOCK TABLE premises IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return rep, fmt.Errorf("premises: import: %w", err)
		}
	}
	cols := []string{"idx", "kind", "name", "address", "contact_name", "contact_phone", "credit_code", "tags", "ref", "lon", "lat"}
	i := 0
	src := pgx.CopyFromFunc(func() ([]any, error) {
		if i >= len(b.rows) {
			return nil, nil
		}
		r := b.rows[i]
		i++
		return []any{i - 1, string(r.kind), r.name, r.address, r.contactName, r.contactPhone, r.creditCode,
			r.tags, r.ref, r.lon, r.lat}, nil
	})
	if _, err := q.CopyFrom(ctx, pgx.Identifier{"premises_load"}, cols, src); err != nil {
		return rep, fmt.Errorf("premises: import copy: %w", err)
	}

	// Refs already in the register (that the caller can see) or repeated in the file.
	const dupRefs = `SELECT idx FROM (
			SELECT l.idx, row_number() OVER (PARTITION BY l.ref ORDER BY l.idx) AS n,
				EXISTS (SELECT 1 FROM premises p WHERE p.ref = l.ref) AS taken
			FROM premises_load l WHERE l.ref <> '') x
		WHERE n > 1 OR taken
		ORDER BY idx LIMIT 1000`
	if b.hasRefs() {
		issues, err := s.rowIssues(ctx, q, b, dupRefs, "ref", "ref_taken", "another premise already has this ref")
		if err == nil && len(issues) > 0 {
			err = errRejected(rep.Received, issues)
		}
		if err != nil {
			return rep, err
		}
	}

	// Where each row lands, and whether that is inside the caller's area.
	for _, sql := range placeManySQL {
		if _, err := q.Exec(ctx, sql); err != nil {
			return rep, fmt.Errorf("premises: import place: %w", err)
		}
	}
	total := int64(len(b.rows))
	var inCells, located int64
	if err := q.QueryRow(ctx, `SELECT count(*) FROM premises_places`).Scan(&inCells); err != nil {
		return rep, fmt.Errorf("premises: import place: %w", err)
	}
	located = inCells
	if inCells < total {
		tag, err := q.Exec(ctx, placeManyAreaSQL)
		if err != nil {
			return rep, fmt.Errorf("premises: import place: %w", err)
		}
		located += tag.RowsAffected()
	}
	var unrestricted bool
	if err := q.QueryRow(ctx, `SELECT sieve_unrestricted()`).Scan(&unrestricted); err != nil {
		return rep, fmt.Errorf("premises: import: %w", err)
	}
	if !unrestricted {
		const outside = `SELECT l.idx FROM premises_load l LEFT JOIN premises_places p ON p.idx = l.idx
			WHERE NOT sieve_in_scope(p.path) ORDER BY l.idx LIMIT 1000`
		issues, err := s.rowIssues(ctx, q, b, outside, "lon", "outside_scope", "the location is outside your area")
		if err != nil {
			return rep, err
		}
		if len(issues) > 0 {
			return rep, errRejected(rep.Received, issues)
		}
	}

	rebuild, err := dropSpatialIndex(ctx, q, total)
	if err != nil {
		return rep, err
	}
	const insert = `INSERT INTO premises (kind, name, address, contact_name, contact_phone, credit_code, tags, source, ref,
			geom, cell_id, region_path, created_by)
		SELECT l.kind, l.name, l.address, l.contact_name, l.contact_phone, l.credit_code, l.tags, 'register', l.ref,
			ST_SetSRID(ST_MakePoint(l.lon, l.lat), 4326), p.cell_id, p.path, nullif($1::bigint, 0)
		FROM premises_load l LEFT JOIN premises_places p ON p.idx = l.idx`
	outsideCells := located - inCells
	sum := audit.Summary{Entity: "premises", Action: "import"}
	err = db.Bulk(ctx, q, sum, func(sum *audit.Summary) error {
		tag, err := q.Exec(ctx, insert, by)
		if err != nil {
			return fmt.Errorf("premises: import insert: %w", mapWriteError(err))
		}
		sum.Counts = map[string]int64{"created": tag.RowsAffected(), "inCells": inCells, "outsideCells": outsideCells}
		return nil
	})
	if err != nil {
		return rep, err
	}
	if rebuild != "" {
		if _, err := q.Exec(ctx, rebuild); err != nil {
			return rep, fmt.Errorf("premises: import: rebuild spatial index: %w", err)
		}
	}
	rep.Created, rep.InCells, rep.OutsideCells = total, inCells, outsideCells
	if total-located > 0 {
		rep.Issues = append(rep.Issues, Issue{Problem: "outside_regions",
			Message: fmt.Sprintf("%d premises lie in no region; only the city office sees them until regions cover them", total-located)})
	}
	if rep.OutsideCells > 0 {
		rep.Issues = append(rep.Issues, Issue{Problem: "outside_cells",
			Message: fmt.Sprintf("%d premises lie in no grid cell yet; they are placed when cells are made", rep.OutsideCells)})
	}
	return rep, nil
}

// RebuildIndexAt is the smallest import that drops the register's spatial index and builds it
// again afterwards (when the register also holds fewer premises than the import brings).
// Measured on 400,000 points: growing the GiST index row by row cost 2-3.5 s more than
// building it once after the rows were in (about 0.8 s).
const RebuildIndexAt = 20_000

// dropSpatialIndex drops premises_geom for an import of n rows when that pays (RebuildIndexAt)
// and the connection's role owns the table, and returns the statement that builds it again
// (read from the catalogue, so migrations stay its one definition), or "" when it kept it.
func dropSpatialIndex(ctx context.Context, q db.Querier, n int64) (string, error) {
	if n < RebuildIndexAt {
		return "", nil
	}
	const sql = `SELECT pg_get_indexdef(i.indexrelid)
		FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid JOIN pg_class x ON x.oid = i.indexrelid
		WHERE t.oid = 'premises'::regclass AND x.relname = 'premises_geom'
		  AND pg_has_role(t.relowner, 'USAGE') AND greatest(t.reltuples, 0) < $1`
	var def string
	err := q.QueryRow(ctx, sql, n).Scan(&def)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("premises: import: %w", err)
	}
	if _, err := q.Exec(ctx, `DROP INDEX premises_geom`); err != nil {
		return "", fmt.Errorf("premises: import: drop spatial index: %w", err)
	}
	return def, nil
}

func (b *Batch) hasRefs() bool {
	for _, r := range b.rows {
		if r.ref != "" {
			return true
		}
	}
	return false
}

func countRows(issues []Issue) int {
	seen := map[string]bool{}
	for _, is := range issues {
		k := fmt.Sprint(is.Row)
		if is.Feature != nil {
			k = "f" + fmt.Sprint(*is.Feature)
		}
		seen[k] = true
	}
	return len(seen)
}

// rowIssues runs a query returning load indexes and reports each as a problem.
func (s *Store) rowIssues(ctx context.Context, q db.Querier, b *Batch, sql, field, problem, msg string) ([]Issue, error) {
	rows, err := q.Query(ctx, sql)
	if err != nil {
		return nil, fmt.Errorf("premises: import check: %w", err)
	}
	defer rows.Close()
	var out []Issue
	for rows.Next() {
		var idx int
		if err := rows.Scan(&idx); err != nil {
			return nil, err
		}
		is := b.where[idx]
		is.Field, is.Problem, is.Message = field, problem, msg
		out = append(out, is)
	}
	return out, rows.Err()
}
