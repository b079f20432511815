package media

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestProcessedHook: a Processed hook runs once a photo's two jobs are done, in the
// transaction of the last one (it sees the medium processed, with its metadata and
// thumbnails); a failing hook rolls that job back, the job is retried and the hook runs again.
func TestProcessedHook(t *testing.T) {
	type call struct {
		id               int64
		status           string
		metadata, thumbs bool
	}
	var (
		mu     sync.Mutex
		calls  []call
		failed bool
	)
	hook := func(ctx context.Context, tx pgx.Tx, id int64) error {
		c := call{id: id}
		if err := tx.QueryRow(ctx, `SELECT status, metadata_at IS NOT NULL, thumbs_at IS NOT NULL FROM media WHERE id = $1`, id).
			Scan(&c.status, &c.metadata, &c.thumbs); err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, c)
		if !failed { // the first time only
			failed = true
			return errors.New("evidence store away")
		}
		return nil
	}
	e := newEnv(t, Hooks{Processed: []func(context.Context, pgx.Tx, int64) error{hook}})
	e.startJobs()
	ctx := context.Background()
	data := photo(t)
	m, created, err := e.svc.Ingest(ctx, e.actor, Upload{Body: bytes.NewReader(data), Size: int64(len(data)), Name: "a.jpg"})
	if err != nil || !created {
		t.Fatalf("ingest: %v %v", created, err)
	}

	// Both jobs end completed, and the medium processed.
	for deadline := time.Now().Add(45 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var done int
		if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE state = 'completed'
			AND kind IN ('media_metadata', 'media_thumbnail') AND (args->>'media_id')::bigint = $1`, m.ID).Scan(&done); err != nil {
			t.Fatal(err)
		}
		if done == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 2 jobs completed", done)
		}
	}
	got, err := e.svc.getAs(ctx, e.actor, m.ID)
	if err != nil || got.Status != "processed" {
		t.Fatalf("medium %s %v, want processed", got.Status, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 2 {
		t.Fatalf("hook ran %d times, want 2 (failed, then retried): %+v", len(calls), calls)
	}
	for _, c := range calls {
		if c.id != m.ID || c.status != "processed" || !c.metadata || !c.thumbs {
			t.Fatalf("hook saw %+v, want medium %d processed with metadata and thumbnails", c, m.ID)
		}
	}
	// The failed run was rolled back and retried: the last job took two attempts.
	var attempts int
	if err := e.pool.QueryRow(ctx, `SELECT max(attempt) FROM river_job WHERE (args->>'media_id')::bigint = $1`, m.ID).Scan(&attempts); err != nil {
		t.Fatal(err)
	}
	if attempts != 2 {
		t.Fatalf("the jobs took at most %d attempts, want 2", attempts)
	}
}
