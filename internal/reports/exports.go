package reports

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"
	"github.com/riverqueue/river"

	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/chinatime"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/jobs"
	"github.com/sieve-city/sieve/internal/ledgers"
)

// Queue is the River queue of the filings' jobs (exports and the cleanup).
const Queue = "reports"

// ExportState is where a background export stands.
type ExportState string

// The states of an export.
const (
	ExportQueued  ExportState = "queued"
	ExportRunning ExportState = "running"
	ExportReady   ExportState = "ready"
	ExportFailed  ExportState = "failed"
	ExportExpired ExportState = "expired"
)

// Export is a background export (导出任务) of a ledger: the whole city's workbook, or any ledger
// too large to answer in one request. When ready, DownloadURL is a short-lived presigned link to
// the file in the derived bucket.
type Export struct {
	ID            int64       `json:"id"`
	RegionID      int64       `json:"regionId"`
	Kind          string      `json:"kind"`
	Month         string      `json:"month"`
	Format        string      `json:"format"`
	Photos        bool        `json:"photos"`
	State         ExportState `json:"state"`
	Name          string      `json:"name,omitempty"`
	ContentType   string      `json:"contentType,omitempty"`
	Size          *int64      `json:"size,omitempty"`
	SHA256        string      `json:"sha256,omitempty"`
	Error         string      `json:"error,omitempty"`
	CreatedAt     time.Time   `json:"createdAt"`
	FinishedAt    *time.Time  `json:"finishedAt,omitempty"`
	ExpiresAt     *time.Time  `json:"expiresAt,omitempty"`
	DownloadURL   string      `json:"downloadUrl,omitempty"`
	LinkExpiresAt *time.Time  `json:"linkExpiresAt,omitempty"`

	requestedBy   int64
	requesterRole string
	regionPath    string
	regionLevel   string
	objectKey     string
}

// ExportRequest asks for a background export: a ledger of a township, or of the whole city
// (Township 0: one workbook, a sheet per township and a summary).
type ExportRequest struct {
	Kind       string `json:"kind"` // illegal | exited | exited_list
	TownshipID int64  `json:"township,omitempty"`
	Month      string `json:"month"`
	Format     string `json:"format,omitempty"` // xlsx (default) | csv
	// Photos asks for the photo appendix (照片附件, 附件2 only): one ZIP of the ledger with an
	// index sheet and the detail thumbnails of every case's photos and drone images.
	Photos bool `json:"photos,omitempty"`
}

var (
	errExportKind   = apperr.Invalidf("invalid_kind", "台账类型应为 illegal、exited 或 exited_list", "kind must be illegal, exited or exited_list")
	errExportFormat = apperr.Invalidf("invalid_format", "格式应为 xlsx 或 csv", "format must be xlsx or csv")
)

// ExportArgs is the export job: render export ExportID and store it.
type ExportArgs struct {
	ExportID int64 `json:"exportId"`
}

// Kind names the job.
func (ExportArgs) Kind() string { return "report_export" }

// InsertOpts puts the job in the reports queue.
func (ExportArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: Queue} }

// CleanupArgs is the periodic cleanup: expired exports, objects no row names.
type CleanupArgs struct{}

// Kind names the job.
func (CleanupArgs) Kind() string { return "report_cleanup" }

// InsertOpts puts the job in the reports queue and tries it once: it runs again soon anyway.
func (CleanupArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: Queue, MaxAttempts: 1}
}

// Register adds the export and cleanup workers (jobs.Domain).
func (s *Service) Register(w *river.Workers) {
	river.AddWorker(w, &exportWorker{s: s})
	river.AddWorker(w, &cleanupWorker{s: s})
}

// Periodic is the cleanup, every Config.CleanupEvery and once at start (jobs.Domain).
func (s *Service) Periodic() []*river.PeriodicJob {
	return []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(max(s.cfg.CleanupEvery, time.Minute)),
		func() (river.JobArgs, *river.InsertOpts) { return CleanupArgs{}, nil },
		&river.PeriodicJobOpts{ID: "report_cleanup", RunOnStart: true})}
}

// Queues names the reports queue (jobs.Domain).
func (s *Service) Queues() []string { return []string{Queue} }

type exportWorker struct {
	river.WorkerDefaults[ExportArgs]
	s *Service
}

// Timeout is the report_export timeout of the queue's options (jobs.TimeoutOf).
func (w *exportWorker) Timeout(*river.Job[ExportArgs]) time.Duration {
	return jobs.TimeoutOf(w.s.jobs, ExportArgs{}.Kind())
}

func (w *exportWorker) Work(ctx context.Context, job *river.Job[ExportArgs]) error {
	return w.s.RunExport(ctx, job.Args.ExportID, job.Attempt >= job.MaxAttempts)
}

type cleanupWorker struct {
	river.WorkerDefaults[CleanupArgs]
	s *Service
}

// Timeout is the report_cleanup timeout of the queue's options (jobs.TimeoutOf).
func (w *cleanupWorker) Timeout(*river.Job[CleanupArgs]) time.Duration {
	return jobs.TimeoutOf(w.s.jobs, CleanupArgs{}.Kind())
}

func (w *cleanupWorker) Work(ctx context.Context, _ *river.Job[CleanupArgs]) error {
	_, err := w.s.Cleanup(ctx)
	return err
}

// RequestExport records an export in the caller's scope and enqueues its job in the same
// transaction. A township out of scope, or the whole city for anyone but the city office, is
// not found. The same Idempotency-Key again answers the first export, created false; without a
// key, a photo appendix asked again while the same one is queued or running answers that one.
func (s *Service) RequestExport(ctx context.Context, a db.Actor, r ExportRequest, key string) (Export, bool, error) {
	switch ledgers.Kind(r.Kind) {
	case ledgers.Illegal, ledgers.Exited, ledgers.ExitedList:
	default:
		return Export{}, false, errExportKind
	}
	if r.Format == "" {
		r.Format = "xlsx"
	}
	if r.Format != "xlsx" && r.Format != "csv" {
		return Export{}, false, errExportFormat
	}
	if r.Photos && ledgers.Kind(r.Kind) != ledgers.Illegal {
		return Export{}, false, ledgers.ErrPhotosKind
	}
	m, err := ParseMonth(r.Month)
	if err != nil {
		return Export{}, false, err
	}
	if now := MonthOf(s.now()); m.Year > now.Year || (m.Year == now.Year && m.Month > now.Month) {
		return Export{}, false, ledgers.ErrMonthNotBegun // refused now rather than by the job
	}
	var out Export
	created := false
	err = db.InScope(ctx, s.pool, a, func(tx pgx.Tx) error {
		if key != "" {
			e, err := s.store.exportByKey(ctx, tx, a.UserID, key)
			switch {
			case err == nil && e.Kind == r.Kind && e.Month == m.String() && e.Format == r.Format && e.Photos == r.Photos && e.sameRegion(r.TownshipID):
				out = e
				return nil
			case err == nil:
				return ErrKeyReused
			case !errors.Is(err, apperr.ErrNotFound):
				return err
			}
		}
		region := r.TownshipID
		if region == 0 {
			var err error
			if region, err = s.store.city(ctx, tx); err != nil {
				return err
			}
		} else if err := s.store.township(ctx, tx, region); err != nil {
			return err
		}
		if key == "" && r.Photos {
			// A photo appendix is heavy: asking again while the same one is being made (a
			// download page reloaded) answers that one.
			e, err := s.store.inFlight(ctx, tx, a.UserID, region, r, m.String())
			switch {
			case err == nil:
				out = e
				return nil
			case !errors.Is(err, apperr.ErrNotFound):
				return err
			}
		}
		id, err := s.store.insertExport(ctx, tx, region, r, m.String(), a, key, s.now())
		if err != nil {
			return err
		}
		if err := s.jobs.EnqueueTx(ctx, tx, river.InsertManyParams{Args: ExportArgs{ExportID: id}}); err != nil {
			return err
		}
		out, err = s.store.export(ctx, tx, id)
		created = true
		return err
	})
	if err != nil {
		return Export{}, false, err
	}
	return s.linked(ctx, out), created, nil
}

// sameRegion reports whether the export was asked for township t (0: the city).
func (e Export) sameRegion(t int64) bool {
	if t == 0 {
		return e.regionLevel == "city"
	}
	return e.RegionID == t
}

// GetExport returns an export in the caller's scope, with a download link when it is ready.
func (s *Service) GetExport(ctx context.Context, a db.Actor, id int64) (Export, error) {
	var e Export
	err := db.ReadInScope(ctx, s.pool, a, func(tx pgx.Tx) error {
		var err error
		e, err = s.store.export(ctx, tx, id)
		return err
	})
	if err != nil {
		return e, err
	}
	return s.linked(ctx, e), nil
}

// linked adds the presigned link of a ready export that has not expired: valid for LinkTTL,
// never past the file's expiry, naming the file for the browser.
func (s *Service) linked(ctx context.Context, e Export) Export {
	now := s.now()
	if e.State != ExportReady || e.ExpiresAt == nil || !now.Before(*e.ExpiresAt) {
		return e
	}
	ttl := min(s.cfg.LinkTTL, e.ExpiresAt.Sub(now))
	if ttl < time.Second {
		return e
	}
	params := url.Values{}
	params.Set("response-content-disposition", "attachment; filename*=UTF-8''"+url.PathEscape(e.Name))
	params.Set("response-content-type", e.ContentType)
	u, err := s.blob.Presigner.PresignedGetObject(ctx, s.blob.BucketDerived, e.objectKey, ttl, params)
	if err != nil {
		s.log.Warn("reports: presign export", "export", e.ID, "err", err)
		return e
	}
	exp := now.Add(ttl)
	e.DownloadURL, e.LinkExpiresAt = u.String(), &exp
	return e
}

// RunExport renders export id as its requester's area allows and stores the file (the export
// job). A permanent refusal (the township gone from the area) or the last attempt's failure
// marks it failed; otherwise an error makes River try again.
func (s *Service) RunExport(ctx context.Context, id int64, last bool) error {
	const actor = "report-export"
	var e Export
	err := db.AsSystem(ctx, s.pool, actor, func(tx pgx.Tx) error {
		var err error
		if e, err = s.store.export(ctx, tx, id); err != nil {
			return err
		}
		if e.State != ExportQueued && e.State != ExportRunning {
			return nil
		}
		return s.store.exportRunning(ctx, tx, id)
	})
	if errors.Is(err, apperr.ErrNotFound) {
		return nil // gone: nothing to do
	}
	if err != nil || (e.State != ExportQueued && e.State != ExportRunning) {
		return err
	}
	township := e.RegionID
	if e.regionLevel == "city" {
		township = 0
	}
	// The requester's role, bounded to the export's region: what they could have read then.
	as := db.Actor{UserID: e.requestedBy, Username: "system:" + actor, Role: e.requesterRole, Scope: []string{e.regionPath}}
	req := ledgers.Request{Kind: ledgers.Kind(e.Kind), TownshipID: township, Month: e.Month, Format: e.Format,
		FiledOn: s.now().In(chinatime.Zone)}
	key := fmt.Sprintf("exports/%d/%s", id, newToken())
	var f stored
	if e.Photos {
		key += ".zip"
		f, err = s.writeAppendix(ctx, as, req, key)
	} else {
		f, key, err = s.writeLedger(ctx, as, req, key)
	}
	if err != nil {
		var pub *apperr.Error
		if ae, ok := apperr.As(err); ok && ae.Status < 500 {
			pub = ae
		}
		if pub != nil || last {
			msg := "导出失败"
			if pub != nil {
				msg = pub.MessageZH
			}
			if ferr := db.AsSystem(ctx, s.pool, actor, func(tx pgx.Tx) error {
				return s.store.exportFailed(ctx, tx, id, msg, s.now())
			}); ferr != nil {
				return ferr
			}
			if pub != nil {
				return nil
			}
		}
		return fmt.Errorf("reports: export %d: %w", id, err)
	}
	now := s.now()
	err = db.AsSystem(ctx, s.pool, actor, func(tx pgx.Tx) error {
		return s.store.exportReady(ctx, tx, id, key, f, now, now.Add(s.cfg.ExportRetention))
	})
	if err != nil {
		s.remove(s.blob.BucketDerived, key)
		return err
	}
	return nil
}

// writeLedger renders a ledger as the actor and stores it under key (plus its extension, the
// key returned).
func (s *Service) writeLedger(ctx context.Context, as db.Actor, req ledgers.Request, key string) (stored, string, error) {
	var f ledgers.File
	err := db.ReadInScope(ctx, s.pool, as, func(tx pgx.Tx) error {
		var err error
		f, err = s.ledgers.Render(ctx, tx, req)
		return err
	})
	if err != nil {
		return stored{}, "", err
	}
	key += extension(f.Name, f.ContentType)
	if err := s.put(ctx, s.blob.BucketDerived, key, f.Body, f.ContentType); err != nil {
		return stored{}, "", err
	}
	return stored{name: f.Name, contentType: f.ContentType, size: int64(len(f.Body)), sha256: sum(f.Body)}, key, nil
}

// CleanupResult counts what one cleanup removed.
type CleanupResult struct {
	Expired int // exports past their retention
	Orphans int // objects no row names, older than OrphanGrace
}

// Cleanup removes the files of exports past their retention (marking them expired) and the
// objects under reports/ (media bucket) and exports/ (derived bucket) that no row names and
// that are older than OrphanGrace by the service's clock: what a crash or a failed transaction
// left between writing an object and recording it. Idempotent.
func (s *Service) Cleanup(ctx context.Context) (CleanupResult, error) {
	const actor = "report-cleanup"
	var res CleanupResult
	now := s.now()
	var expired []Export
	err := db.AsSystem(ctx, s.pool, actor, func(tx pgx.Tx) error {
		var err error
		expired, err = s.store.expiredExports(ctx, tx, now)
		return err
	})
	if err != nil {
		return res, err
	}
	for _, e := range expired {
		if err := s.blob.Client.RemoveObject(ctx, s.blob.BucketDerived, e.objectKey, minio.RemoveObjectOptions{}); err != nil {
			return res, fmt.Errorf("reports: remove expired export %d: %w", e.ID, err)
		}
		if err := db.AsSystem(ctx, s.pool, actor, func(tx pgx.Tx) error { return s.store.exportExpired(ctx, tx, e.ID) }); err != nil {
			return res, err
		}
		res.Expired++
	}
	cutoff := now.Add(-s.cfg.OrphanGrace)
	for _, where := range []struct{ bucket, prefix string }{{s.blob.BucketMedia, "reports/"}, {s.blob.BucketDerived, "exports/"}} {
		n, err := s.removeOrphans(ctx, where.bucket, where.prefix, cutoff)
		res.Orphans += n
		if err != nil {
			return res, err
		}
	}
	if res.Expired+res.Orphans > 0 {
		s.log.Info("reports: cleanup", "expired_exports", res.Expired, "orphans_removed", res.Orphans)
	}
	return res, nil
}

// removeOrphans removes the objects under prefix last modified before cutoff that no row names,
// in batches of 500 keys.
func (s *Service) removeOrphans(ctx context.Context, bucket, prefix string, cutoff time.Time) (int, error) {
	n := 0
	var batch []string
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		var named map[string]bool
		err := db.AsSystem(ctx, s.pool, "report-cleanup", func(tx pgx.Tx) error {
			var err error
			named, err = s.store.namedKeys(ctx, tx, batch)
			return err
		})
		if err != nil {
			return err
		}
		for _, k := range batch {
			if named[k] {
				continue
			}
			if err := s.blob.Client.RemoveObject(ctx, bucket, k, minio.RemoveObjectOptions{}); err != nil {
				return fmt.Errorf("reports: remove orphan %s: %w", k, err)
			}
			n++
		}
		batch = batch[:0]
		return nil
	}
	for obj := range s.blob.Client.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if obj.Err != nil {
			return n, fmt.Errorf("reports: list %s: %w", prefix, obj.Err)
		}
		if !obj.LastModified.Before(cutoff) {
			continue
		}
		batch = append(batch, obj.Key)
		if len(batch) >= 500 {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	return n, flush()
}
