// Package media stores photos (照片) and drone survey images (航拍影像): it takes uploads
// streamed through the API or sent straight to MinIO with presigned URLs, keeps one record per
// original (SHA-256 and Idempotency-Key make retries and repeats find the first), and runs the
// background jobs that read the metadata, place each image on the map (point, ground footprint,
// grid cells, links to suspected sites), make the thumbnails and the perceptual hash.
//
// Jobs run in the Postgres-backed queue of internal/jobs (River), which any number of `sieve
// worker` processes drain; they act as the system actor. The Service is a jobs.Domain
// (Register, Periodic, Queues) and enqueues through the jobs.Enqueuer it is built with. Each
// new medium gets two jobs: media_metadata (EXIF/XMP, point, drone footprint, cells, site
// links) and media_thumbnail (thumbnails, pHash); when the second is done the medium is
// processed and the Processed hooks run (Hooks). The content's SHA-256 is checked before a
// medium is recorded: by MinIO for POST /media, by Complete for presigned uploads. A file
// damaged past its structure check fails its job for good (the medium is marked failed with a
// code); any other error is retried with growing delays, and after the last attempt River
// discards the job (its dead letter) and the medium shows as failed with code job_failed in
// its survey's progress. Reprocess enqueues them again.
//
// Files: store.go holds every SQL statement (Store, methods taking the transaction); the
// Service does the I/O (MinIO, jobs) and opens short transactions through it: ingest.go
// (POST /media), slots.go (presigned upload sessions), complete.go (finishing them),
// cleanup.go (expiry and orphans), jobs.go (the workers), surveys.go; integrity.go (sealed
// originals: a completed upload is copied to a key no URL named, and an original is served
// only while its stored SHA-256 is the recorded one; presigned PUTs bound to their size),
// quota.go (pending sessions, declared bytes and open uploads per user), idempotency.go (a
// reused Idempotency-Key with another file), quality.go (the quality
// flags of survey images: the metadata job checks position, attitude and capture time against
// the survey, the thumbnail job the list thumbnail's pixels; each writes its own column, and
// the survey's progress counts the flagged images by reason). An upload session is
// pending until Complete makes it completed (its medium) or rejected (why), or Cleanup, after
// expires_at by the service's clock, makes it expired; a new session for the same content
// with another size supersedes (expires) a pending one.
//
// Placement and site links are SQL functions, so they can be re-run when the map changes:
// place_media(media_ids) recomputes the cells of media through region_shapes (migration 0014);
// link_media_to_sites(media_ids, site_ids, near_m) links drone images to the suspected sites
// their footprint covers and photos to the sites within near_m metres (0010; the sites
// migration defines it for real). The placement job calls both for each new medium. When cells
// change, internal/regions re-places media itself through the Placer of placer.go (wired in
// cmd/sieve with the other placers); nobody re-runs place_media by hand. The sites issue should
// call link_media_to_sites(NULL, ARRAY[site_id]) when a site is created or moved, which links
// the images already stored.
package media

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sieve-city/sieve/imagery"
	"github.com/sieve-city/sieve/internal/blob"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/jobs"
)

// Config bounds uploads and sets the lifetimes of upload sessions and links.
type Config struct {
	// Limits are checked on each file's header before anything is decoded or stored.
	Limits imagery.Limits
	// PartSize is the part size of resumable (multipart) uploads; a presigned upload of a file
	// up to this size is one PUT.
	PartSize int64
	// SessionTTL is how long a presigned upload session (and its URLs) lasts: long enough to
	// survive a phone call or a night.
	SessionTTL time.Duration
	// IntentTTL is how long an object being streamed by POST /media may stay unrecorded before
	// the cleanup job deletes it (only a crash leaves one).
	IntentTTL time.Duration
	// URLTTL is the lifetime of the presigned GET URLs of originals and thumbnails.
	URLTTL time.Duration
	// NearSiteMetres is how close to a suspected site a photo's point must be to be linked.
	NearSiteMetres float64
	// CleanupEvery is the period of the upload_cleanup job.
	CleanupEvery time.Duration
	// SpoolDir holds the temporary files of POST /media uploads sent without a size ("": the
	// system's temporary directory).
	SpoolDir string
	// Quota bounds what one user may have open at once (quota.go).
	Quota Quota
	// BodyIdleTimeout cuts off a POST /media body when no byte arrived for that long (0: no
	// idle limit); BodyTotalTimeout bounds its whole read (the server's read timeout).
	BodyIdleTimeout, BodyTotalTimeout time.Duration
	// Footprint is where drone footprints are cut (imagery.FootprintClipped).
	Footprint imagery.FootprintClip
	// Quality holds the thresholds of the survey image checks (quality.go).
	Quality QualityConfig
}

// DefaultConfig returns the limits and lifetimes Sieve runs with.
func DefaultConfig() Config {
	return Config{
		Limits:         imagery.Limits{MaxPixels: 120_000_000, MaxBytes: 64 << 20},
		PartSize:       8 << 20,
		SessionTTL:     24 * time.Hour,
		IntentTTL:      time.Hour,
		URLTTL:         15 * time.Minute,
		NearSiteMetres: 30, // issue 11: photos within 30 m of a site (link_media_to_sites, migration 0022)
		CleanupEvery:   10 * time.Minute,
		Quota:          DefaultQuota(),
		// A phone on weak 4G may pause for seconds, not for a minute.
		BodyIdleTimeout:  time.Minute,
		BodyTotalTimeout: 10 * time.Minute,
		Footprint:        imagery.FootprintClip{DepthHeights: 5, MaxRangeMetres: 1000},
		Quality:          DefaultQualityConfig(),
	}
}

// Deps are what the service is built with (in cmd/sieve), all required but Hooks.
type Deps struct {
	Pool   *pgxpool.Pool
	Blob   *blob.Store
	Thumbs *imagery.Thumbnailer
	// Jobs enqueues the processing jobs of new media; the media jobs must be registered with
	// the same queue (jobs.Queue.Build with the service).
	Jobs jobs.Enqueuer
	// Hooks are what later domains run when a medium changes.
	Hooks Hooks
	// Now is the clock: object key dates, session expiry, the cleanup cut-offs.
	Now func() time.Time
	Log *slog.Logger
}

// Hooks let the domains that come after media (inspections, sites) act on its changes without
// media importing them; they are given at wiring time in cmd/sieve.
type Hooks struct {
	// Processed run when a medium becomes processed: in the transaction (acting as the system)
	// of whichever of its two jobs finishes last, right after that job's update, so they see
	// its point, footprint, cells, site links, thumbnails and pHash. They never run for a
	// medium that failed. After Reprocess each of the two jobs leaves the medium processed (the
	// other's results are already there), so they run once per job: make them idempotent. An
	// error rolls the job's work back and the job is retried.
	Processed []func(ctx context.Context, tx pgx.Tx, mediaID int64) error
}

// Service is the media domain: its objects in MinIO, its jobs, and short transactions through
// its Store.
type Service struct {
	pool   *pgxpool.Pool
	blob   *blob.Store
	thumbs *imagery.Thumbnailer
	jobs   jobs.Enqueuer
	hooks  Hooks
	now    func() time.Time
	cfg    Config
	log    *slog.Logger
	store  Store
	open   openUploads // POST /media bodies being received, per user (quota.go)
}

// New builds the service. Register it with the queue it enqueues through (d.Jobs) before
// taking uploads.
func New(d Deps, cfg Config) (*Service, error) {
	switch {
	case d.Pool == nil, d.Blob == nil, d.Thumbs == nil, d.Jobs == nil, d.Now == nil, d.Log == nil:
		return nil, errors.New("media: New needs Pool, Blob, Thumbs, Jobs, Now and Log")
	}
	if cfg.Footprint == (imagery.FootprintClip{}) {
		cfg.Footprint = DefaultConfig().Footprint
	}
	if cfg.Quality == (QualityConfig{}) {
		cfg.Quality = DefaultQualityConfig()
	}
	return &Service{pool: d.Pool, blob: d.Blob, thumbs: d.Thumbs, jobs: d.Jobs, hooks: d.Hooks, now: d.Now,
		cfg: cfg, log: d.Log}, nil
}

// Blob returns the object store the service writes to.
func (s *Service) Blob() *blob.Store { return s.blob }

// Config returns the service's configuration.
func (s *Service) Config() Config { return s.cfg }

// Medium is one stored original (a photo or a drone image) and what the jobs learnt of it.
type Medium struct {
	ID       int64  `json:"id"`
	Kind     string `json:"kind"` // photo or drone
	SurveyID *int64 `json:"surveyId,omitempty"`
	// Source is upload (a signed-in user's file) or tip (a public tip's photo, RecordTipPhoto);
	// UploadedBy is nil for a tip's photo: the public has no account.
	Source       string     `json:"source"`
	UploadedBy   *int64     `json:"uploadedBy"`
	SHA256       string     `json:"sha256"`
	Size         int64      `json:"size"`
	Format       string     `json:"format"`
	ContentType  string     `json:"contentType"`
	OriginalName string     `json:"originalName"`
	Width        *int       `json:"width,omitempty"`
	Height       *int       `json:"height,omitempty"`
	Status       string     `json:"status"` // received, processed, failed
	ErrorCode    string     `json:"errorCode,omitempty"`
	Error        string     `json:"error,omitempty"`
	NoThumbnail  bool       `json:"noThumbnail"`
	TakenAt      *time.Time `json:"takenAt,omitempty"`
	// TakenAtZoneAssumed is the zone a capture time without one was read in ("+08:00"), as in
	// metadata.takenAtZoneAssumed; "" when the camera gave its zone.
	TakenAtZoneAssumed string          `json:"takenAtZoneAssumed,omitempty"`
	Point              json.RawMessage `json:"point,omitempty"`     // GeoJSON Point
	Footprint          json.RawMessage `json:"footprint,omitempty"` // GeoJSON Polygon
	// FootprintClipped says the footprint was cut at the configured range; NoFootprint says why
	// a drone image has none (no_attitude, no_altitude, no_position, no_field_of_view,
	// above_horizon).
	FootprintClipped bool   `json:"footprintClipped"`
	NoFootprint      string `json:"noFootprint,omitempty"`
	// Flags are what is wrong with a survey image (quality.go); empty when nothing is.
	Flags []Flag `json:"flags"`
	// DuplicateNames are the other names the same bytes came under in its surveys.
	DuplicateNames []string `json:"duplicateNames"`
	// LinkedSurveyIDs are the surveys besides SurveyID that list the image (the same card
	// uploaded again into another survey).
	LinkedSurveyIDs []int64         `json:"linkedSurveyIds"`
	AltitudeRel     *float64        `json:"altitudeRel,omitempty"`
	PHash           string          `json:"phash,omitempty"` // 16 hex digits
	Metadata        json.RawMessage `json:"metadata,omitempty"`
	Thumbnails      []string        `json:"thumbnails"` // sizes available
	CellIDs         []int64         `json:"cellIds"`
	CreatedAt       time.Time       `json:"createdAt"`

	objectKey string
	thumbs    map[string]ThumbRef
}

// ThumbRef is one stored thumbnail.
type ThumbRef struct {
	Key    string `json:"key"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
	ETag   string `json:"etag"`
}

// Get returns one medium visible in tx's scope, or apperr.ErrNotFound.
func (s *Service) Get(ctx context.Context, tx pgx.Tx, id int64) (Medium, error) {
	return s.store.Get(ctx, tx, id)
}

// SurveyImages lists a survey's images in id order, after the id after.
func (s *Service) SurveyImages(ctx context.Context, tx pgx.Tx, surveyID, after int64, limit int, status string) ([]Medium, error) {
	if _, err := s.store.GetSurvey(ctx, tx, surveyID); err != nil {
		return nil, err
	}
	return s.store.SurveyImages(ctx, tx, surveyID, after, limit, status)
}

// getAs returns one medium visible to a, or apperr.ErrNotFound.
func (s *Service) getAs(ctx context.Context, a db.Actor, id int64) (Medium, error) {
	return readAs(ctx, s.pool, a, func(tx pgx.Tx) (Medium, error) { return s.store.Get(ctx, tx, id) })
}

// readAs returns what fn reads through the store in a read-only transaction acting as a.
func readAs[T any](ctx context.Context, pool *pgxpool.Pool, a db.Actor, fn func(tx pgx.Tx) (T, error)) (T, error) {
	var v T
	err := db.ReadInScope(ctx, pool, a, func(tx pgx.Tx) error {
		var err error
		v, err = fn(tx)
		return err
	})
	return v, db.MapError(err)
}

// asSystem returns what fn does through the store in a transaction acting as the system what.
func asSystem[T any](ctx context.Context, pool *pgxpool.Pool, what string, fn func(tx pgx.Tx) (T, error)) (T, error) {
	var v T
	err := db.AsSystem(ctx, pool, what, func(tx pgx.Tx) error {
		var err error
		v, err = fn(tx)
		return err
	})
	return v, err
}

// OriginalURL returns a short-lived presigned GET URL of a medium's original, once its stored
// bytes are checked to still have the recorded SHA-256 (checkOriginal; ErrOriginalAltered
// when not).
func (s *Service) OriginalURL(ctx context.Context, m Medium) (string, error) {
	if err := s.checkOriginal(ctx, m); err != nil {
		return "", err
	}
	params := map[string][]string{
		"response-content-type":        {m.ContentType},
		"response-content-disposition": {fmt.Sprintf(`inline; filename="media-%d.%s"`, m.ID, m.Format)},
	}
	u, err := s.blob.Presigner.PresignedGetObject(ctx, s.blob.BucketMedia, m.objectKey, s.cfg.URLTTL, params)
	if err != nil {
		return "", storageError(err)
	}
	return u.String(), nil
}

// Thumbnail returns a stored thumbnail of m, or ErrThumbnailPending, ErrNoThumbnail, ErrBadSize.
func (s *Service) Thumbnail(m Medium, size string) (ThumbRef, error) {
	if m.NoThumbnail {
		return ThumbRef{}, ErrNoThumbnail
	}
	if !s.thumbSize(size) {
		return ThumbRef{}, ErrBadSize
	}
	t, ok := m.thumbs[size]
	if !ok {
		if m.Status == "failed" {
			return ThumbRef{}, ErrNoThumbnail
		}
		return ThumbRef{}, ErrThumbnailPending
	}
	return t, nil
}

// thumbSize reports whether name is a configured thumbnail size.
func (s *Service) thumbSize(name string) bool {
	for _, sz := range s.thumbSizes() {
		if sz == name {
			return true
		}
	}
	return false
}

// thumbSizes are the size names Sieve makes (imagery.DefaultThumbConfig).
func (s *Service) thumbSizes() []string {
	var out []string
	for _, sz := range imagery.DefaultThumbConfig().Sizes {
		out = append(out, sz.Name)
	}
	return out
}

// ThumbnailURL returns a short-lived presigned GET URL of a stored thumbnail.
func (s *Service) ThumbnailURL(ctx context.Context, t ThumbRef) (string, error) {
	u, err := s.blob.Presigner.PresignedGetObject(ctx, s.blob.BucketDerived, t.Key, s.cfg.URLTTL, nil)
	if err != nil {
		return "", storageError(err)
	}
	return u.String(), nil
}
