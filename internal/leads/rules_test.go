package leads

import (
	"context"
	"strings"
	"testing"

	"github.com/sieve-city/sieve/internal/apperr"
)

func TestSurge(t *testing.T) {
	series := func(kwh ...float64) []Reading {
		out := make([]Reading, len(kwh))
		for i, k := range kwh {
			out[i] = Reading{Month: 2024*12 + i, KWh: k}
		}
		return out
	}
	for _, c := range []struct {
		name   string
		s      []Reading
		ok     bool
		month  int // index of the surging month
		median float64
	}{
		{"surge", series(200, 210, 190, 220, 205, 215, 2400), true, 6, 207.5},
		{"twice the previous but not three times the median", series(900, 950, 1000, 400, 420, 410, 1100), false, 0, 0},
		{"under the floor", series(100, 100, 100, 100, 100, 100, 900), false, 0, 0},
		{"exactly the ratios at the floor+", series(500, 500, 500, 500, 500, 500, 1500), true, 6, 500},
		{"just under twice the previous", series(300, 300, 300, 300, 300, 800, 1599), false, 0, 0},
		{"an earlier surge counts", series(100, 1200, 1300, 1250), true, 1, 100},
		{"one month", series(5000), false, 0, 0},
		{"a gap breaks the comparison", []Reading{{Month: 10, KWh: 100}, {Month: 12, KWh: 5000}}, false, 0, 0},
	} {
		m, _, med, _, ok := Surge(c.s, 2, 3, 1000)
		if ok != c.ok || (ok && (m != c.s[c.month].Month || med != c.median)) {
			t.Errorf("%s: Surge = month %d median %g ok %v, want month %d median %g ok %v", c.name, m, med, ok,
				c.s[c.month].Month, c.median, c.ok)
		}
	}
}

func TestPosition(t *testing.T) {
	city := Extent{MinLon: 113.0, MinLat: 34.0, MaxLon: 114.0, MaxLat: 34.5, Known: true}
	for _, c := range []struct {
		lon, lat, crs string
		ext           Extent
		code          string
	}{
		{"113.42", "34.2", "", city, ""},
		{"", "", "", city, ""}, // no position
		{"113.42", "", "", city, "incomplete_position"},
		{"东经113", "34.2", "", city, "invalid_position"},
		{"34.2", "113.42", "", city, "lat_lon_swapped"},
		{"34.2", "113.42", "", Extent{}, "lat_lon_swapped"}, // no regions yet: latitude above 90
		{"38512345.2", "3781234.5", "", city, "projected_coordinates"},
		{"116.40", "39.90", "", city, "outside_city"},
		{"113.42", "34.2", "bd09", city, "unsupported_crs"},
		{"113.42", "34.2", "EPSG:3857", city, "unsupported_crs"},
		{"113.42", "34.2", "gcj02", city, ""},
	} {
		tb, err := OpenTable(strings.NewReader("经度,纬度,坐标系\n"+c.lon+","+c.lat+","+c.crs+"\n"), PositionColumns)
		if err != nil {
			t.Fatal(err)
		}
		if ok, le := tb.Next(); !ok || le != nil {
			t.Fatalf("row: %v %v", ok, le)
		}
		pos, le := tb.Position(c.ext)
		code := ""
		if le != nil {
			code = le.Code
			if le.Line != 2 || le.Message == "" {
				t.Errorf("%+v: want line 2 and a reason", le)
			}
		}
		if code != c.code {
			t.Errorf("%s,%s,%s: code %q, want %q", c.lon, c.lat, c.crs, code, c.code)
		}
		if c.crs == "gcj02" && (pos == nil || pos[0] >= 113.42 || pos[0] < 113.41) {
			t.Errorf("GCJ-02 113.42 → %v, want converted to WGS-84 a few hundred metres west", pos)
		}
	}
}

func TestMissingColumns(t *testing.T) {
	_, err := OpenTable(strings.NewReader("户号,户名\n1,2\n"), powerColumns)
	if err == nil || !strings.Contains(err.Error(), "用电类别") || !strings.Contains(err.Error(), "月份") ||
		!strings.Contains(err.Error(), "用电量") || strings.Contains(err.Error(), "户名（") {
		t.Fatalf("missing columns: %v", err)
	}
}

// TestImportRefusesBeforeWriting: an unknown kind is refused before anything is read, a file
// over MaxBytes as soon as the reading passes the limit, before anything is written (no
// transaction is needed to refuse them).
func TestImportRefusesBeforeWriting(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxBytes = 16
	s := NewService(cfg, nil, nil, PowerUsers{Config: cfg.Power})
	if _, err := s.Import(context.Background(), nil, "horoscope", "", strings.NewReader("x"), 0); err == nil || !strings.Contains(err.Error(), "invalid_kind") {
		t.Errorf("unknown kind: %v", err)
	}
	_, err := s.Import(context.Background(), nil, KindPowerUser, "", strings.NewReader(strings.Repeat("户号,户名\n", 4)), 0)
	if e, ok := apperr.As(err); !ok || e.Status != 413 || e.Code != "file_too_large" {
		t.Errorf("a file over the limit: %v, want 413 file_too_large", err)
	}
}
