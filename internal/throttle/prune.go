package throttle

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/jobs"
)

// Prune deletes every event recorded before before, in one statement (the index on failed_at,
// migration 0038), and returns how many it deleted. q's transaction must act as the system.
func Prune(ctx context.Context, q db.Querier, before time.Time) (int64, error) {
	tag, err := q.Exec(ctx, `DELETE FROM login_failures WHERE failed_at < $1`, before)
	if err != nil {
		return 0, fmt.Errorf("throttle: prune: %w", err)
	}
	return tag.RowsAffected(), nil
}

// PruneArgs is the periodic job that deletes the events no limiter looks at any more.
type PruneArgs struct{}

// Kind names the job.
func (PruneArgs) Kind() string { return "throttle_prune" }

// InsertOpts tries the job once: it runs again soon anyway.
func (PruneArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 1} }

// Pruner is the throttle's pruning job (jobs.Domain): every Every it deletes the events older
// than Keep, the longest window of any limiter that claims through this package (logins, tips:
// given at wiring time from their rules, so a longer window configured there keeps its events).
type Pruner struct {
	pool  *pgxpool.Pool
	keep  time.Duration
	every time.Duration
	now   func() time.Time
}

var _ jobs.Domain = (*Pruner)(nil)

// NewPruner returns the pruning job keeping the longest of windows (at least a minute), run
// every every (at least a minute), on the clock now (nil: time.Now).
func NewPruner(pool *pgxpool.Pool, windows []time.Duration, every time.Duration, now func() time.Time) *Pruner {
	keep := time.Minute
	if len(windows) > 0 {
		keep = max(keep, slices.Max(windows))
	}
	if now == nil {
		now = time.Now
	}
	return &Pruner{pool: pool, keep: keep, every: max(every, time.Minute), now: now}
}

// Keep is how long events are kept: the longest window.
func (p *Pruner) Keep() time.Duration { return p.keep }

// Run deletes the events older than Keep by the pruner's clock, as the system, and returns how
// many it deleted.
func (p *Pruner) Run(ctx context.Context) (int64, error) {
	var n int64
	err := db.AsSystem(ctx, p.pool, "throttle_prune", func(tx pgx.Tx) error {
		var err error
		n, err = Prune(ctx, tx, p.now().Add(-p.keep))
		return err
	})
	return n, err
}

// Register adds the pruning worker (jobs.Domain).
func (p *Pruner) Register(w *river.Workers) { river.AddWorker(w, &pruneWorker{p: p}) }

// Periodic is the pruning job, every Every and once at start (jobs.Domain).
func (p *Pruner) Periodic() []*river.PeriodicJob {
	return []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(p.every),
		func() (river.JobArgs, *river.InsertOpts) { return PruneArgs{}, nil },
		&river.PeriodicJobOpts{ID: "throttle_prune", RunOnStart: true})}
}

// Queues is nil: the one small job runs in River's default queue (jobs.Domain).
func (p *Pruner) Queues() []string { return nil }

type pruneWorker struct {
	river.WorkerDefaults[PruneArgs]
	p *Pruner
}

func (w *pruneWorker) Work(ctx context.Context, _ *river.Job[PruneArgs]) error {
	_, err := w.p.Run(ctx)
	return err
}
