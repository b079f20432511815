// Package tracks finds leads in hazardous-chemical vehicle tracks (危化品车辆轨迹): the 北斗/GPS
// points of tankers and vans, where a vehicle that stays a while at a place no chemical firm,
// depot or service area explains may be feeding a workshop. It is the leads source of kind
// vehicle_track (leads.Source).
//
// An import streams the file's rows (CSV: plate, time with zone, lon, lat, optional speed and
// heading) into a temporary table of the import's transaction with COPY, refusing bad rows by
// line without stopping; finds each vehicle's stay points (停留点: consecutive points within a
// radius for at least a duration) in SQL (sieve_track_stays, migration 0029); drops stays at
// the city's excluded places (track_exclusions) and at premises tagged as licensed chemical
// firms; clusters the rest across vehicles by place (ST_ClusterDBSCAN in the city's UTM zone);
// and gives one candidate per place, ranked higher for more stops and more distinct vehicles.
// Memory stays bounded whatever the file's size: rows go from the reader to COPY one at a time,
// and only the first MaxLineErrors refusals are kept.
package tracks

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"
	_ "time/tzdata" // the night rule's zone must load on a machine without the zone files

	"github.com/jackc/pgx/v5"

	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/leads"
)

// Kind is the leads kind of vehicle tracks.
const Kind = "vehicle_track"

// MaxLineErrors is how many refused rows an import reports one by one; past it one more entry
// (line 0, code too_many_errors) gives the count of the rest.
const MaxLineErrors = 1000

// Config holds the stay and cluster rules (SIEVE_TRACKS_*, internal/config/tracks.go).
type Config struct {
	// StayRadiusM: the points of a stay lie within this of its first point (SIEVE_TRACKS_STAY_RADIUS_M, 200).
	StayRadiusM float64
	// StayMin: a stay lasts at least this (SIEVE_TRACKS_STAY_MIN, 20m).
	StayMin time.Duration
	// ClusterM: stays of any vehicles this close chain into one place (SIEVE_TRACKS_CLUSTER_M, 150).
	ClusterM float64
	// MinStops: a place needs this many stays to be a lead (SIEVE_TRACKS_MIN_STOPS, 2: a single
	// stop is a lunch break as often as anything).
	MinStops int
	// ExcludeTags: premises carrying any of these tags are registered chemical firms whose
	// surroundings are not leads. One list with the power-user leads: the binary sets it from
	// SIEVE_LEADS_REGISTERED_TAGS (default 化工企业, 危化品企业, 危险化学品企业).
	ExcludeTags []string
	// ExcludeRadiusM: how far around such a premise stays are left out (SIEVE_TRACKS_EXCLUDE_RADIUS_M, 200).
	ExcludeRadiusM float64
	// KeyGridM: a place's key is its centroid snapped to a grid of this size in metres, so that
	// a re-import of the same or overlapping points names it again (SIEVE_TRACKS_KEY_GRID_M, 100;
	// at most ClusterM/√2 so two places never share a cell of the grid by accident).
	KeyGridM float64
	// Zone is the time zone "night" is judged in (SIEVE_TRACKS_ZONE, Asia/Shanghai).
	Zone *time.Location
	// MaxBytes bounds one track file (SIEVE_TRACKS_MAX_BYTES, 1 GB: ~16 million fixes). Its
	// rows stream into COPY, so memory does not grow with it; the limit is the time and the
	// temporary table's disk one import may take.
	MaxBytes int64
}

// DefaultConfig is the rule: 20 minutes within 200 m.
func DefaultConfig() Config {
	zone, _ := time.LoadLocation("Asia/Shanghai") // embedded by time/tzdata
	return Config{StayRadiusM: 200, StayMin: 20 * time.Minute, ClusterM: 150, MinStops: 2,
		ExcludeTags: leads.DefaultConfig().Power.RegisteredTags, ExcludeRadiusM: 200, KeyGridM: 100, Zone: zone,
		MaxBytes: 1 << 30}
}

// Validate reports the first rule that does not hold, naming its variable.
func (c Config) Validate() error {
	switch {
	case !(c.StayRadiusM >= 10 && c.StayRadiusM <= 5000):
		return fmt.Errorf("SIEVE_TRACKS_STAY_RADIUS_M: between 10 and 5000 m, got %g", c.StayRadiusM)
	case c.StayMin < time.Minute || c.StayMin > 7*24*time.Hour:
		return fmt.Errorf("SIEVE_TRACKS_STAY_MIN: between 1m and 168h, got %s", c.StayMin)
	case !(c.ClusterM >= 10 && c.ClusterM <= 5000):
		return fmt.Errorf("SIEVE_TRACKS_CLUSTER_M: between 10 and 5000 m, got %g", c.ClusterM)
	case c.MinStops < 1 || c.MinStops > 1000:
		return fmt.Errorf("SIEVE_TRACKS_MIN_STOPS: between 1 and 1000, got %d", c.MinStops)
	case !(c.ExcludeRadiusM >= 0 && c.ExcludeRadiusM <= 5000):
		return fmt.Errorf("SIEVE_TRACKS_EXCLUDE_RADIUS_M: between 0 and 5000 m, got %g", c.ExcludeRadiusM)
	case !(c.KeyGridM >= 1 && c.KeyGridM <= c.ClusterM/math.Sqrt2):
		return fmt.Errorf("SIEVE_TRACKS_KEY_GRID_M: between 1 m and SIEVE_TRACKS_CLUSTER_M/√2 (%.0f m), got %g", c.ClusterM/math.Sqrt2, c.KeyGridM)
	case c.Zone == nil:
		return fmt.Errorf("SIEVE_TRACKS_ZONE: not set")
	case c.MaxBytes < 1<<10 || c.MaxBytes > 64<<30:
		return fmt.Errorf("SIEVE_TRACKS_MAX_BYTES: between 1KB and 64GB, got %d", c.MaxBytes)
	}
	return nil
}

// Source is the leads source of vehicle tracks.
type Source struct {
	cfg Config
}

// New returns the source with its rules.
func New(cfg Config) *Source { return &Source{cfg: cfg} }

// Kind is vehicle_track.
func (s *Source) Kind() string { return Kind }

// MaxBytes is the size limit of a track file (Config.MaxBytes), not the leads' one.
func (s *Source) MaxBytes() int64 { return s.cfg.MaxBytes }

var (
	_ leads.Source  = (*Source)(nil)
	_ leads.Limited = (*Source)(nil)
)

// errNoCity: without the city's outline nothing can say which points are outside it.
var errNoCity = apperr.New(409, "tracks_no_city", "no city boundary is loaded; import the regions first",
	"尚未导入市级行政区划边界，无法判断轨迹点是否在本市范围内")

// Import stages the file's points, finds the stays and their places, and returns one candidate
// per place with at least MinStops stays. It leaves the temporary tables track_points and
// track_stays in tx (dropped at commit), which Stays and the tests read.
func (s *Source) Import(ctx context.Context, tx pgx.Tx, in leads.Input) ([]leads.Candidate, []leads.LineError, error) {
	city, err := cityOf(ctx, tx)
	if err != nil {
		return nil, nil, err
	}
	lineErrs, err := stage(ctx, tx, in.Body, city.ext)
	if err != nil {
		return nil, lineErrs, err
	}
	if err := s.findStays(ctx, tx, city); err != nil {
		return nil, lineErrs, err
	}
	places, err := s.places(ctx, tx, city)
	if err != nil {
		return nil, lineErrs, err
	}
	out := make([]leads.Candidate, 0, len(places))
	for _, p := range places {
		out = append(out, p.candidate(city.srid))
	}
	return out, lineErrs, nil
}

// city is what an import needs to know of the city: the extent of its regions (leads.Extent,
// for the rows' check) and the UTM zone its places are measured in.
type city struct {
	ext  leads.Extent
	srid int
}

// cityOf reads the extent of the regions (region_shapes, read by everyone).
func cityOf(ctx context.Context, tx pgx.Tx) (city, error) {
	ext, err := leads.CityExtent(ctx, tx)
	if err != nil {
		return city{}, err
	}
	if !ext.Known {
		return city{}, errNoCity
	}
	return city{ext: ext, srid: utmSRID((ext.MinLon+ext.MaxLon)/2, (ext.MinLat+ext.MaxLat)/2)}, nil
}

// utmSRID is the EPSG code of the WGS 84 / UTM zone holding the point (32649 for Yuzhou).
func utmSRID(lon, lat float64) int {
	zone := int(math.Floor((lon+180)/6)) + 1
	zone = min(max(zone, 1), 60)
	if lat < 0 {
		return 32700 + zone
	}
	return 32600 + zone
}

// Score ranks a place 0..1: more stops and more distinct vehicles rank higher, long and night
// stays a little. One vehicle stopping twice for an hour in all is ~0.3; three vehicles
// stopping seven times for five hours ~0.87.
func Score(stops, vehicles, nights int, hours float64) float64 {
	raw := float64(stops) + 2*float64(max(vehicles-1, 0)) + hours/4 + float64(nights)
	return math.Round((1-math.Exp(-raw/6))*1000) / 1000
}

// reasons are the zh-CN phrases a coordinator reads beside the lead.
func reasons(stops, vehicles, nights int, hours, longest float64) []string {
	r := []string{fmt.Sprintf("%d 辆危化品车在此停留 %d 次，累计 %.1f 小时", vehicles, stops, hours)}
	r = append(r, fmt.Sprintf("最长一次停留 %.1f 小时", longest))
	if nights > 0 {
		r = append(r, fmt.Sprintf("其中 %d 次在夜间（20:00–06:00）", nights))
	}
	return r
}

// Place is a cluster of stays (one candidate lead).
type Place struct {
	KeyX, KeyY      int64 // the centroid's cell of the key grid (UTM metres / KeyGridM)
	Lon, Lat        float64
	Stops, Vehicles int
	Nights          int
	Hours, LongestH float64
	RadiusM         float64 // farthest stay from the centroid
	First, Last     time.Time
	Plates          []string // up to 20, sorted
}

// SourceKey names the place across imports: the UTM zone and the key-grid cell of its centroid.
func (p Place) SourceKey(srid int) string {
	return fmt.Sprintf("vt:%d:%d:%d", srid, p.KeyX, p.KeyY)
}

func (p Place) candidate(srid int) leads.Candidate {
	lon, lat := p.Lon, p.Lat
	return leads.Candidate{
		SourceKey: p.SourceKey(srid),
		Name:      fmt.Sprintf("危化品车辆异常停留点（%d 辆 %d 次）", p.Vehicles, p.Stops),
		Lon:       &lon, Lat: &lat,
		Score:   Score(p.Stops, p.Vehicles, p.Nights, p.Hours),
		Reasons: reasons(p.Stops, p.Vehicles, p.Nights, p.Hours, p.LongestH),
		Detail: map[string]any{
			"stops": p.Stops, "vehicles": p.Vehicles, "nightStops": p.Nights,
			"hours": math.Round(p.Hours*10) / 10, "longestHours": math.Round(p.LongestH*10) / 10,
			"radiusM": math.Round(p.RadiusM), "plates": p.Plates,
			"first": p.First.UTC().Format(time.RFC3339), "last": p.Last.UTC().Format(time.RFC3339),
		},
	}
}

// cleanPlate normalises a plate (车牌号): no spaces or separators, upper case.
func cleanPlate(s string) string {
	s = strings.TrimSpace(s)
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == ' ' || c == '-' || c == 0xC2 || c == 0xE2 || ('a' <= c && c <= 'z') { // 0xC2: ·, 0xE2: •
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	return strings.ToUpper(plateSeparators.Replace(s))
}

var plateSeparators = strings.NewReplacer(" ", "", "·", "", "-", "", "•", "")
