package main

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sieve-city/sieve/imagery"
	"github.com/sieve-city/sieve/internal/blob"
	"github.com/sieve-city/sieve/internal/config"
	"github.com/sieve-city/sieve/internal/jobs"
	"github.com/sieve-city/sieve/internal/media"
	"github.com/sieve-city/sieve/internal/testenv"
)

// testMediaService is a media service whose queue only enqueues (no job runs in the test).
func testMediaService(t *testing.T, pool *pgxpool.Pool, store *blob.Store, th *imagery.Thumbnailer, cfg media.Config) *media.Service {
	t.Helper()
	q := jobs.New(pool, jobs.Options{}, testenv.Logger())
	svc, err := media.New(media.Deps{Pool: pool, Blob: store, Thumbs: th, Jobs: q, Now: time.Now, Log: testenv.Logger()}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Build(svc); err != nil {
		t.Fatal(err)
	}
	return svc
}

// TestWire: the wiring that serve and worker share registers the media jobs on their queue: an
// API process (no workers) enqueues them, a worker process runs them.
func TestWire(t *testing.T) {
	ctx := context.Background()
	pool := testenv.DB(t)
	a := &app{cfg: config.Default(), log: testenv.Logger(), pool: pool, blob: testenv.Blob(t)}
	api, err := a.wire(0)
	if err != nil {
		t.Fatal(err)
	}
	if err := api.queue.Start(ctx); err != nil { // nothing to start
		t.Fatal(err)
	}
	// A medium that does not exist: its jobs are accepted (their kinds are registered) and
	// cancelled by the worker that finds nothing to process.
	if err := api.media.Reprocess(ctx, []int64{424242}); err != nil {
		t.Fatal(err)
	}
	worker, err := a.wire(2)
	if err != nil {
		t.Fatal(err)
	}
	// media's queue, the inspections' evidence queue, River's default one for the change
	// feed's pruning job, and the filings' exports and cleanup.
	if q := worker.queue.Queues(); len(q) != 4 || q[0] != "media" || q[1] != "inspections" || q[2] != "default" || q[3] != "reports" {
		t.Fatalf("queues %v, want [media inspections default reports]", q)
	}
	if err := worker.queue.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer worker.queue.Stop(ctx)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var states []string
		err := pool.QueryRow(ctx, `SELECT array_agg(state::text ORDER BY kind) FROM river_job
			WHERE kind IN ('media_metadata', 'media_thumbnail')`).Scan(&states)
		if err != nil {
			t.Fatal(err)
		}
		if len(states) == 2 && states[0] == "cancelled" && states[1] == "cancelled" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job states %v, want both cancelled", states)
		}
	}
	// The periodic sweeps of the tips' orphaned photos and of the throttle's old events are
	// registered and run once at start.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var states []string
		err := pool.QueryRow(ctx, `SELECT coalesce(array_agg(kind || ':' || state::text ORDER BY kind), '{}') FROM river_job
			WHERE kind IN ('throttle_prune', 'tip_orphans')`).Scan(&states)
		if err != nil {
			t.Fatal(err)
		}
		if len(states) == 2 && states[0] == "throttle_prune:completed" && states[1] == "tip_orphans:completed" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("periodic job states %v, want throttle_prune and tip_orphans completed", states)
		}
	}
}
