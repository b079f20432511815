package config

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sieve-city/sieve/internal/tracks"
)

// TestTracksValues checks the defaults and that every SIEVE_TRACKS_* variable lands in its field.
func TestTracksValues(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	d := tracks.DefaultConfig()
	if c.Tracks.StayRadiusM != 200 || c.Tracks.StayMin != 20*time.Minute || !slices.Equal(c.Tracks.ExcludeTags, d.ExcludeTags) ||
		c.Tracks.Zone.String() != "Asia/Shanghai" || c.Tracks.MaxBytes != 1<<30 || !strings.Contains(c.String(), "tracks.stay_radius_m=200 ") {
		t.Fatalf("defaults: %+v", c.Tracks)
	}
	c, err = Load(env(map[string]string{
		"SIEVE_TRACKS_STAY_RADIUS_M":    "150",
		"SIEVE_TRACKS_STAY_MIN":         "30m",
		"SIEVE_TRACKS_CLUSTER_M":        "300",
		"SIEVE_TRACKS_MIN_STOPS":        "3",
		"SIEVE_TRACKS_EXCLUDE_RADIUS_M": "250",
		"SIEVE_TRACKS_KEY_GRID_M":       "200",
		"SIEVE_TRACKS_ZONE":             "Asia/Urumqi",
		"SIEVE_TRACKS_MAX_BYTES":        "2GB",
	}))
	if err != nil {
		t.Fatal(err)
	}
	got := c.Tracks
	if got.StayRadiusM != 150 || got.StayMin != 30*time.Minute || got.ClusterM != 300 || got.MinStops != 3 ||
		got.ExcludeRadiusM != 250 ||
		got.KeyGridM != 200 || got.Zone.String() != "Asia/Urumqi" || got.MaxBytes != 2<<30 {
		t.Fatalf("got %+v", got)
	}
}

// TestTracksErrorsNameTheVariable checks that a bad rule stops start-up naming it.
func TestTracksErrorsNameTheVariable(t *testing.T) {
	for _, tt := range []struct{ key, val string }{
		{"SIEVE_TRACKS_STAY_RADIUS_M", "5"},
		{"SIEVE_TRACKS_STAY_RADIUS_M", "wide"},
		{"SIEVE_TRACKS_STAY_MIN", "30s"},
		{"SIEVE_TRACKS_CLUSTER_M", "0"},
		{"SIEVE_TRACKS_MIN_STOPS", "0"},
		{"SIEVE_TRACKS_EXCLUDE_RADIUS_M", "-1"},
		{"SIEVE_TRACKS_KEY_GRID_M", "150"}, // over 150/√2
		{"SIEVE_TRACKS_ZONE", "Mars/Olympus"},
		{"SIEVE_TRACKS_MAX_BYTES", "100"},
		{"SIEVE_TRACKS_MAX_BYTES", "lots"},
	} {
		_, err := Load(env(map[string]string{tt.key: tt.val}))
		if err == nil || !strings.Contains(err.Error(), tt.key) {
			t.Errorf("%s=%s: got %v", tt.key, tt.val, err)
		}
	}
}
