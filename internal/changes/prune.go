package changes

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/jobs"
)

// Prune deletes the changes older than before whose transactions have ended, as one cut in feed
// order (everything up to the newest such change), and records the cut in changes_pruned: a
// cursor whose base snapshot may not have seen all of them (its xmin is not above the cut)
// answers 410 cursor_expired. It runs as the system (q's transaction must be a
// system one) and returns how many changes it deleted.
func Prune(ctx context.Context, q db.Querier, before time.Time) (int64, error) {
	const cut = `SELECT c.xid, c.seq FROM changes c
		WHERE c.at < $1 AND c.xid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint
		ORDER BY c.xid DESC, c.seq DESC LIMIT 1`
	var xid, seq int64
	if err := q.QueryRow(ctx, cut, before).Scan(&xid, &seq); errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	} else if err != nil {
		return 0, fmt.Errorf("changes: prune: %w", err)
	}
	const del = `DELETE FROM changes WHERE (xid, seq) <= ($1::bigint, $2::bigint)`
	tag, err := q.Exec(ctx, del, xid, seq)
	if err != nil {
		return 0, fmt.Errorf("changes: prune: %w", err)
	}
	const mark = `INSERT INTO changes_pruned (id, xid, seq) VALUES (1, $1, $2)
		ON CONFLICT (id) DO UPDATE SET xid = EXCLUDED.xid, seq = EXCLUDED.seq, at = now()
		WHERE (changes_pruned.xid, changes_pruned.seq) < (EXCLUDED.xid, EXCLUDED.seq)`
	if _, err := q.Exec(ctx, mark, xid, seq); err != nil {
		return 0, fmt.Errorf("changes: prune mark: %w", err)
	}
	return tag.RowsAffected(), nil
}

// PruneArgs is the periodic job that deletes changes older than the retention.
type PruneArgs struct{}

// Kind names the job in River's table.
func (PruneArgs) Kind() string { return "changes_prune" }

// InsertOpts tries the job once: it runs again soon anyway.
func (PruneArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 1} }

var _ jobs.Domain = (*Feed)(nil)

// Register adds the pruning worker (jobs.Domain).
func (f *Feed) Register(w *river.Workers) { river.AddWorker(w, &pruneWorker{f: f}) }

// Periodic is the pruning job, every Config.PruneEvery and once at start (jobs.Domain).
func (f *Feed) Periodic() []*river.PeriodicJob {
	return []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(f.cfg.PruneEvery),
		func() (river.JobArgs, *river.InsertOpts) { return PruneArgs{}, nil },
		&river.PeriodicJobOpts{ID: "changes_prune", RunOnStart: true})}
}

// Queues is nil: the one small job runs in River's default queue (jobs.Domain).
func (f *Feed) Queues() []string { return nil }

type pruneWorker struct {
	river.WorkerDefaults[PruneArgs]
	f *Feed
}

func (w *pruneWorker) Work(ctx context.Context, _ *river.Job[PruneArgs]) error {
	if w.f.deps.Pool == nil {
		return errors.New("changes: prune: no pool")
	}
	return db.AsSystem(ctx, w.f.deps.Pool, "changes_prune", func(tx pgx.Tx) error {
		_, err := Prune(ctx, tx, w.f.now().Add(-w.f.cfg.Retention))
		return err
	})
}
