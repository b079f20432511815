package tracks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/leads"
)

// The file's shape: a header row, then one point a row, read by the leads' one CSV reader
// (leads.OpenTable: columns by name in any order, English or Chinese, separator ',', ';' or
// tab, blank lines skipped; other columns are ignored) and its one position rule
// (Table.Position: WGS-84, CGCS2000 or GCJ-02 by a 坐标系/crs column, swapped, projected and
// outside the city refused):
//
//	车牌号 / plate / 车牌 / 车牌号码       required, the vehicle
//	定位时间 / time / 时间 / GPS时间       required, with its zone: 2024-05-01T08:00:00+08:00
//	                                   (a space for the T, '/' in the date, fractions of
//	                                   seconds, +0800, +08 and Z too; kept to the second)
//	经度 / lon, 纬度 / lat                required, degrees (北斗 CGCS2000 is WGS-84 here)
//	速度 / speed                          optional, km/h, 0-300
//	方向 / heading / direction / course   optional, degrees 0-360
var trackColumns = append([]leads.Column{
	{Field: "plate", Names: []string{"车牌号", "plate", "车牌", "车牌号码", "vehicle"}, Required: true},
	{Field: "time", Names: []string{"定位时间", "time", "时间", "gps时间", "timestamp"}, Required: true},
	{Field: "speed", Names: []string{"速度", "speed"}},
	{Field: "heading", Names: []string{"方向", "heading", "direction", "course"}},
}, requirePosition(leads.PositionColumns)...)

// requirePosition is the leads' position columns with longitude and latitude required.
func requirePosition(cols []leads.Column) []leads.Column {
	out := slices.Clone(cols)
	for i := range out {
		if out[i].Field == "lon" || out[i].Field == "lat" {
			out[i].Required = true
		}
	}
	return out
}

// rows is the COPY source: it reads the file one row at a time, keeps the good ones going and
// notes the bad ones, so neither the file nor its points are ever held here.
type rows struct {
	t        *leads.Table
	ext      leads.Extent
	vehicles map[string]int32 // plate → its number in this import
	plates   []string         // by number
	errs     []leads.LineError
	more     int // refusals past MaxLineErrors
	vals     []any
}

func (s *rows) refuse(e leads.LineError) {
	if len(s.errs) < MaxLineErrors {
		s.errs = append(s.errs, e)
		return
	}
	s.more++
}

// Next reads up to the next good row.
func (s *rows) Next() bool {
	for {
		ok, bad := s.t.Next()
		if !ok {
			return false
		}
		if bad != nil {
			s.refuse(*bad)
			continue
		}
		if bad := s.parse(); bad != nil {
			s.refuse(*bad)
			continue
		}
		return true
	}
}

// parse checks the current row and, when it is good, sets the values COPY sends.
func (s *rows) parse() *leads.LineError {
	t := s.t
	line := t.Line()
	bad := func(code, msg string) *leads.LineError { return &leads.LineError{Line: line, Code: code, Message: msg} }
	plate := cleanPlate(t.Get("plate"))
	if plate == "" {
		return bad("missing_plate", "车牌号为空")
	}
	if len([]rune(plate)) > 20 {
		return bad("invalid_plate", "车牌号过长："+t.Get("plate"))
	}
	raw := t.Get("time")
	at, code := parseTime(raw)
	switch {
	case code == "time_without_zone":
		return bad(code, fmt.Sprintf("时间 %q 没有时区，应写作 2024-05-01T08:00:00+08:00", raw))
	case code != "":
		return bad("invalid_time", fmt.Sprintf("时间 %q 无法识别，应写作 2024-05-01T08:00:00+08:00", raw))
	case at.Unix() < minTime || at.Unix() >= maxTime:
		return bad("invalid_time", fmt.Sprintf("时间 %q 不在 2000–2099 年之间", raw))
	}
	pos, perr := t.Position(s.ext)
	if perr != nil {
		return perr
	}
	if pos == nil {
		return bad("missing_position", "经度、纬度为空")
	}
	if v := t.Get("speed"); v != "" {
		if x, err := number(v); err != nil || x < 0 || x > 300 {
			return bad("invalid_speed", fmt.Sprintf("速度 %q 应为 0–300 之间的数字（km/h）", v))
		}
	}
	if v := t.Get("heading"); v != "" {
		if x, err := number(v); err != nil || x < 0 || x > 360 {
			return bad("invalid_heading", fmt.Sprintf("方向 %q 应为 0–360 之间的数字（度）", v))
		}
	}
	v, ok := s.vehicles[plate]
	if !ok {
		if len(s.plates) >= MaxVehicles {
			return bad("too_many_vehicles", fmt.Sprintf("一个文件最多 %d 辆车", MaxVehicles))
		}
		v = int32(len(s.plates))
		s.vehicles[plate] = v
		s.plates = append(s.plates, plate)
	}
	s.vals[0], s.vals[1], s.vals[2] = int64(v)<<32|at.Unix(), pos[0], pos[1]
	return nil
}

// The times a fix may have (Unix seconds, 2000-01-01 to 2099-12-31): the stays' key holds
// the time in its low 32 bits.
const minTime, maxTime = 946684800, 4102444800

// MaxVehicles bounds the distinct plates of one file (a province's fleet fits), and so the
// memory their numbering takes.
const MaxVehicles = 200_000

// Values are the current row's.
func (s *rows) Values() ([]any, error) { return s.vals, nil }

// Err is the body's own error (its encoding, its size, the connection: leads.Table.Err), which
// ends the COPY; bad rows are refused instead of stopping it.
func (s *rows) Err() error { return s.t.Err() }

func number(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err == nil && (math.IsNaN(v) || math.IsInf(v, 0)) {
		err = errors.New("not finite")
	}
	return v, err
}

// The layouts a time may come in once its date separators are '-' and its T is a T.
var zoned = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999-0700", "2006-01-02T15:04:05.999999999-07"}

// parseTime reads a time with its zone; code is "" when it did, else time_without_zone or bad_time.
func parseTime(raw string) (time.Time, string) {
	s := strings.TrimSpace(raw)
	if len(s) > 10 && (s[4] == '/' || s[10] == ' ') {
		b := []byte(s)
		if b[4] == '/' && b[7] == '/' {
			b[4], b[7] = '-', '-'
		}
		if b[10] == ' ' {
			b[10] = 'T'
		}
		s = string(b)
	}
	// "…08:00:00 +08:00": the zone after a space.
	if i := strings.LastIndexByte(s, ' '); i > 10 {
		s = s[:i] + s[i+1:]
	}
	for _, l := range zoned {
		if t, err := time.Parse(l, s); err == nil {
			return t, ""
		}
	}
	if _, err := time.Parse("2006-01-02T15:04:05.999999999", s); err == nil {
		return time.Time{}, "time_without_zone"
	}
	return time.Time{}, "bad_time"
}

// stage streams the file into the temporary table track_points (k, lon, lat; k being
// the vehicle's number << 32 | the fix's Unix seconds, see sieve_track_stays) with one COPY,
// then the plates into track_vehicles (v, plate), both dropped at commit; it returns the
// refused rows.
func stage(ctx context.Context, tx pgx.Tx, body io.Reader, ext leads.Extent) ([]leads.LineError, error) {
	const create = `DROP TABLE IF EXISTS pg_temp.track_points, pg_temp.track_vehicles;
		CREATE TEMP TABLE track_points (k bigint NOT NULL, lon float8 NOT NULL, lat float8 NOT NULL) ON COMMIT DROP;
		CREATE TEMP TABLE track_vehicles (v int PRIMARY KEY, plate text NOT NULL) ON COMMIT DROP`
	if _, err := tx.Exec(ctx, create); err != nil {
		return nil, fmt.Errorf("tracks: stage: %w", err)
	}
	t, err := leads.OpenTable(body, trackColumns)
	if err != nil {
		return nil, err
	}
	src := &rows{t: t, ext: ext, vals: make([]any, 3), errs: []leads.LineError{}, vehicles: map[string]int32{}}
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"track_points"}, []string{"k", "lon", "lat"}, src)
	errs := src.errs
	if src.more > 0 {
		errs = append(errs, leads.LineError{Line: 0, Code: "too_many_errors",
			Message: fmt.Sprintf("另有 %d 行有误，未逐行列出", src.more)})
	}
	if err != nil {
		if ae, ok := apperr.As(err); ok {
			return errs, ae
		}
		return errs, fmt.Errorf("tracks: copy: %w", err)
	}
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"track_vehicles"}, []string{"v", "plate"},
		pgx.CopyFromSlice(len(src.plates), func(i int) ([]any, error) { return []any{int32(i), src.plates[i]}, nil }))
	if err != nil {
		return errs, fmt.Errorf("tracks: copy plates: %w", err)
	}
	return errs, nil
}
