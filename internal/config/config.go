// Package config reads Sieve's configuration from SIEVE_* environment variables.
//
// Each concern has a typed struct with defaults. A value that does not parse or is out of range
// stops the process with a message naming the variable. Secrets may instead be given as a file
// path in NAME_FILE (Docker and Kubernetes secrets), and are masked when the config is printed.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sieve-city/sieve/internal/evidence"
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
	// CacheTTL is how long an instance trusts a token it has checked (SIEVE_AUTH_CACHE_TTL):
	// revocation on another instance takes effect within this time.
	CacheTTL time.Duration
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
		Auth:     Auth{TokenTTL: 7 * 24 * time.Hour, CacheTTL: 10 * time.Second},
		Log:      Log{Level: "info", Format: "text"},
		Worker:   Worker{InProcess: true, Concurrency: 4},
		Evidence: evidence.DefaultConfig(),
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

	r.str("SIEVE_LOG_LEVEL", &c.Log.Level)
	r.str("SIEVE_LOG_FORMAT", &c.Log.Format)

	r.str("SIEVE_MAP_TIANDITU_KEY", &c.Map.TiandituKey)

	r.evidence(&c.Evidence)

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
	if c.Worker.Concurrency < 1 || c.Worker.Concurrency > 256 {
		bad("SIEVE_WORKER_CONCURRENCY", "between 1 and 256, got %d", c.Worker.Concurrency)
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
	fmt.Fprintf(&b, "worker.in_process=%t worker.concurrency=%d ", c.Worker.InProcess, c.Worker.Concurrency)
	fmt.Fprintf(&b, "log.level=%s log.format=%s ", c.Log.Level, c.Log.Format)
	b.WriteString(evidenceString(c.Evidence))
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
