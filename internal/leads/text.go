package leads

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/sieve-city/sieve/gis"
	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/db"
)

// Column is one column a source reads: its field name and the header names it is known by
// (compared lower-cased, spaces trimmed).
type Column struct {
	Field    string
	Names    []string
	Required bool
}

// Table reads a CSV file with a header row by column names: the separator (',', ';' or tab)
// is recognised from the header line, every record knows its line number.
type Table struct {
	r    *csv.Reader
	idx  map[string]int
	rec  []string
	line int
	err  error
}

// OpenTable reads the header of a CSV body and maps cols onto it. A file without some required
// columns is refused as a whole: 422 missing_columns, naming them (details: the list).
func OpenTable(body io.Reader, cols []Column) (*Table, error) {
	br := bufio.NewReaderSize(body, 64<<10)
	head, _ := br.Peek(4096)
	first, _, _ := bytes.Cut(head, []byte("\n"))
	r := csv.NewReader(br)
	switch {
	case bytes.Count(first, []byte("\t")) > bytes.Count(first, []byte(",")):
		r.Comma = '\t'
	case bytes.Count(first, []byte(";")) > bytes.Count(first, []byte(",")):
		r.Comma = ';'
	}
	r.FieldsPerRecord = -1
	r.LazyQuotes = true
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil, apperr.Invalidf("empty_file", "文件为空", "the file is empty")
	}
	if err != nil {
		return nil, apperr.Invalidf("invalid_csv", "CSV 文件无法读取", "CSV header: %v", err)
	}
	t := &Table{r: r, idx: map[string]int{}}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		for _, c := range cols {
			if _, seen := t.idx[c.Field]; seen {
				continue
			}
			for _, n := range c.Names {
				if h == strings.ToLower(n) {
					t.idx[c.Field] = i
				}
			}
		}
	}
	var missing []string
	for _, c := range cols {
		if _, ok := t.idx[c.Field]; c.Required && !ok {
			missing = append(missing, c.Names[0]+"（"+strings.Join(c.Names[1:], "/")+"）")
		}
	}
	if len(missing) > 0 {
		return nil, apperr.Invalidf("missing_columns", "文件缺少必需的列："+strings.Join(missing, "、"),
			"the file lacks required columns: %s", strings.Join(missing, ", ")).WithDetails(map[string]any{"missing": missing})
	}
	return t, nil
}

// Has says whether the file has the column of field.
func (t *Table) Has(field string) bool { _, ok := t.idx[field]; return ok }

// Next reads the next record; false at the end. A record CSV cannot read is a LineError.
// Blank lines are skipped. An error of the body itself (its encoding, its size, the
// connection) ends the reading too: Err then says it.
func (t *Table) Next() (ok bool, bad *LineError) {
	for {
		rec, err := t.r.Read()
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				t.err = err
				return false, nil
			}
			t.line = pe.Line
			return true, &LineError{Line: t.line, Code: "invalid_csv", Message: "该行 CSV 格式错误：" + err.Error()}
		}
		t.line, _ = t.r.FieldPos(0)
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		t.rec = rec
		return true, nil
	}
}

// Err is the error of the body that ended the reading (nil at its end): the service, which
// owns the body, answers it instead of the import.
func (t *Table) Err() error { return t.err }

// Line is the line number of the current record (the header is line 1).
func (t *Table) Line() int { return t.line }

// Get is the current record's value of field, trimmed ("" when the column is absent).
func (t *Table) Get(field string) string {
	if i, ok := t.idx[field]; ok && i < len(t.rec) {
		return strings.TrimSpace(t.rec[i])
	}
	return ""
}

// PositionColumns are the columns of an optional position: longitude, latitude and the
// coordinate system they are in (WGS-84 when absent).
var PositionColumns = []Column{
	{Field: "lon", Names: []string{"lon", "lng", "longitude", "x", "经度"}},
	{Field: "lat", Names: []string{"lat", "latitude", "y", "纬度"}},
	{Field: "crs", Names: []string{"crs", "坐标系"}},
}

// Extent is the box of the city's regions (every region shape), for telling a position outside
// the city from one with longitude and latitude swapped. A city without shapes has !Known.
type Extent struct {
	MinLon, MinLat, MaxLon, MaxLat float64
	Known                          bool
}

// CityExtent reads the extent of every region shape (region_shapes, readable by anyone: shapes
// are not secret, the rows in them are).
func CityExtent(ctx context.Context, q db.Querier) (Extent, error) {
	var e Extent
	var x0, y0, x1, y1 *float64
	const sql = `SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom) AS e FROM region_shapes) x`
	if err := q.QueryRow(ctx, sql).Scan(&x0, &y0, &x1, &y1); err != nil {
		return e, fmt.Errorf("leads: city extent: %w", err)
	}
	if x0 != nil {
		e = Extent{MinLon: *x0, MinLat: *y0, MaxLon: *x1, MaxLat: *y1, Known: true}
	}
	return e, nil
}

// Contains says whether the extent holds the point.
func (e Extent) Contains(lon, lat float64) bool {
	return e.Known && lon >= e.MinLon && lon <= e.MaxLon && lat >= e.MinLat && lat <= e.MaxLat
}

// Position reads the current record's optional position: nil, nil when both cells are empty;
// otherwise WGS-84 degrees, or the LineError that refuses the row: not numbers
// (invalid_position), one of the two missing (incomplete_position), metres of a projected
// system (projected_coordinates), a coordinate system other than WGS-84/CGCS2000/GCJ-02
// (unsupported_crs), longitude and latitude swapped (lat_lon_swapped), outside the city's
// extent (outside_city).
func (t *Table) Position(ext Extent) (*[2]float64, *LineError) {
	ls, as := t.Get("lon"), t.Get("lat")
	if ls == "" && as == "" {
		return nil, nil
	}
	bad := func(code, msg string) *LineError { return &LineError{Line: t.line, Code: code, Message: msg} }
	if ls == "" || as == "" {
		return nil, bad("incomplete_position", "经度、纬度须同时填写")
	}
	lon, err1 := strconv.ParseFloat(ls, 64)
	lat, err2 := strconv.ParseFloat(as, 64)
	if err1 != nil || err2 != nil || math.IsNaN(lon) || math.IsNaN(lat) || math.IsInf(lon, 0) || math.IsInf(lat, 0) {
		return nil, bad("invalid_position", fmt.Sprintf("经纬度不是数字（经度 %q，纬度 %q）", ls, as))
	}
	crs, err := gis.ParseCRS(t.Get("crs"))
	if err != nil {
		return nil, bad("unsupported_crs", fmt.Sprintf("不支持的坐标系 %q：请使用 WGS-84、CGCS2000 或 GCJ-02 经纬度（百度 BD-09 与投影坐标须先转换）", t.Get("crs")))
	}
	// Swapped before projected: a latitude column holding 113.4 is not metres.
	if (ext.Known && !ext.Contains(lon, lat) && ext.Contains(lat, lon)) ||
		(!ext.Known && math.Abs(lat) > 90 && math.Abs(lat) <= 180 && math.Abs(lon) <= 90) {
		return nil, bad("lat_lon_swapped", fmt.Sprintf("经纬度疑似填反（经度列为 %s，纬度列为 %s）：请交换后重新导入", ls, as))
	}
	if math.Abs(lon) > 180 || math.Abs(lat) > 90 {
		return nil, bad("projected_coordinates", fmt.Sprintf("坐标 %s, %s 不是经纬度（疑似投影坐标，单位为米）：请转换为 WGS-84 经纬度", ls, as))
	}
	if crs == gis.GCJ02 && !gis.OutOfChina(lon, lat) {
		lon, lat = gis.GCJ02ToWGS84(lon, lat)
	}
	if ext.Known && !ext.Contains(lon, lat) {
		return nil, bad("outside_city", fmt.Sprintf("位置（%s, %s）不在本市范围内", ls, as))
	}
	return &[2]float64{lon, lat}, nil
}
