// Package tips is the public reporting channel (群众举报) and what follows it: a tip posted
// without login (a description, a place — a map point or an address —, photos checked like every
// upload, an optional name and phone kept apart), answered with a tracking code shown once and
// stored only as its SHA-256; the tip placed in its grid cell and handed to the cell's grid
// worker as a task (internal/tasks, kind tip) to verify; the coordinators' verdict (valid,
// invalid with a reason, a duplicate of an earlier tip), a site opened from it
// (internal/sites, source tip), and the reward (举报奖励) by the national rule for
// safety-production tips — a share of the fine within a floor and a ceiling — proposed by the
// township, approved by the city and recorded as paid. Then the credit listing (联合惩戒): a
// closed case's responsible persons proposed for listing, decided by the city, exported as the
// register the credit system takes (credit.go, export.go).
//
// Every status change goes through one transition table (transitions.go: the tip's workflow
// and the listing's, each move with the permission it needs) and is kept in tip_events; the
// rows are audited by the table kit. Files: store.go holds the tips' SQL; service.go the intake
// (throttled by internal/throttle, the logins' mechanism), the public status, the moves;
// reward.go the reward rule; code.go the tracking codes; placer.go the placer for regions.
package tips

import (
	"encoding/json"
	"time"

	"github.com/sieve-city/sieve/internal/throttle"
)

// Config is what an installation may tune of the tips domain (SIEVE_TIPS_*).
type Config struct {
	// PerHour and PerDay limit the tips one client address, and one device, may post.
	PerHour, PerDay int
	// MaxPhotos is how many photos one tip may carry; PhotoMaxBytes bounds each.
	MaxPhotos     int
	PhotoMaxBytes int64
	// BodyLimit bounds a whole POST /tips body (fields and photos).
	BodyLimit int64
	// Reward is the reward rule.
	Reward RewardRule
	// DuplicateMetres and DuplicateDays say when two tips are of the same place: within this
	// distance and this many days of each other. Only the first valid one is rewarded.
	DuplicateMetres float64
	DuplicateDays   int
	// VerifyDays is the verify-by date of the grid worker's task, in days after the tip.
	VerifyDays int
	// OrphanGrace is how old a photo object under tips/ that no row names must be before the
	// orphan sweep deletes it (only a crash between storing a photo and committing its tip
	// leaves one); CleanupEvery is the sweep's period.
	OrphanGrace, CleanupEvery time.Duration
}

// throttleRules are the rate limits of one client key (an address or a device): PerHour an hour,
// PerDay a day.
func (c Config) throttleRules(key string) []throttle.Rule {
	return []throttle.Rule{{Key: key, Limit: c.PerHour, Window: time.Hour}, {Key: key, Limit: c.PerDay, Window: 24 * time.Hour}}
}

// ThrottleWindows are the windows of the tips' rate limits (throttleRules), for the throttle's
// pruning: events older than the longest are of no limiter's use.
func (c Config) ThrottleWindows() []time.Duration {
	var out []time.Duration
	for _, r := range c.throttleRules("") {
		out = append(out, r.Window)
	}
	return out
}

// DefaultConfig returns the defaults: 5 tips an hour and 20 a day, 4 photos of at most 20 MB,
// the national reward rule, duplicates within 100 m and 30 days, a week to verify, orphaned
// photo objects swept after an hour, every 30 minutes.
func DefaultConfig() Config {
	return Config{PerHour: 5, PerDay: 20, MaxPhotos: 4, PhotoMaxBytes: 20 << 20, BodyLimit: 90 << 20,
		Reward: NationalRule(), DuplicateMetres: 100, DuplicateDays: 30, VerifyDays: 7,
		OrphanGrace: time.Hour, CleanupEvery: 30 * time.Minute}
}

// Tip is a tip as those handling it see it. It holds no contact details: those are read
// apart (Contact), by those who may.
type Tip struct {
	ID                   int64     `json:"id"`
	Status               Status    `json:"status"`
	Description          string    `json:"description"`
	Address              string    `json:"address"`
	Lon                  *float64  `json:"lon"`
	Lat                  *float64  `json:"lat"`
	CellID               *int64    `json:"cellId"`
	SuggestedDuplicateOf *int64    `json:"suggestedDuplicateOf"`
	DuplicateOf          *int64    `json:"duplicateOf"`
	SiteID               *int64    `json:"siteId"`
	PublicNote           string    `json:"publicNote"`
	Reason               string    `json:"reason"`
	FineYuan             *float64  `json:"fineYuan"`
	RewardYuan           *float64  `json:"rewardYuan"`
	PaymentRef           string    `json:"paymentRef"`
	HasContact           bool      `json:"hasContact"`
	Photos               int       `json:"photos"`
	StatusAt             time.Time `json:"statusAt"`
	CreatedAt            time.Time `json:"createdAt"`
	UpdatedAt            time.Time `json:"updatedAt"`
	regionPath           *string   // for the service's checks
	fineFen, rewardFen   *int64    // the amounts in fen (分)
}

// Detail is a tip with its photos and its history.
type Detail struct {
	Tip
	PhotoList []Photo `json:"photoList"`
	Events    []Event `json:"events"`
}

// Photo is one photo of a tip: what it is, what its EXIF says, and its medium (source tip: the
// media jobs' thumbnails and pHash, served by the media routes to those who see the tip).
type Photo struct {
	ID      int64  `json:"id"`
	MediaID *int64 `json:"mediaId"`
	// Status is the medium's processing: received, processed, failed (none: no medium).
	Status    string     `json:"status"`
	Thumbnail string     `json:"thumbnail,omitempty"` // path of the list thumbnail, when made
	Detail    string     `json:"detail,omitempty"`    // path of the detail thumbnail, when made
	PHash     string     `json:"phash,omitempty"`
	Format    string     `json:"format"`
	Size      int64      `json:"size"`
	Width     int        `json:"width"`
	Height    int        `json:"height"`
	Lon       *float64   `json:"lon"` // EXIF position (WGS-84), when the photo has one
	Lat       *float64   `json:"lat"`
	TakenAt   *time.Time `json:"takenAt"`
	key       string
}

// Event is one step of a tip's workflow: who, when, why.
type Event struct {
	ID     int64           `json:"id"`
	From   *Status         `json:"from"`
	To     Status          `json:"to"`
	Reason string          `json:"reason"`
	Detail json.RawMessage `json:"detail"`
	By     *int64          `json:"by"`
	Actor  string          `json:"actor"`
	At     time.Time       `json:"at"`
}

// Contact is a reporter's name and phone (举报人联系方式).
type Contact struct {
	TipID int64  `json:"tipId"`
	Name  string `json:"name"`
	Phone string `json:"phone"`
}

// PublicStatus is all the public status call shows: never contact details, places or notes
// meant for the handlers.
type PublicStatus struct {
	Status     string    `json:"status"`
	PublicNote string    `json:"publicNote"`
	ReceivedAt time.Time `json:"receivedAt"`
	UpdatedAt  time.Time `json:"updatedAt"`
}

// Submission is a tip as the public sends it. Lon and Lat are in CRS (WGS-84 when empty); a
// tip needs a point or an address.
type Submission struct {
	Description string   `json:"description"`
	Address     string   `json:"address"`
	Lon         *float64 `json:"lon"`
	Lat         *float64 `json:"lat"`
	CRS         string   `json:"crs"`
	Name        string   `json:"name"`
	Phone       string   `json:"phone"`
}

// Client is who posts a tip, for the rate limits: the client address and, when the client
// sends one, its device id.
type Client struct {
	Addr   string
	Device string
}

// Filter narrows a tips listing. Zero values do not filter.
type Filter struct {
	Status Status
	After  int64
	Limit  int
}
