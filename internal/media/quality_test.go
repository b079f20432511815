package media

import (
	"testing"
	"time"

	"github.com/sieve-city/sieve/imagery"
)

func f64(v float64) *float64 { return &v }

// TestMetadataFlags checks the thresholds of the metadata checks at their edges.
func TestMetadataFlags(t *testing.T) {
	cfg := DefaultQualityConfig()
	cst := time.FixedZone("CST", 8*3600)
	at := func(s string) *time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04", s, cst)
		if err != nil {
			t.Fatal(err)
		}
		return &tm
	}
	drone := &imagery.DroneInfo{GimbalPitch: f64(-90), GimbalYaw: f64(0)}
	good := imagery.Metadata{GPS: &imagery.GPS{Lat: 34.2, Lon: 113.5}, Drone: drone, TakenAt: at("2024-04-20 09:30")}
	codes := func(fs []Flag) (out []string) {
		for _, f := range fs {
			out = append(out, f.Code)
		}
		return out
	}
	tests := []struct {
		name   string
		edit   func(*imagery.Metadata, *surveyPlace)
		reason string
		want   []string
	}{
		{"good", func(*imagery.Metadata, *surveyPlace) {}, "", nil},
		{"199 m outside is within the margin", func(_ *imagery.Metadata, sp *surveyPlace) { sp.outsideM = f64(199) }, "", nil},
		{"201 m outside", func(_ *imagery.Metadata, sp *surveyPlace) { sp.outsideM = f64(201) }, "", []string{"outside_region"}},
		{"the next day after midnight", func(md *imagery.Metadata, _ *surveyPlace) { md.TakenAt = at("2024-04-21 00:30") }, "", nil},
		{"two days later", func(md *imagery.Metadata, _ *surveyPlace) { md.TakenAt = at("2024-04-22 09:00") }, "", []string{"time_off"}},
		{"UTC time of the flight day", func(md *imagery.Metadata, _ *surveyPlace) {
			u := time.Date(2024, 4, 19, 23, 0, 0, 0, time.UTC) // 07:00 on the 20th in China
			md.TakenAt = &u
		}, "", nil},
		{"sign-flipped longitude", func(md *imagery.Metadata, _ *surveyPlace) { md.GPS = &imagery.GPS{Lat: 34.2, Lon: -113.5} }, "", []string{"bad_gps"}},
		{"above the horizon", func(md *imagery.Metadata, _ *surveyPlace) {}, imagery.NoFootprintHorizon, []string{"above_horizon"}},
		{"no attitude, no GPS", func(md *imagery.Metadata, _ *surveyPlace) { md.GPS, md.Drone = nil, nil }, "", []string{"no_gps", "no_attitude"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			md, sp := good, surveyPlace{flightDate: "2024-04-20", outsideM: f64(0)}
			tt.edit(&md, &sp)
			got := codes(metadataFlags(cfg, md, tt.reason, sp, cst))
			if len(got) != len(tt.want) {
				t.Fatalf("flags %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("flags %v, want %v", got, tt.want)
				}
			}
		})
	}
}

// TestPixelFlags: a black frame is dark (not also blurred), a white one blown out, a smooth
// one blurred.
func TestPixelFlags(t *testing.T) {
	cfg := DefaultQualityConfig()
	for _, tt := range []struct {
		st   imagery.PixelStats
		want string
	}{
		{imagery.PixelStats{MeanLuma: 3, DarkShare: 1}, "dark"},
		{imagery.PixelStats{MeanLuma: 250, BrightShare: 1, LaplacianVar: 0}, "overexposed"},
		{imagery.PixelStats{MeanLuma: 120, LaplacianVar: 5}, "blurred"},
		{imagery.PixelStats{MeanLuma: 120, LaplacianVar: 500}, ""},
	} {
		fs := pixelFlags(cfg, tt.st)
		got := ""
		if len(fs) > 0 {
			got = fs[0].Code
		}
		if got != tt.want || len(fs) > 1 || (len(fs) == 1 && (fs[0].Reason == "" || fs[0].ReasonEn == "" || fs[0].Value == nil)) {
			t.Errorf("%+v: flags %+v, want %q", tt.st, fs, tt.want)
		}
	}
}
