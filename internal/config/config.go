// Package config reads Sieve's configuration from SIEVE_* environment variables.
//
// Each concern has a typed struct with defaults. A value that does not parse or is out of range
// stops the process with a message naming the variable. Secrets may instead be given as a file
// path in NAME_FILE (Docker and Kubernetes secrets), and are masked when the config is printed.
package config

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/sieve-city/sieve/internal/evidence"
	"github.com/sieve-city/sieve/internal/reports"
	"github.com/sieve-city/sieve/internal/tips"
	"github.com/sieve-city/sieve/internal/tracks"
)

// Config is the whole configuration of one Sieve process.
type Config struct {
	HTTP   HTTP
	DB     DB
	S3     S3
	Auth   Auth
	Log    Log
	Worker Worker
	// Map configures the map page (SIEVE_MAP_*).
	Map Map
	// Evidence is the evidence check's thresholds (SIEVE_EVIDENCE_*, internal/config/evidence.go).
	Evidence evidence.Config
	Limits   Limits
	Sites    Sites
	Survey   Survey
	Sync     Sync
	// Reports configures the monthly filings and exports (SIEVE_REPORTS_*, internal/config/reports.go).
	Reports reports.Config
	// Tracks is the vehicle-track leads' rules (SIEVE_TRACKS_*, internal/config/tracks.go).
	Tracks tracks.Config
	// Leads configures the leads from data (SIEVE_LEADS_*, internal/config/leads.go).
	Leads Leads
	// Tips is the public tips' settings (SIEVE_TIPS_*, internal/config/tips.go).
	Tips tips.Config
	// Throttle is the throttle's pruning (SIEVE_THROTTLE_*, internal/config/throttle.go).
	Throttle Throttle
}

// Limits bound what uploads, image decodes, shapefile imports and stuck jobs may cost, so that
// memory and storage stay bounded by design whatever arrives, and a crashed worker's jobs run
// again within minutes.
type Limits struct {
	// UploadMaxPending bounds one user's pending presigned upload sessions
	// (SIEVE_UPLOAD_MAX_PENDING; 429 upload_quota_exceeded past it).
	UploadMaxPending int32
	// UploadMaxPendingBytes bounds the declared bytes of one user's pending sessions
	// (SIEVE_UPLOAD_MAX_PENDING_BYTES).
	UploadMaxPendingBytes int64
	// UploadMaxOpen bounds the POST /media bodies one user sends at once to one process
	// (SIEVE_UPLOAD_MAX_OPEN; 429 too_many_open_uploads past it).
	UploadMaxOpen int32
	// UploadIdleTimeout cuts off a POST /media body that stalls that long
	// (SIEVE_UPLOAD_IDLE_TIMEOUT).
	UploadIdleTimeout time.Duration
	// UploadSpoolDir holds POST /media files sent without a size while they arrive
	// (SIEVE_UPLOAD_SPOOL_DIR; empty: the system's temporary directory).
	UploadSpoolDir string
	// DecodeMemory bounds the memory the image decodes of one process hold at once
	// (SIEVE_WORKER_DECODE_MEMORY).
	DecodeMemory int64
	// JobTimeout is the timeout of a background job (SIEVE_JOBS_TIMEOUT); JobRescueAfter is
	// how long a job may run before it is taken for the job of a dead process and run again
	// (SIEVE_JOBS_RESCUE_AFTER, at least SIEVE_JOBS_TIMEOUT).
	JobTimeout     time.Duration
	JobRescueAfter time.Duration
	// ShapefileMaxBytes bounds the expanded size of an imported shapefile
	// (SIEVE_IMPORT_SHP_MAX_BYTES); ShapefileMaxVertices its vertices
	// (SIEVE_IMPORT_SHP_MAX_VERTICES). Past either: 413 shapefile_too_large.
	ShapefileMaxBytes    int64
	ShapefileMaxVertices int32
}

// Sites configures the suspected sites' cases.
type Sites struct {
	// ReinspectionDays are the days after a site's closure at which it is inspected again
	// (回头看), one task each for the cell's grid worker (SIEVE_SITES_REINSPECTION_DAYS, a comma
	// separated list, default 30,90).
	ReinspectionDays []int
}

// Survey configures how drone survey images are judged (issue 15): where footprints are cut
// and the thresholds of the quality flags.
type Survey struct {
	// FootprintDepthHeights cuts an oblique footprint this many flight heights beyond the
	// nearest ground in view (SIEVE_FOOTPRINT_DEPTH_HEIGHTS, default 5: 500 m of ground beyond
	// the near edge at 100 m, where a 4000-pixel frame still resolves ~15 cm).
	FootprintDepthHeights float64
	// FootprintMaxRangeMetres never lets a footprint reach farther from the point below the
	// drone (SIEVE_FOOTPRINT_MAX_RANGE_M, default 1000: cells farther away are not "seen").
	FootprintMaxRangeMetres float64
	// RegionMarginMetres: an image taken farther than this outside the survey's region is
	// flagged (SIEVE_SURVEY_REGION_MARGIN_M, default 200: drones turn outside the area).
	RegionMarginMetres float64
	// FlightDateDays: a capture date farther than this from the flight date is flagged
	// (SIEVE_SURVEY_DATE_TOLERANCE_DAYS, default 1: a flight around midnight, or a card
	// emptied the next day).
	FlightDateDays float64
	// BlurMinLaplacian: a list thumbnail whose Laplacian variance is below this is blurred
	// (SIEVE_SURVEY_BLUR_MIN, default 20: sharp photos measure 100-4000 at 320 px, a blur of
	// 2 px at that size 3-15).
	BlurMinLaplacian float64
	// DarkMeanLuma and BrightMeanLuma bound a usable image's mean luma, 0-255
	// (SIEVE_SURVEY_DARK_LUMA default 25, SIEVE_SURVEY_BRIGHT_LUMA default 235).
	DarkMeanLuma, BrightMeanLuma float64
}

// Sync configures phone sync's change feed (internal/changes).
type Sync struct {
	// Retention is how long changes are kept (SIEVE_SYNC_RETENTION, default 720h = 30 days): an
	// older cursor answers 410 cursor_expired and the phone syncs again from nothing.
	Retention time.Duration
	// PruneEvery is how often the pruning job deletes older changes (SIEVE_SYNC_PRUNE_EVERY).
	PruneEvery time.Duration
}

// Worker configures the background jobs (image metadata, placement, thumbnails).
type Worker struct {
	// InProcess makes `sieve serve` run jobs too (SIEVE_WORKER_INPROCESS, default true for the
	// local demo); with false they run only in `sieve worker` processes.
	InProcess bool
	// Concurrency is how many jobs one process runs at once (SIEVE_WORKER_CONCURRENCY).
	Concurrency int32
}

// Map configures the coordinators' map page.
type Map struct {
	// TiandituKey is the 天地图 browser key for the optional base map (SIEVE_MAP_TIANDITU_KEY);
	// empty: outlines and cells on a plain background.
	TiandituKey string
}

// Auth configures logins and tokens.
type Auth struct {
	TokenTTL time.Duration // SIEVE_AUTH_TOKEN_TTL: how long a bearer token lasts
	// CacheTTL is how long an instance trusts a token it has checked (SIEVE_AUTH_CACHE_TTL).
	// Changes are announced to every instance at once (LISTEN/NOTIFY); the TTL bounds what a
	// lost notice could cost.
	CacheTTL time.Duration
	// KDFConcurrency is how many password hashes (argon2id, 19 MiB each) run at once
	// (SIEVE_AUTH_KDF_CONCURRENCY, default the number of CPUs, at least 2); KDFQueue how many
	// more may wait (SIEVE_AUTH_KDF_QUEUE, default 16 × concurrency: about what a hash of 70-120 ms
	// per slot serves within the wait) and KDFWait for how long
	// (SIEVE_AUTH_KDF_WAIT, 2s). Past either a login is answered 503 login_busy at once.
	KDFConcurrency int32
	KDFQueue       int32
	KDFWait        time.Duration
}

// HTTP configures the API server.
type HTTP struct {
	Addr              string        // SIEVE_HTTP_ADDR
	ReadHeaderTimeout time.Duration // SIEVE_HTTP_READ_HEADER_TIMEOUT
	ReadTimeout       time.Duration // SIEVE_HTTP_READ_TIMEOUT (long: phones upload slowly)
	WriteTimeout      time.Duration // SIEVE_HTTP_WRITE_TIMEOUT
	IdleTimeout       time.Duration // SIEVE_HTTP_IDLE_TIMEOUT
	ShutdownTimeout   time.Duration // SIEVE_HTTP_SHUTDOWN_TIMEOUT
	BodyLimit         int64         // SIEVE_HTTP_BODY_LIMIT: bytes for JSON and form bodies
	UploadLimit       int64         // SIEVE_HTTP_UPLOAD_LIMIT: bytes for one uploaded file
	TrustProxy        bool          // SIEVE_HTTP_TRUST_PROXY: client address from X-Forwarded-For
	// BodyIdleTimeout is how long a request body may send nothing before the request is
	// answered 408 (SIEVE_HTTP_BODY_IDLE_TIMEOUT, 60s; phones on weak 4G stall for seconds,
	// not minutes).
	BodyIdleTimeout time.Duration
}

// DB configures the PostgreSQL + PostGIS connection pool.
type DB struct {
	URL      string // SIEVE_DB_URL (secret: contains the password)
	MaxConns int32  // SIEVE_DB_MAX_CONNS
}

// S3 configures the MinIO (S3-compatible) object store.
type S3 struct {
	Endpoint      string // SIEVE_S3_ENDPOINT host:port
	AccessKey     string // SIEVE_S3_ACCESS_KEY
	SecretKey     string // SIEVE_S3_SECRET_KEY (secret)
	UseSSL        bool   // SIEVE_S3_USE_SSL
	Region        string // SIEVE_S3_REGION
	BucketMedia   string // SIEVE_S3_BUCKET_MEDIA: originals of photos and drone images
	BucketDerived string // SIEVE_S3_BUCKET_DERIVED: thumbnails and generated exports
	// PublicURL is MinIO as phones and laptops reach it, e.g. https://files.example.org
	// (SIEVE_S3_PUBLIC_URL), for presigned upload and download URLs; empty: the endpoint.
	PublicURL string
}

// Log configures structured logging.
type Log struct {
	Level  string // SIEVE_LOG_LEVEL: debug, info, warn, error
	Format string // SIEVE_LOG_FORMAT: text or json
}

// Default returns the configuration used when no variable is set.
func Default() Config {
	return Config{
		HTTP: HTTP{
			Addr:              "127.0.0.1:8080",
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       10 * time.Minute,
			WriteTimeout:      10 * time.Minute,
			IdleTimeout:       2 * time.Minute,
			ShutdownTimeout:   20 * time.Second,
			BodyLimit:         8 << 20,
			UploadLimit:       64 << 20,
			BodyIdleTimeout:   time.Minute,
		},
		DB: DB{
			URL:      "postgres://sieve@127.0.0.1:5432/sieve?sslmode=disable",
			MaxConns: 20,
		},
		S3: S3{
			Endpoint:      "127.0.0.1:9000",
			Region:        "us-east-1",
			BucketMedia:   "sieve-media",
			BucketDerived: "sieve-derived",
		},
		Auth: Auth{TokenTTL: 7 * 24 * time.Hour, CacheTTL: 10 * time.Second,
			KDFConcurrency: int32(max(runtime.NumCPU(), 2)), KDFWait: 2 * time.Second},
		Log:      Log{Level: "info", Format: "text"},
		Worker:   Worker{InProcess: true, Concurrency: 4},
		Evidence: evidence.DefaultConfig(),
		Tracks:   tracks.DefaultConfig(),
		Sites:    Sites{ReinspectionDays: []int{30, 90}},
		Limits: Limits{
			UploadMaxPending:      3000,     // one survey of 3,000 images
			UploadMaxPendingBytes: 64 << 30, // 3,000 images of ~20 MB
			UploadMaxOpen:         4,
			UploadIdleTimeout:     time.Minute,
			DecodeMemory:          256 << 20, // half of a 512 MB worker
			JobTimeout:            time.Minute,
			JobRescueAfter:        2 * time.Minute,
			ShapefileMaxBytes:     64 << 20,
			ShapefileMaxVertices:  1_000_000,
		},
		Survey: Survey{FootprintDepthHeights: 5, FootprintMaxRangeMetres: 1000, RegionMarginMetres: 200, FlightDateDays: 1,
			BlurMinLaplacian: 20, DarkMeanLuma: 25, BrightMeanLuma: 235},
		Sync:     Sync{Retention: 30 * 24 * time.Hour, PruneEvery: time.Hour},
		Reports:  reports.DefaultConfig(),
		Leads:    defaultLeads(),
		Tips:     tips.DefaultConfig(),
		Throttle: defaultThrottle(),
	}
}

// Load reads the configuration from the environment function getenv (os.Getenv in production,
// a map in tests). All problems are reported together.
func Load(getenv func(string) string) (Config, error) {
	c := Default()
	r := reader{getenv: getenv}
	r.str("SIEVE_HTTP_ADDR", &c.HTTP.Addr)
	r.dur("SIEVE_HTTP_READ_HEADER_TIMEOUT", &c.HTTP.ReadHeaderTimeout)
	r.dur("SIEVE_HTTP_READ_TIMEOUT", &c.HTTP.ReadTimeout)
	r.dur("SIEVE_HTTP_WRITE_TIMEOUT", &c.HTTP.WriteTimeout)
	r.dur("SIEVE_HTTP_IDLE_TIMEOUT", &c.HTTP.IdleTimeout)
	r.dur("SIEVE_HTTP_SHUTDOWN_TIMEOUT", &c.HTTP.ShutdownTimeout)
	r.bytes("SIEVE_HTTP_BODY_LIMIT", &c.HTTP.BodyLimit)
	r.bytes("SIEVE_HTTP_UPLOAD_LIMIT", &c.HTTP.UploadLimit)
	r.bool("SIEVE_HTTP_TRUST_PROXY", &c.HTTP.TrustProxy)
	r.dur("SIEVE_AUTH_TOKEN_TTL", &c.Auth.TokenTTL)
	r.dur("SIEVE_AUTH_CACHE_TTL", &c.Auth.CacheTTL)
	r.int32("SIEVE_AUTH_KDF_CONCURRENCY", &c.Auth.KDFConcurrency)
	c.Auth.KDFQueue = 16 * c.Auth.KDFConcurrency
	r.int32("SIEVE_AUTH_KDF_QUEUE", &c.Auth.KDFQueue)
	r.dur("SIEVE_AUTH_KDF_WAIT", &c.Auth.KDFWait)
	r.dur("SIEVE_HTTP_BODY_IDLE_TIMEOUT", &c.HTTP.BodyIdleTimeout)

	r.secret("SIEVE_DB_URL", &c.DB.URL)
	r.int32("SIEVE_DB_MAX_CONNS", &c.DB.MaxConns)

	r.str("SIEVE_S3_ENDPOINT", &c.S3.Endpoint)
	r.str("SIEVE_S3_ACCESS_KEY", &c.S3.AccessKey)
	r.secret("SIEVE_S3_SECRET_KEY", &c.S3.SecretKey)
	r.bool("SIEVE_S3_USE_SSL", &c.S3.UseSSL)
	r.str("SIEVE_S3_REGION", &c.S3.Region)
	r.str("SIEVE_S3_BUCKET_MEDIA", &c.S3.BucketMedia)
	r.str("SIEVE_S3_BUCKET_DERIVED", &c.S3.BucketDerived)
	r.str("SIEVE_S3_PUBLIC_URL", &c.S3.PublicURL)

	r.bool("SIEVE_WORKER_INPROCESS", &c.Worker.InProcess)
	r.int32("SIEVE_WORKER_CONCURRENCY", &c.Worker.Concurrency)
	r.dur("SIEVE_SYNC_RETENTION", &c.Sync.Retention)
	r.dur("SIEVE_SYNC_PRUNE_EVERY", &c.Sync.PruneEvery)

	r.int32("SIEVE_UPLOAD_MAX_PENDING", &c.Limits.UploadMaxPending)
	r.bytes("SIEVE_UPLOAD_MAX_PENDING_BYTES", &c.Limits.UploadMaxPendingBytes)
	r.int32("SIEVE_UPLOAD_MAX_OPEN", &c.Limits.UploadMaxOpen)
	r.dur("SIEVE_UPLOAD_IDLE_TIMEOUT", &c.Limits.UploadIdleTimeout)
	r.str("SIEVE_UPLOAD_SPOOL_DIR", &c.Limits.UploadSpoolDir)
	r.bytes("SIEVE_WORKER_DECODE_MEMORY", &c.Limits.DecodeMemory)
	r.dur("SIEVE_JOBS_TIMEOUT", &c.Limits.JobTimeout)
	r.dur("SIEVE_JOBS_RESCUE_AFTER", &c.Limits.JobRescueAfter)
	r.bytes("SIEVE_IMPORT_SHP_MAX_BYTES", &c.Limits.ShapefileMaxBytes)
	r.int32("SIEVE_IMPORT_SHP_MAX_VERTICES", &c.Limits.ShapefileMaxVertices)
	r.days("SIEVE_SITES_REINSPECTION_DAYS", &c.Sites.ReinspectionDays)
	r.float("SIEVE_FOOTPRINT_DEPTH_HEIGHTS", &c.Survey.FootprintDepthHeights)
	r.float("SIEVE_FOOTPRINT_MAX_RANGE_M", &c.Survey.FootprintMaxRangeMetres)
	r.float("SIEVE_SURVEY_REGION_MARGIN_M", &c.Survey.RegionMarginMetres)
	r.float("SIEVE_SURVEY_DATE_TOLERANCE_DAYS", &c.Survey.FlightDateDays)
	r.float("SIEVE_SURVEY_BLUR_MIN", &c.Survey.BlurMinLaplacian)
	r.float("SIEVE_SURVEY_DARK_LUMA", &c.Survey.DarkMeanLuma)
	r.float("SIEVE_SURVEY_BRIGHT_LUMA", &c.Survey.BrightMeanLuma)

	r.str("SIEVE_LOG_LEVEL", &c.Log.Level)
	r.str("SIEVE_LOG_FORMAT", &c.Log.Format)
	r.evidence(&c.Evidence)

	r.str("SIEVE_MAP_TIANDITU_KEY", &c.Map.TiandituKey)
	r.tracks(&c.Tracks)

	r.evidence(&c.Evidence)
	r.reports(&c.Reports)

	r.leads(&c.Leads)
	r.tips(&c.Tips)
	r.throttle(&c.Throttle)

	r.check(c.validate)
	return c, errors.Join(r.errs...)
}

// validate checks the values that parsed but may still be wrong.
func (c Config) validate() []error {
	var errs []error
	bad := func(name, format string, a ...any) {
		errs = append(errs, fmt.Errorf("config: %s: %s", name, fmt.Sprintf(format, a...)))
	}
	if _, _, err := splitHostPort(c.HTTP.Addr); err != nil {
		bad("SIEVE_HTTP_ADDR", "want host:port, got %q", c.HTTP.Addr)
	}
	if c.HTTP.BodyLimit < 1024 {
		bad("SIEVE_HTTP_BODY_LIMIT", "at least 1KB")
	}
	if c.HTTP.UploadLimit < 1<<20 {
		bad("SIEVE_HTTP_UPLOAD_LIMIT", "at least 1MB")
	}
	if u, err := url.Parse(c.DB.URL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		bad("SIEVE_DB_URL", "want postgres://user:password@host:port/db")
	}
	if c.DB.MaxConns < 2 || c.DB.MaxConns > 1000 {
		bad("SIEVE_DB_MAX_CONNS", "between 2 and 1000, got %d", c.DB.MaxConns)
	}
	if _, _, err := splitHostPort(c.S3.Endpoint); err != nil {
		bad("SIEVE_S3_ENDPOINT", "want host:port without scheme, got %q", c.S3.Endpoint)
	}
	if u, err := url.Parse(c.S3.PublicURL); c.S3.PublicURL != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
		bad("SIEVE_S3_PUBLIC_URL", "want http(s)://host[:port], got %q", c.S3.PublicURL)
	}
	if c.S3.BucketMedia == "" || c.S3.BucketDerived == "" || c.S3.BucketMedia == c.S3.BucketDerived {
		bad("SIEVE_S3_BUCKET_MEDIA", "media and derived buckets must be set and differ")
	}
	if c.Auth.KDFConcurrency < 1 || c.Auth.KDFConcurrency > 256 {
		bad("SIEVE_AUTH_KDF_CONCURRENCY", "between 1 and 256, got %d", c.Auth.KDFConcurrency)
	}
	if c.Auth.KDFQueue < 0 || c.Auth.KDFQueue > 10000 {
		bad("SIEVE_AUTH_KDF_QUEUE", "between 0 and 10000, got %d", c.Auth.KDFQueue)
	}
	if c.Auth.KDFWait <= 0 || c.HTTP.BodyIdleTimeout <= 0 {
		bad("SIEVE_AUTH_KDF_WAIT", "SIEVE_AUTH_KDF_WAIT and SIEVE_HTTP_BODY_IDLE_TIMEOUT must be positive")
	}
	if c.Worker.Concurrency < 1 || c.Worker.Concurrency > 256 {
		bad("SIEVE_WORKER_CONCURRENCY", "between 1 and 256, got %d", c.Worker.Concurrency)
	}
	l := c.Limits
	if l.UploadMaxPending < 1 {
		bad("SIEVE_UPLOAD_MAX_PENDING", "at least 1, got %d", l.UploadMaxPending)
	}
	if l.UploadMaxPendingBytes < c.HTTP.UploadLimit {
		bad("SIEVE_UPLOAD_MAX_PENDING_BYTES", "at least SIEVE_HTTP_UPLOAD_LIMIT (%d bytes)", c.HTTP.UploadLimit)
	}
	if l.UploadMaxOpen < 1 || l.UploadMaxOpen > 1000 {
		bad("SIEVE_UPLOAD_MAX_OPEN", "between 1 and 1000, got %d", l.UploadMaxOpen)
	}
	if l.UploadIdleTimeout < time.Second { // past SIEVE_HTTP_READ_TIMEOUT, that one ends the read first
		bad("SIEVE_UPLOAD_IDLE_TIMEOUT", "at least 1s, got %s", l.UploadIdleTimeout)
	}
	if l.UploadSpoolDir != "" {
		if fi, err := os.Stat(l.UploadSpoolDir); err != nil || !fi.IsDir() {
			bad("SIEVE_UPLOAD_SPOOL_DIR", "not a directory: %q", l.UploadSpoolDir)
		}
	}
	if l.DecodeMemory < 16<<20 {
		bad("SIEVE_WORKER_DECODE_MEMORY", "at least 16MB")
	}
	if l.JobRescueAfter < l.JobTimeout {
		bad("SIEVE_JOBS_RESCUE_AFTER", "at least SIEVE_JOBS_TIMEOUT (%s), got %s", l.JobTimeout, l.JobRescueAfter)
	}
	if l.ShapefileMaxBytes < 1<<20 {
		bad("SIEVE_IMPORT_SHP_MAX_BYTES", "at least 1MB")
	}
	if l.ShapefileMaxVertices < 1000 {
		bad("SIEVE_IMPORT_SHP_MAX_VERTICES", "at least 1000, got %d", l.ShapefileMaxVertices)
	}
	for _, d := range c.Sites.ReinspectionDays {
		if d < 1 || d > 3650 {
			bad("SIEVE_SITES_REINSPECTION_DAYS", "days between 1 and 3650, got %d", d)
		}
	}
	if v := c.Survey.FootprintDepthHeights; v <= 0 || v > 100 {
		bad("SIEVE_FOOTPRINT_DEPTH_HEIGHTS", "above 0 and at most 100, got %g", v)
	}
	if v := c.Survey.FootprintMaxRangeMetres; v < 10 || v > 20000 {
		bad("SIEVE_FOOTPRINT_MAX_RANGE_M", "between 10 and 20000 m, got %g", v)
	}
	if v := c.Survey.RegionMarginMetres; v < 0 || v > 50000 {
		bad("SIEVE_SURVEY_REGION_MARGIN_M", "between 0 and 50000 m, got %g", v)
	}
	if v := c.Survey.FlightDateDays; v < 0 || v > 366 {
		bad("SIEVE_SURVEY_DATE_TOLERANCE_DAYS", "between 0 and 366, got %g", v)
	}
	if v := c.Survey.BlurMinLaplacian; v < 0 {
		bad("SIEVE_SURVEY_BLUR_MIN", "at least 0, got %g", v)
	}
	if d, b := c.Survey.DarkMeanLuma, c.Survey.BrightMeanLuma; d < 0 || b > 255 || d >= b {
		bad("SIEVE_SURVEY_DARK_LUMA", "dark and bright luma within 0-255, dark below bright; got %g and %g", d, b)
	}
	if c.Sync.Retention < time.Hour {
		bad("SIEVE_SYNC_RETENTION", "at least 1h, got %s", c.Sync.Retention)
	}
	if c.Sync.PruneEvery < time.Minute {
		bad("SIEVE_SYNC_PRUNE_EVERY", "at least 1m, got %s", c.Sync.PruneEvery)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("SIEVE_LOG_LEVEL", "one of debug, info, warn, error; got %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("SIEVE_LOG_FORMAT", "text or json; got %q", c.Log.Format)
	}
	validateEvidence(c.Evidence, bad)
	validateReports(c.Reports, c.HTTP.UploadLimit, bad)
	validateTracks(c.Tracks, bad)
	validateLeads(c.Leads, bad)
	validateTips(c.Tips, bad)
	validateThrottle(c.Throttle, bad)
	return errs
}

// String prints the effective configuration with secrets masked, for the start-up log.
func (c Config) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "http.addr=%s http.body_limit=%d http.upload_limit=%d ", c.HTTP.Addr, c.HTTP.BodyLimit, c.HTTP.UploadLimit)
	fmt.Fprintf(&b, "http.read_timeout=%s http.write_timeout=%s ", c.HTTP.ReadTimeout, c.HTTP.WriteTimeout)
	fmt.Fprintf(&b, "db.url=%s db.max_conns=%d ", MaskURL(c.DB.URL), c.DB.MaxConns)
	fmt.Fprintf(&b, "s3.endpoint=%s s3.access_key=%s s3.secret_key=%s s3.ssl=%t ", c.S3.Endpoint, c.S3.AccessKey, mask(c.S3.SecretKey), c.S3.UseSSL)
	fmt.Fprintf(&b, "s3.bucket_media=%s s3.bucket_derived=%s s3.public_url=%s ", c.S3.BucketMedia, c.S3.BucketDerived, c.S3.PublicURL)
	fmt.Fprintf(&b, "http.trust_proxy=%t auth.token_ttl=%s auth.cache_ttl=%s ", c.HTTP.TrustProxy, c.Auth.TokenTTL, c.Auth.CacheTTL)
	fmt.Fprintf(&b, "auth.kdf_concurrency=%d auth.kdf_queue=%d auth.kdf_wait=%s http.body_idle_timeout=%s ",
		c.Auth.KDFConcurrency, c.Auth.KDFQueue, c.Auth.KDFWait, c.HTTP.BodyIdleTimeout)
	fmt.Fprintf(&b, "worker.in_process=%t worker.concurrency=%d ", c.Worker.InProcess, c.Worker.Concurrency)
	fmt.Fprintf(&b, "survey.footprint_depth_heights=%g survey.footprint_max_range_m=%g survey.region_margin_m=%g ",
		c.Survey.FootprintDepthHeights, c.Survey.FootprintMaxRangeMetres, c.Survey.RegionMarginMetres)
	fmt.Fprintf(&b, "survey.date_tolerance_days=%g survey.blur_min=%g survey.luma=%g-%g ",
		c.Survey.FlightDateDays, c.Survey.BlurMinLaplacian, c.Survey.DarkMeanLuma, c.Survey.BrightMeanLuma)
	fmt.Fprintf(&b, "sites.reinspection_days=%v ", c.Sites.ReinspectionDays)
	l := c.Limits
	fmt.Fprintf(&b, "upload.max_pending=%d upload.max_pending_bytes=%d upload.max_open=%d upload.idle_timeout=%s upload.spool_dir=%q ",
		l.UploadMaxPending, l.UploadMaxPendingBytes, l.UploadMaxOpen, l.UploadIdleTimeout, l.UploadSpoolDir)
	fmt.Fprintf(&b, "worker.decode_memory=%d jobs.timeout=%s jobs.rescue_after=%s import.shp_max_bytes=%d import.shp_max_vertices=%d ",
		l.DecodeMemory, l.JobTimeout, l.JobRescueAfter, l.ShapefileMaxBytes, l.ShapefileMaxVertices)
	fmt.Fprintf(&b, "log.level=%s log.format=%s ", c.Log.Level, c.Log.Format)
	b.WriteString(evidenceString(c.Evidence))
	b.WriteString(reportsString(c.Reports))
	b.WriteString(tracksString(c.Tracks))
	b.WriteString(leadsString(c.Leads))
	b.WriteString(tipsString(c.Tips))
	b.WriteString(throttleString(c.Throttle))
	return b.String()
}

// MaskURL hides the password of a connection URL.
func MaskURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable)"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.Redacted()
}

func mask(s string) string {
	if s == "" {
		return "(unset)"
	}
	return "xxxxx"
}

func splitHostPort(s string) (string, int, error) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return "", 0, errors.New("no port")
	}
	p, err := strconv.Atoi(s[i+1:])
	if err != nil || p <= 0 || p > 65535 {
		return "", 0, errors.New("bad port")
	}
	return s[:i], p, nil
}

// reader collects parse errors so that all bad variables are reported at once.
type reader struct {
	getenv func(string) string
	errs   []error
}

func (r *reader) fail(name, raw, want string) {
	r.errs = append(r.errs, fmt.Errorf("config: %s=%q: want %s", name, raw, want))
}

func (r *reader) str(name string, dst *string) {
	if v := r.getenv(name); v != "" {
		*dst = v
	}
}

// secret reads NAME, or the contents of the file named by NAME_FILE.
func (r *reader) secret(name string, dst *string) {
	v, f := r.getenv(name), r.getenv(name+"_FILE")
	switch {
	case v != "" && f != "":
		r.errs = append(r.errs, fmt.Errorf("config: %s and %s_FILE are both set; set one", name, name))
	case f != "":
		b, err := os.ReadFile(f)
		if err != nil {
			r.errs = append(r.errs, fmt.Errorf("config: %s_FILE: %w", name, err))
			return
		}
		*dst = strings.TrimSpace(string(b))
	case v != "":
		*dst = v
	}
}

func (r *reader) dur(name string, dst *time.Duration) {
	v := r.getenv(name)
	if v == "" {
		return
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		r.fail(name, v, "a positive duration such as 30s or 5m")
		return
	}
	*dst = d
}

func (r *reader) int32(name string, dst *int32) {
	v := r.getenv(name)
	if v == "" {
		return
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		r.fail(name, v, "an integer")
		return
	}
	*dst = int32(n)
}

// float reads a finite decimal number.
func (r *reader) float(name string, dst *float64) {
	v := r.getenv(name)
	if v == "" {
		return
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		r.fail(name, v, "a number")
		return
	}
	*dst = f
}

func (r *reader) bool(name string, dst *bool) {
	v := r.getenv(name)
	if v == "" {
		return
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.fail(name, v, "true or false")
		return
	}
	*dst = b
}

// bytes reads a size such as 8388608, 512KB, 8MB or 1GB.
func (r *reader) bytes(name string, dst *int64) {
	v := r.getenv(name)
	if v == "" {
		return
	}
	n, err := ParseBytes(v)
	if err != nil {
		r.fail(name, v, "a size such as 8MB")
		return
	}
	*dst = n
}

// days reads a comma-separated list of whole days (an empty list is allowed: no re-inspections).
func (r *reader) days(name string, dst *[]int) {
	raw := r.getenv(name)
	if raw == "" {
		return
	}
	out := []int{}
	for _, part := range strings.Split(raw, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		n, err := strconv.Atoi(part)
		if err != nil {
			r.fail(name, raw, "a comma-separated list of days, e.g. 30,90")
			return
		}
		out = append(out, n)
	}
	*dst = out
}

func (r *reader) check(f func() []error) {
	if len(r.errs) == 0 {
		r.errs = append(r.errs, f()...)
	}
}

// ParseBytes parses a byte size with an optional KB, MB or GB suffix (powers of 1024).
func ParseBytes(s string) (int64, error) {
	s = strings.ToUpper(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("config: bad size %q", s)
	}
	return n * mult, nil
}
