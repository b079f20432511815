package tips

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"
	"github.com/riverqueue/river"

	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/jobs"
)

// photoPrefix is where the tips' photos lie in the media bucket (media.StoreScreened's prefix).
const photoPrefix = "tips"

// orphanBatch is how many object keys one look-up and one removal take: the sweep holds at most
// this many keys, however many objects the prefix has.
const orphanBatch = 500

// OrphansArgs is the periodic sweep of the tips' photo objects no row names (RemoveOrphans).
type OrphansArgs struct{}

// Kind names the job.
func (OrphansArgs) Kind() string { return "tip_orphans" }

// InsertOpts tries the job once: it runs again soon anyway.
func (OrphansArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 1} }

var _ jobs.Domain = (*Service)(nil)

// Register adds the orphan sweep's worker (jobs.Domain).
func (s *Service) Register(w *river.Workers) { river.AddWorker(w, &orphansWorker{s: s}) }

// Periodic is the orphan sweep, every Config.CleanupEvery and once at start (jobs.Domain).
func (s *Service) Periodic() []*river.PeriodicJob {
	return []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(max(s.cfg.CleanupEvery, time.Minute)),
		func() (river.JobArgs, *river.InsertOpts) { return OrphansArgs{}, nil },
		&river.PeriodicJobOpts{ID: "tip_orphans", RunOnStart: true})}
}

// Queues is nil: the one small job runs in River's default queue (jobs.Domain).
func (s *Service) Queues() []string { return nil }

type orphansWorker struct {
	river.WorkerDefaults[OrphansArgs]
	s *Service
}

func (w *orphansWorker) Work(ctx context.Context, _ *river.Job[OrphansArgs]) error {
	_, err := w.s.RemoveOrphans(ctx)
	return err
}

// RemoveOrphans deletes the photo objects under tips/ that no row names (neither tip_photos nor
// media) and that were stored more than Config.OrphanGrace ago by the service's clock. Only a
// crash leaves one: the intake stores a tip's photos before the tip's transaction, and removes
// them itself when that fails (Intake.Abort); a process that dies in between cannot. The grace
// is far longer than an intake may take (the body's read timeout), so a tip being posted is
// never swept. It lists the prefix as MinIO streams it and looks the keys up and removes them
// in batches of orphanBatch, as the system; it returns how many objects it removed.
func (s *Service) RemoveOrphans(ctx context.Context) (int, error) {
	if s.media == nil {
		return 0, nil
	}
	bl := s.media.Blob()
	cutoff := s.now().Add(-s.cfg.OrphanGrace)
	lctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the listing if a batch fails
	removed := 0
	batch := make([]string, 0, orphanBatch)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		var unnamed []string
		err := db.ReadInScope(ctx, s.pool, db.System("tip-orphans"), func(tx pgx.Tx) error {
			var err error
			unnamed, err = s.Store.unnamedPhotoKeys(ctx, tx, batch)
			return err
		})
		if err != nil {
			return err
		}
		batch = batch[:0]
		for _, k := range unnamed {
			if err := bl.Client.RemoveObject(ctx, bl.BucketMedia, k, minio.RemoveObjectOptions{}); err != nil {
				return fmt.Errorf("tips: remove orphan %s: %w", k, err)
			}
			removed++
		}
		if len(unnamed) > 0 {
			s.log().Info("tips: removed orphaned photo objects", "count", len(unnamed))
		}
		return nil
	}
	for o := range bl.Client.ListObjects(lctx, bl.BucketMedia, minio.ListObjectsOptions{Prefix: photoPrefix + "/", Recursive: true}) {
		if o.Err != nil {
			return removed, fmt.Errorf("tips: list photo objects: %w", o.Err)
		}
		if !o.LastModified.Before(cutoff) {
			continue // young: an intake may be about to record it
		}
		batch = append(batch, o.Key)
		if len(batch) == orphanBatch {
			if err := flush(); err != nil {
				return removed, err
			}
		}
	}
	return removed, flush()
}
