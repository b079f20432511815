package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/sieve-city/sieve/internal/tracks"
)

// The vehicle-track leads' rules (SIEVE_TRACKS_*, issue 14), read into Config.Tracks with the
// defaults of tracks.DefaultConfig. The premises tags of registered chemical firms, whose
// surroundings are left out, are the leads' SIEVE_LEADS_REGISTERED_TAGS (set in cmd/sieve).

// tracks reads the SIEVE_TRACKS_* variables.
func (r *reader) tracks(t *tracks.Config) {
	r.float("SIEVE_TRACKS_STAY_RADIUS_M", &t.StayRadiusM)
	r.dur("SIEVE_TRACKS_STAY_MIN", &t.StayMin)
	r.float("SIEVE_TRACKS_CLUSTER_M", &t.ClusterM)
	r.int("SIEVE_TRACKS_MIN_STOPS", &t.MinStops)
	r.float("SIEVE_TRACKS_EXCLUDE_RADIUS_M", &t.ExcludeRadiusM)
	r.float("SIEVE_TRACKS_KEY_GRID_M", &t.KeyGridM)
	r.bytes("SIEVE_TRACKS_MAX_BYTES", &t.MaxBytes)
	if v := r.getenv("SIEVE_TRACKS_ZONE"); v != "" {
		loc, err := time.LoadLocation(v)
		if err != nil {
			r.fail("SIEVE_TRACKS_ZONE", v, "an IANA time zone such as Asia/Shanghai")
			return
		}
		t.Zone = loc
	}
}

// validateTracks checks the rules against each other and their ranges.
func validateTracks(t tracks.Config, bad func(name, format string, a ...any)) {
	if err := t.Validate(); err != nil {
		name, msg, _ := strings.Cut(err.Error(), ": ")
		bad(name, "%s", msg)
	}
}

// tracksString prints the rules for the start-up log.
func tracksString(t tracks.Config) string {
	return fmt.Sprintf("tracks.stay_radius_m=%g tracks.stay_min=%s tracks.cluster_m=%g tracks.min_stops=%d "+
		"tracks.exclude_radius_m=%g tracks.key_grid_m=%g tracks.zone=%s tracks.max_bytes=%d ",
		t.StayRadiusM, t.StayMin, t.ClusterM, t.MinStops, t.ExcludeRadiusM, t.KeyGridM, t.Zone, t.MaxBytes)
}
