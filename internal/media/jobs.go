package media

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/twpayne/go-geom"

	"github.com/sieve-city/sieve/gis"
	"github.com/sieve-city/sieve/imagery"
	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/chinatime"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/jobs"
)

// queueName is the River queue of the media jobs.
const queueName = "media"

// MetadataArgs is the job that reads a medium's EXIF and XMP and places it: point, ground
// footprint (drone images), grid cells, and links to suspected sites.
type MetadataArgs struct {
	MediaID int64 `json:"media_id"`
}

// Kind names the job in River's table.
func (MetadataArgs) Kind() string { return "media_metadata" }

// ThumbnailArgs is the job that makes a medium's thumbnails (every size, upright) and its
// perceptual hash (computed from the smallest thumbnail, so the original is decoded once).
type ThumbnailArgs struct {
	MediaID int64 `json:"media_id"`
}

// Kind names the job in River's table.
func (ThumbnailArgs) Kind() string { return "media_thumbnail" }

// CleanupArgs is the periodic job that expires upload sessions and removes what they and
// crashed uploads left in MinIO.
type CleanupArgs struct{}

// Kind names the job in River's table.
func (CleanupArgs) Kind() string { return "upload_cleanup" }

// The media jobs are args that name their queue, so that every enqueuer of a kind puts it in
// queueName (jobs already in a database are there too).

// InsertOpts puts the job in the media queue.
func (MetadataArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: queueName} }

// InsertOpts puts the job in the media queue.
func (ThumbnailArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: queueName} }

// InsertOpts puts the job in the media queue and tries it once: it runs again soon anyway.
func (CleanupArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: queueName, MaxAttempts: 1}
}

var _ jobs.Domain = (*Service)(nil)

// Register adds the media workers (jobs.Domain).
func (s *Service) Register(w *river.Workers) {
	river.AddWorker(w, &metadataWorker{s: s})
	river.AddWorker(w, &thumbnailWorker{s: s})
	river.AddWorker(w, &cleanupWorker{s: s})
}

// Periodic is the upload cleanup, every Config.CleanupEvery and once at start (jobs.Domain).
func (s *Service) Periodic() []*river.PeriodicJob {
	every := s.cfg.CleanupEvery
	if every <= 0 {
		every = 10 * time.Minute
	}
	return []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(every),
		func() (river.JobArgs, *river.InsertOpts) { return CleanupArgs{}, nil },
		&river.PeriodicJobOpts{ID: "upload_cleanup", RunOnStart: true})}
}

// Queues is the one queue of the media jobs (jobs.Domain).
func (s *Service) Queues() []string { return []string{queueName} }

// enqueue adds the processing jobs of a new medium in tx, so that they exist iff it does.
func (s *Service) enqueue(ctx context.Context, tx pgx.Tx, id int64) error {
	err := s.jobs.EnqueueTx(ctx, tx,
		river.InsertManyParams{Args: MetadataArgs{MediaID: id}},
		river.InsertManyParams{Args: ThumbnailArgs{MediaID: id}})
	if err != nil {
		return fmt.Errorf("media: enqueue jobs of %d: %w", id, err)
	}
	return nil
}

// Reprocess enqueues the processing jobs of existing media again (e.g. after a fix to the
// metadata reader), as the system.
func (s *Service) Reprocess(ctx context.Context, ids []int64) error {
	return db.AsSystem(ctx, s.pool, "media-reprocess", func(tx pgx.Tx) error {
		for _, id := range ids {
			if err := s.enqueue(ctx, tx, id); err != nil {
				return err
			}
		}
		return nil
	})
}

type metadataWorker struct {
	river.WorkerDefaults[MetadataArgs]
	s *Service
}

// Timeout is the media_metadata timeout of the queue's options (jobs.TimeoutOf).
func (w *metadataWorker) Timeout(*river.Job[MetadataArgs]) time.Duration {
	return jobs.TimeoutOf(w.s.jobs, MetadataArgs{}.Kind())
}

func (w *metadataWorker) Work(ctx context.Context, job *river.Job[MetadataArgs]) error {
	return w.s.jobResult(ctx, job.JobRow, job.Args.MediaID, w.s.placeMedium(ctx, job.Args.MediaID))
}

type thumbnailWorker struct {
	river.WorkerDefaults[ThumbnailArgs]
	s *Service
}

// Timeout is the media_thumbnail timeout of the queue's options (jobs.TimeoutOf).
func (w *thumbnailWorker) Timeout(*river.Job[ThumbnailArgs]) time.Duration {
	return jobs.TimeoutOf(w.s.jobs, ThumbnailArgs{}.Kind())
}

func (w *thumbnailWorker) Work(ctx context.Context, job *river.Job[ThumbnailArgs]) error {
	return w.s.jobResult(ctx, job.JobRow, job.Args.MediaID, w.s.makeThumbnails(ctx, job.Args.MediaID))
}

type cleanupWorker struct {
	river.WorkerDefaults[CleanupArgs]
	s *Service
}

// Timeout is the upload_cleanup timeout of the queue's options (jobs.TimeoutOf).
func (w *cleanupWorker) Timeout(*river.Job[CleanupArgs]) time.Duration {
	return jobs.TimeoutOf(w.s.jobs, CleanupArgs{}.Kind())
}

func (w *cleanupWorker) Work(ctx context.Context, _ *river.Job[CleanupArgs]) error {
	_, err := w.s.Cleanup(ctx)
	return err
}

// failure is the code and public reason recorded on a medium whose job failed for good.
func failure(err error) (code, reason string, permanent bool) {
	switch {
	case errors.Is(err, apperr.ErrNotFound):
		return "", "", true
	}
	if ae, ok := apperr.As(classify(err)); ok {
		return ae.Code, ae.MessageZH, true
	}
	return "job_failed", "后台处理多次失败，已停止重试", false
}

// jobResult records what a job's error means: a permanent failure (damaged file) marks the
// medium failed and cancels the job; a transient one is retried, and on the last attempt marks
// the medium failed before River discards the job (its dead letter).
func (s *Service) jobResult(ctx context.Context, job *rivertype.JobRow, id int64, err error) error {
	if err == nil {
		return nil
	}
	code, reason, permanent := failure(err)
	last := job.Attempt >= job.MaxAttempts
	if code != "" && (permanent || last) {
		if ferr := s.markFailed(ctx, id, code, reason); ferr != nil {
			return ferr
		}
		s.log.Warn("media: job failed", "kind", job.Kind, "media_id", id, "attempt", job.Attempt, "code", code, "err", err)
	}
	if permanent {
		return river.JobCancel(err)
	}
	return err
}

// jobsActor names the jobs in the audit log.
const jobsActor = "media-jobs"

func (s *Service) markFailed(ctx context.Context, id int64, code, reason string) error {
	return db.AsSystem(ctx, s.pool, jobsActor, func(tx pgx.Tx) error { return s.store.markFailed(ctx, tx, id, code, reason) })
}

func (s *Service) loadStored(ctx context.Context, id int64) (stored, error) {
	return asSystem(ctx, s.pool, jobsActor, func(tx pgx.Tx) (stored, error) { return s.store.stored(ctx, tx, id) })
}

// processed runs the Processed hooks when status says that a job's update left medium id
// processed, in that job's transaction.
func (s *Service) processed(ctx context.Context, tx pgx.Tx, id int64, status string) error {
	if status != "processed" {
		return nil
	}
	for _, h := range s.hooks.Processed {
		if err := h(ctx, tx, id); err != nil {
			// %v, not %w: whatever the hook's error, the job is retried (jobResult would take
			// a public error for a damaged file and fail the medium for good).
			return fmt.Errorf("media: processed hook of %d: %v", id, err)
		}
	}
	return nil
}

// jobHead is how much of an original a job reads first: the metadata of every camera we know
// lies within it.
const jobHead = 1 << 20

// objectReaderAt serves ReadAt from the head of an object held in memory and the rest by
// ranged GETs.
type objectReaderAt struct {
	ctx  context.Context
	s    *Service
	key  string
	head []byte
}

func (o *objectReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) <= int64(len(o.head)) {
		return copy(p, o.head[off:]), nil
	}
	opts := minio.GetObjectOptions{}
	if err := opts.SetRange(off, off+int64(len(p))-1); err != nil {
		return 0, err
	}
	obj, err := o.s.blob.Client.GetObject(o.ctx, o.s.blob.BucketMedia, o.key, opts)
	if err != nil {
		return 0, err
	}
	defer obj.Close()
	n, err := io.ReadFull(obj, p)
	if err == io.ErrUnexpectedEOF {
		err = io.EOF
	}
	return n, err
}

// headMetadata is the metadata read from an original (err when it could not be read), and
// the head of the original it was read from.
type headMetadata struct {
	imagery.Metadata
	err  error
	head []byte
}

// openMedium opens the original of medium id for a job: what the database says of it, the
// object positioned after its head, and the metadata read from the head (and ranged GETs).
func (s *Service) openMedium(ctx context.Context, id int64) (stored, *minio.Object, headMetadata, error) {
	st, err := s.loadStored(ctx, id)
	if err != nil {
		return st, nil, headMetadata{}, err
	}
	obj, head, err := s.openOriginal(ctx, st)
	if err != nil {
		return st, nil, headMetadata{}, err
	}
	md, err := imagery.ReadMetadata(&objectReaderAt{ctx: ctx, s: s, key: st.key, head: head}, st.size)
	return st, obj, headMetadata{Metadata: md, err: err, head: head}, nil
}

// openOriginal returns the first bytes of an original and the open object positioned after them.
func (s *Service) openOriginal(ctx context.Context, st stored) (*minio.Object, []byte, error) {
	obj, err := s.blob.Client.GetObject(ctx, s.blob.BucketMedia, st.key, minio.GetObjectOptions{})
	if err != nil {
		return nil, nil, err
	}
	head := make([]byte, min(st.size, jobHead))
	if _, err := io.ReadFull(obj, head); err != nil {
		obj.Close()
		if resp := minio.ToErrorResponse(err); resp.Code == "NoSuchKey" {
			return nil, nil, apperr.ErrNotFound.Wrap(err)
		}
		return nil, nil, err
	}
	return obj, head, nil
}

// defaultDiagonalFOV is the diagonal field of view assumed for a drone image whose metadata
// gives no focal length (84° is that of most DJI survey cameras).
const defaultDiagonalFOV = 84.0

// placeMedium reads the metadata of a medium and stores its position, footprint and cells,
// then links it to suspected sites.
func (s *Service) placeMedium(ctx context.Context, id int64) error {
	st, obj, hm, err := s.openMedium(ctx, id)
	if err != nil {
		return err
	}
	obj.Close()
	md := hm.Metadata
	if err := hm.err; err != nil {
		if !errors.Is(err, imagery.ErrCorruptImage) {
			return err
		}
		md = imagery.Metadata{Orientation: 1, Warnings: []string{err.Error()}}
	}
	var p placement
	if md.GPS != nil {
		p.lon, p.lat = &md.GPS.Lon, &md.GPS.Lat
	}
	// A capture time before 1990 or in the future is a wrong clock; one without a zone is the
	// camera's wall clock in China, and both copies of it (takenAt, metadata) say so.
	md.CheckTakenAt(s.now())
	md.AssumeZone(chinatime.Zone)
	p.takenAt = md.TakenAt
	p.altitudeRel = md.AltitudeRel
	if md.Drone != nil || st.kind == "drone" {
		if p.footprint, p.noFootprint, p.clipped, err = s.footprint(md, st, &md.Warnings); err != nil {
			return err
		}
	}
	if p.metadata, err = json.Marshal(md); err != nil {
		return err
	}
	return db.AsSystem(ctx, s.pool, jobsActor, func(tx pgx.Tx) error {
		status, err := s.store.savePlacement(ctx, tx, id, p)
		if err != nil {
			return fmt.Errorf("media: place %d: %w", id, err)
		}
		if st.kind == "drone" {
			sp, err := s.store.surveyPlace(ctx, tx, id)
			if err != nil {
				return fmt.Errorf("media: survey of %d: %w", id, err)
			}
			flags, err := json.Marshal(metadataFlags(s.cfg.Quality, md, p.noFootprint, sp, chinatime.Zone))
			if err != nil {
				return err
			}
			if err := s.store.saveQualityMeta(ctx, tx, id, flags); err != nil {
				return fmt.Errorf("media: quality of %d: %w", id, err)
			}
		}
		if err := s.store.placeInCells(ctx, tx, []int64{id}); err != nil {
			return fmt.Errorf("media: cells of %d: %w", id, err)
		}
		if err := s.store.linkToSites(ctx, tx, []int64{id}, s.cfg.NearSiteMetres); err != nil {
			return fmt.Errorf("media: sites of %d: %w", id, err)
		}
		return s.processed(ctx, tx, id, status)
	})
}

// footprint returns the WKB ground footprint of a drone image, cut at the configured range
// (clipped says it was cut), or why it has none (an imagery.NoFootprint* code). An image
// without a focal length gets the diagonal field of view most drone cameras have, with a
// warning.
func (s *Service) footprint(md imagery.Metadata, st stored, warnings *[]string) (wkb []byte, noFootprint string, clipped bool, err error) {
	d := md.Drone
	switch {
	case d == nil || d.GimbalPitch == nil || d.GimbalYaw == nil:
		return nil, imagery.NoFootprintAttitude, false, nil
	case md.AltitudeRel == nil:
		return nil, imagery.NoFootprintAltitude, false, nil
	case md.GPS == nil:
		return nil, imagery.NoFootprintPosition, false, nil
	}
	cam, okCam := imagery.CameraFromMetadata(md, st.width, st.height)
	if !okCam && st.width > 0 && st.height > 0 {
		// No focal length at all: take the diagonal field of view most drone cameras have.
		cam, okCam = imagery.CameraFromDiagonalFOV(defaultDiagonalFOV, st.width, st.height), true
		*warnings = append(*warnings, fmt.Sprintf("no focal length: footprint assumes a %g° diagonal field of view", defaultDiagonalFOV))
	}
	if !okCam {
		return nil, imagery.NoFootprintFieldOfView, false, nil
	}
	pose, ok := imagery.PoseFromMetadata(md)
	if !ok {
		return nil, imagery.NoFootprintAttitude, false, nil
	}
	fp, reason := imagery.FootprintClipped(cam, pose, s.cfg.Footprint)
	if reason != "" {
		return nil, reason, false, nil
	}
	ring := make([]float64, 0, 2*len(fp.Ring)+2)
	for _, c := range fp.Ring {
		ring = append(ring, c[0], c[1])
	}
	ring = append(ring, fp.Ring[0][0], fp.Ring[0][1])
	poly := geom.NewPolygonFlat(geom.XY, ring, []int{len(ring)})
	wkb, err = gis.EncodeWKB(poly)
	return wkb, "", fp.Clipped, err
}

// makeThumbnails makes and stores every thumbnail size of a medium and its perceptual hash.
func (s *Service) makeThumbnails(ctx context.Context, id int64) error {
	st, obj, md, err := s.openMedium(ctx, id)
	if err != nil {
		return err
	}
	defer obj.Close()
	if md.err != nil {
		md.Orientation = 1
	}
	// The content hash was checked when the bytes were stored (by MinIO for POST /media, by
	// Complete for presigned uploads); the job only reads what the thumbnails need.
	thumbs, terr := s.thumbs.Make(ctx, io.MultiReader(bytes.NewReader(md.head), obj), md.Orientation)
	noThumb := errors.Is(terr, imagery.ErrCannotThumbnail)
	if terr != nil && !noThumb {
		return terr
	}
	refs := map[string]ThumbRef{}
	var phash *int64
	pixels := []byte("[]")
	if !noThumb {
		if st.kind == "drone" {
			if pixels, err = json.Marshal(pixelFlags(s.cfg.Quality, thumbs.Stats)); err != nil {
				return err
			}
		}
		for name, t := range thumbs.Sizes {
			key := fmt.Sprintf("thumbs/%d/%s.jpg", id, name)
			info, err := s.blob.Client.PutObject(ctx, s.blob.BucketDerived, key, bytes.NewReader(t.JPEG), int64(len(t.JPEG)),
				minio.PutObjectOptions{ContentType: "image/jpeg", CacheControl: "private, max-age=31536000, immutable"})
			if err != nil {
				return err
			}
			refs[name] = ThumbRef{Key: key, Width: t.Width, Height: t.Height, ETag: info.ETag}
		}
		h := int64(thumbs.PHash)
		phash = &h
	}
	refsJSON, err := json.Marshal(refs)
	if err != nil {
		return err
	}
	return db.AsSystem(ctx, s.pool, jobsActor, func(tx pgx.Tx) error {
		status, err := s.store.saveThumbs(ctx, tx, id, refsJSON, phash, noThumb, pixels)
		if err != nil {
			return err
		}
		return s.processed(ctx, tx, id, status)
	})
}
