package tracks

import (
	"context"
	"encoding/csv"
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

// The file's shape: a header row, then one point a row. Columns are found by name, in any
// order, English or Chinese (what the 北斗 platforms export); other columns are ignored.
//
//	plate   车牌 / 车牌号 / 车牌号码      required, the vehicle
//	time    时间 / 定位时间 / GPS时间     required, with its zone: 2024-05-01T08:00:00+08:00
//	                                   (a space for the T, fractions of seconds, +0800 and Z too)
//	lon     经度 / lng / longitude       required, WGS-84 degrees (北斗 CGCS2000 is the same here)
//	lat     纬度 / latitude              required
//	speed   速度                          optional, km/h, 0-300
//	heading 方向 / direction / course    optional, degrees 0-360
var columnNames = map[string]string{
	"plate": "plate", "车牌": "plate", "车牌号": "plate", "车牌号码": "plate", "vehicle": "plate",
	"time": "time", "timestamp": "time", "时间": "time", "定位时间": "time", "gps时间": "time",
	"lon": "lon", "lng": "lon", "longitude": "lon", "经度": "lon",
	"lat": "lat", "latitude": "lat", "纬度": "lat",
	"speed": "speed", "速度": "speed",
	"heading": "heading", "direction": "heading", "course": "heading", "方向": "heading",
}

// columns holds each known column's index in the file, -1 when absent.
type columns struct{ plate, time, lon, lat, speed, heading, need int }

func readHeader(rec []string) (columns, error) {
	c := columns{-1, -1, -1, -1, -1, -1, 0}
	for i, h := range rec {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		var p *int
		switch columnNames[h] {
		case "plate":
			p = &c.plate
		case "time":
			p = &c.time
		case "lon":
			p = &c.lon
		case "lat":
			p = &c.lat
		case "speed":
			p = &c.speed
		case "heading":
			p = &c.heading
		default:
			continue
		}
		if *p < 0 {
			*p = i
		}
	}
	var missing []string
	for name, i := range map[string]int{"plate": c.plate, "time": c.time, "lon": c.lon, "lat": c.lat} {
		if i < 0 {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return c, apperr.Invalidf("tracks_missing_columns", "轨迹文件缺少必需的列：车牌号(plate)、时间(time)、经度(lon)、纬度(lat)",
			"the header lacks %s (want plate, time, lon, lat; optional speed, heading)", strings.Join(slices.Sorted(slices.Values(missing)), ", "))
	}
	c.need = max(c.plate, c.time, c.lon, c.lat) + 1
	return c, nil
}

// rows is the COPY source: it reads the file one row at a time, keeps the good ones going and
// notes the bad ones, so neither the file nor its points are ever held in memory.
type rows struct {
	r        *csv.Reader
	vehicles map[string]int32 // plate → its number in this import
	plates   []string         // by number
	cols     columns
	city     city
	errs     []leads.LineError
	more     int // refusals past MaxLineErrors
	vals     []any
	err      error
	good     int64
	header   bool
}

func (s *rows) refuse(line int, code, msg string) {
	if len(s.errs) < MaxLineErrors {
		s.errs = append(s.errs, leads.LineError{Line: line, Code: code, Message: msg})
		return
	}
	s.more++
}

// Next reads up to the next good row.
func (s *rows) Next() bool {
	for {
		rec, err := s.r.Read()
		if err == io.EOF {
			return false
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			if !s.header {
				s.err = apperr.Invalidf("tracks_bad_header", "轨迹文件的表头无法读取", "the header row does not parse: %v", pe.Err)
				return false
			}
			s.refuse(pe.StartLine, "bad_csv", "该行不是有效的 CSV："+pe.Err.Error())
			continue
		}
		if err != nil {
			s.err = fmt.Errorf("tracks: read: %w", err)
			return false
		}
		if !s.header {
			s.header = true
			if s.cols, err = readHeader(rec); err != nil {
				s.err = err
				return false
			}
			continue
		}
		line, _ := s.r.FieldPos(0)
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue // a blank line
		}
		if ok := s.parse(line, rec); ok {
			s.good++
			return true
		}
	}
}

// parse checks one row and, when it is good, sets the values COPY sends.
func (s *rows) parse(line int, rec []string) bool {
	c := s.cols
	if len(rec) < c.need {
		s.refuse(line, "missing_fields", fmt.Sprintf("该行只有 %d 列，缺少车牌号、时间或经纬度", len(rec)))
		return false
	}
	plate := cleanPlate(rec[c.plate])
	if plate == "" {
		s.refuse(line, "missing_plate", "车牌号为空")
		return false
	}
	if len([]rune(plate)) > 20 {
		s.refuse(line, "bad_plate", "车牌号过长："+rec[c.plate])
		return false
	}
	t, code := parseTime(rec[c.time])
	switch code {
	case "time_without_zone":
		s.refuse(line, code, fmt.Sprintf("时间 %q 没有时区，应写作 2024-05-01T08:00:00+08:00", rec[c.time]))
		return false
	case "bad_time":
		s.refuse(line, code, fmt.Sprintf("时间 %q 无法识别，应写作 2024-05-01T08:00:00+08:00", rec[c.time]))
		return false
	}
	lon, err1 := number(rec[c.lon])
	lat, err2 := number(rec[c.lat])
	if err1 != nil || err2 != nil {
		s.refuse(line, "not_a_number", fmt.Sprintf("经纬度 %q, %q 不是数字", rec[c.lon], rec[c.lat]))
		return false
	}
	if !s.city.holds(lon, lat) {
		if s.city.holds(lat, lon) {
			s.refuse(line, "lat_lon_swapped", fmt.Sprintf("经度与纬度填反了（%s, %s）", rec[c.lon], rec[c.lat]))
		} else {
			s.refuse(line, "outside_city", fmt.Sprintf("位置（%s, %s）不在本市范围内", rec[c.lon], rec[c.lat]))
		}
		return false
	}
	if c.speed >= 0 && c.speed < len(rec) && strings.TrimSpace(rec[c.speed]) != "" {
		v, err := number(rec[c.speed])
		if err != nil || v < 0 || v > 300 {
			s.refuse(line, "bad_speed", fmt.Sprintf("速度 %q 应为 0–300 之间的数字（km/h）", rec[c.speed]))
			return false
		}
	}
	if c.heading >= 0 && c.heading < len(rec) && strings.TrimSpace(rec[c.heading]) != "" {
		v, err := number(rec[c.heading])
		if err != nil || v < 0 || v > 360 {
			s.refuse(line, "bad_heading", fmt.Sprintf("方向 %q 应为 0–360 之间的数字（度）", rec[c.heading]))
			return false
		}
	}
	secs := t.Unix()
	if secs < minTime || secs >= maxTime {
		s.refuse(line, "bad_time", fmt.Sprintf("时间 %q 不在 2000–2099 年之间", rec[c.time]))
		return false
	}
	v, ok := s.vehicles[plate]
	if !ok {
		if len(s.plates) >= MaxVehicles {
			s.refuse(line, "too_many_vehicles", fmt.Sprintf("一个文件最多 %d 辆车", MaxVehicles))
			return false
		}
		v = int32(len(s.plates))
		s.vehicles[plate] = v
		s.plates = append(s.plates, plate)
	}
	s.vals[0], s.vals[1], s.vals[2], s.vals[3] = int32(line), int64(v)<<32|secs, lon, lat
	return true
}

// The times a fix may have (Unix seconds, 2000-01-01 to 2099-12-31): the stays' key holds
// the time in its low 32 bits.
const minTime, maxTime = 946684800, 4102444800

// MaxVehicles bounds the distinct plates of one file (a province's fleet fits), and so the
// memory their numbering takes.
const MaxVehicles = 200_000

// Values are the current row's.
func (s *rows) Values() ([]any, error) { return s.vals, nil }

// Err is what stopped the reading, if anything but the end.
func (s *rows) Err() error { return s.err }

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

// stage streams the file into the temporary table track_points (line, k, lon, lat; k being
// the vehicle's number << 32 | the fix's Unix seconds, see sieve_track_stays) with one COPY,
// then the plates into track_vehicles (v, plate), both dropped at commit; it returns the
// refused rows and how many were staged.
func stage(ctx context.Context, tx pgx.Tx, body io.Reader, c city) ([]leads.LineError, int64, error) {
	const create = `DROP TABLE IF EXISTS pg_temp.track_points, pg_temp.track_vehicles;
		CREATE TEMP TABLE track_points (line int NOT NULL, k bigint NOT NULL, lon float8 NOT NULL, lat float8 NOT NULL) ON COMMIT DROP;
		CREATE TEMP TABLE track_vehicles (v int PRIMARY KEY, plate text NOT NULL) ON COMMIT DROP`
	if _, err := tx.Exec(ctx, create); err != nil {
		return nil, 0, fmt.Errorf("tracks: stage: %w", err)
	}
	r := csv.NewReader(body)
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	r.LazyQuotes = true
	src := &rows{r: r, city: c, vals: make([]any, 4), errs: []leads.LineError{}, vehicles: map[string]int32{}}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"track_points"}, []string{"line", "k", "lon", "lat"}, src)
	errs := src.errs
	if src.more > 0 {
		errs = append(errs, leads.LineError{Line: 0, Code: "too_many_errors",
			Message: fmt.Sprintf("另有 %d 行有误，未逐行列出", src.more)})
	}
	if err != nil {
		if ae, ok := apperr.As(err); ok {
			return errs, 0, ae
		}
		return errs, 0, fmt.Errorf("tracks: copy: %w", err)
	}
	if !src.header {
		return errs, 0, apperr.Invalidf("tracks_empty", "轨迹文件为空", "the file is empty")
	}
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"track_vehicles"}, []string{"v", "plate"},
		pgx.CopyFromSlice(len(src.plates), func(i int) ([]any, error) { return []any{int32(i), src.plates[i]}, nil }))
	if err != nil {
		return errs, 0, fmt.Errorf("tracks: copy plates: %w", err)
	}
	return errs, src.good, nil
}
