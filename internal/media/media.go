// Package media stores photos (照片) and drone survey images (航拍影像): it takes uploads
// streamed through the API or sent straight to MinIO with presigned URLs, keeps one record per
// original (SHA-256 and Idempotency-Key make retries and repeats find the first), and runs the
// background jobs that read the metadata, place each image on the map (point, ground footprint,
// grid cells, links to suspected sites), make the thumbnails and the perceptual hash.
//
// Jobs run in a Postgres-backed queue (River) that any number of `sieve worker` processes drain;
// they act as the system actor. See NewQueue. Each new medium gets two jobs: media_metadata
// (EXIF/XMP, point, drone footprint, cells, site links) and media_thumbnail (thumbnails, pHash).
// The content's SHA-256 is checked before a medium is recorded: by MinIO for POST /media, by
// Complete for presigned uploads. A file damaged past its structure check fails its job
// for good (the medium is marked failed with a code); any other error is retried with growing
// delays, and after the last attempt River discards the job (its dead letter) and the medium
// shows as failed with code job_failed in its survey's progress. Reprocess enqueues them again.
//
// Placement and site links are SQL functions (migration 0010), so they can be re-run when the
// map changes: place_media(media_ids) recomputes the cells of media (NULL: all) after cells are
// imported or regenerated; link_media_to_sites(media_ids, site_ids, near_m) links drone images
// to the suspected sites their footprint covers and photos to the sites within near_m metres.
// The placement job calls both for each new medium; the sites issue should call
// link_media_to_sites(NULL, ARRAY[site_id]) when a site is created or moved, which links the
// images already stored.
package media

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/sieve-city/sieve/imagery"
	"github.com/sieve-city/sieve/internal/blob"
	"github.com/sieve-city/sieve/internal/db"
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
}

// DefaultConfig returns the limits and lifetimes Sieve runs with.
func DefaultConfig() Config {
	return Config{
		Limits:         imagery.Limits{MaxPixels: 120_000_000, MaxBytes: 64 << 20},
		PartSize:       8 << 20,
		SessionTTL:     24 * time.Hour,
		IntentTTL:      time.Hour,
		URLTTL:         15 * time.Minute,
		NearSiteMetres: 50,
	}
}

// Service is the media domain: its SQL, its objects in MinIO, its jobs.
type Service struct {
	pool   *pgxpool.Pool
	blob   *blob.Store
	thumbs *imagery.Thumbnailer
	cfg    Config
	log    *slog.Logger
	jobs   *river.Client[pgx.Tx]
}

// New builds the service. Call NewQueue before taking uploads: uploads enqueue jobs.
func New(pool *pgxpool.Pool, store *blob.Store, thumbs *imagery.Thumbnailer, cfg Config, log *slog.Logger) *Service {
	return &Service{pool: pool, blob: store, thumbs: thumbs, cfg: cfg, log: log}
}

// Blob returns the object store the service writes to.
func (s *Service) Blob() *blob.Store { return s.blob }

// Config returns the service's configuration.
func (s *Service) Config() Config { return s.cfg }

// Medium is one stored original (a photo or a drone image) and what the jobs learnt of it.
type Medium struct {
	ID           int64           `json:"id"`
	Kind         string          `json:"kind"` // photo or drone
	SurveyID     *int64          `json:"surveyId,omitempty"`
	UploadedBy   int64           `json:"uploadedBy"`
	SHA256       string          `json:"sha256"`
	Size         int64           `json:"size"`
	Format       string          `json:"format"`
	ContentType  string          `json:"contentType"`
	OriginalName string          `json:"originalName"`
	Width        *int            `json:"width,omitempty"`
	Height       *int            `json:"height,omitempty"`
	Status       string          `json:"status"` // received, processed, failed
	ErrorCode    string          `json:"errorCode,omitempty"`
	Error        string          `json:"error,omitempty"`
	NoThumbnail  bool            `json:"noThumbnail"`
	TakenAt      *time.Time      `json:"takenAt,omitempty"`
	Point        json.RawMessage `json:"point,omitempty"`     // GeoJSON Point
	Footprint    json.RawMessage `json:"footprint,omitempty"` // GeoJSON Polygon
	AltitudeRel  *float64        `json:"altitudeRel,omitempty"`
	PHash        string          `json:"phash,omitempty"` // 16 hex digits
	Metadata     json.RawMessage `json:"metadata,omitempty"`
	Thumbnails   []string        `json:"thumbnails"` // sizes available
	CellIDs      []int64         `json:"cellIds"`
	CreatedAt    time.Time       `json:"createdAt"`

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

const mediaCols = `m.id, m.kind, m.survey_id, m.uploaded_by, m.sha256, m.size, m.format, m.content_type,
	m.original_name, m.width, m.height, m.status, m.error_code, m.error, m.no_thumbnail, m.taken_at,
	ST_AsGeoJSON(m.point, 7), ST_AsGeoJSON(m.footprint, 7), m.altitude_rel, m.phash, m.metadata, m.thumbs,
	m.created_at, m.object_key,
	coalesce((SELECT array_agg(mc.cell_id ORDER BY mc.cell_id) FROM media_cells mc WHERE mc.media_id = m.id), '{}')`

func scanMedium(row pgx.Row) (Medium, error) {
	var (
		m         Medium
		sum       []byte
		point, fp *string
		phash     *int64
		thumbs    []byte
		metadata  []byte
	)
	err := row.Scan(&m.ID, &m.Kind, &m.SurveyID, &m.UploadedBy, &sum, &m.Size, &m.Format, &m.ContentType,
		&m.OriginalName, &m.Width, &m.Height, &m.Status, &m.ErrorCode, &m.Error, &m.NoThumbnail, &m.TakenAt,
		&point, &fp, &m.AltitudeRel, &phash, &metadata, &thumbs, &m.CreatedAt, &m.objectKey, &m.CellIDs)
	if err != nil {
		return m, err
	}
	m.SHA256 = hex.EncodeToString(sum)
	if point != nil {
		m.Point = json.RawMessage(*point)
	}
	if fp != nil {
		m.Footprint = json.RawMessage(*fp)
	}
	if phash != nil {
		m.PHash = fmt.Sprintf("%016x", uint64(*phash))
	}
	if len(metadata) > 0 {
		m.Metadata = metadata
	}
	m.Thumbnails = []string{}
	if len(thumbs) > 0 {
		if err := json.Unmarshal(thumbs, &m.thumbs); err != nil {
			return m, fmt.Errorf("media: thumbs of %d: %w", m.ID, err)
		}
		for name := range m.thumbs {
			m.Thumbnails = append(m.Thumbnails, name)
		}
	}
	return m, nil
}

// Get returns one medium visible in tx's scope, or apperr.ErrNotFound.
func (s *Service) Get(ctx context.Context, tx pgx.Tx, id int64) (Medium, error) {
	const q = `SELECT ` + mediaCols + ` FROM media m WHERE m.id = $1`
	m, err := scanMedium(tx.QueryRow(ctx, q, id))
	return m, db.MapError(err)
}

// SurveyImages lists a survey's images in id order, after the id after.
func (s *Service) SurveyImages(ctx context.Context, tx pgx.Tx, surveyID, after int64, limit int, status string) ([]Medium, error) {
	if _, err := s.GetSurvey(ctx, tx, surveyID); err != nil {
		return nil, err
	}
	const q = `SELECT ` + mediaCols + ` FROM media m
		WHERE m.survey_id = $1 AND m.id > $2 AND ($4 = '' OR m.status = $4) ORDER BY m.id LIMIT $3`
	rows, err := tx.Query(ctx, q, surveyID, after, limit, status)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Medium, error) { return scanMedium(r) })
}

// OriginalURL returns a short-lived presigned GET URL of a medium's original.
func (s *Service) OriginalURL(ctx context.Context, m Medium) (string, error) {
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
