package jobs

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/sieve-city/sieve/internal/testenv"
)

// pingArgs is a job that records that it ran; Fail makes it fail every attempt, Cancel makes
// it cancel itself (a permanent failure).
type pingArgs struct {
	N      int  `json:"n"`
	Fail   bool `json:"fail"`
	Cancel bool `json:"cancel"`
}

func (pingArgs) Kind() string { return "jobs_test_ping" }

// InsertOpts puts pings in the test domain's own queue.
func (pingArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: "jobs_test"} }

// tickArgs is the test domain's periodic job; it runs in River's default queue.
type tickArgs struct{}

func (tickArgs) Kind() string { return "jobs_test_tick" }

// testDomain is a domain with one job kind in its own queue and a periodic job.
type testDomain struct {
	mu    sync.Mutex
	runs  map[int]int // ping N → attempts seen
	ticks int
}

func newTestDomain() *testDomain { return &testDomain{runs: map[int]int{}} }

func (d *testDomain) Register(w *river.Workers) {
	river.AddWorker(w, river.WorkFunc(func(ctx context.Context, j *river.Job[pingArgs]) error {
		d.mu.Lock()
		d.runs[j.Args.N]++
		d.mu.Unlock()
		switch {
		case j.Args.Cancel:
			return river.JobCancel(errors.New("damaged"))
		case j.Args.Fail:
			return errors.New("store away")
		}
		return nil
	}))
	river.AddWorker(w, river.WorkFunc(func(ctx context.Context, j *river.Job[tickArgs]) error {
		d.mu.Lock()
		d.ticks++
		d.mu.Unlock()
		return nil
	}))
}

func (d *testDomain) Periodic() []*river.PeriodicJob {
	return []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(time.Hour),
		func() (river.JobArgs, *river.InsertOpts) {
			return tickArgs{}, &river.InsertOpts{Queue: river.QueueDefault}
		},
		&river.PeriodicJobOpts{ID: "jobs_test_tick", RunOnStart: true})}
}

func (d *testDomain) Queues() []string { return []string{"jobs_test", river.QueueDefault} }

func (d *testDomain) attempts(n int) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.runs[n]
}

// started builds and starts a queue with workers over d, stopped at the end of the test.
func started(t *testing.T, pool *pgxpool.Pool, opts Options, d Domain) *Queue {
	t.Helper()
	q := New(pool, opts, testenv.Logger())
	if err := q.Build(d); err != nil {
		t.Fatal(err)
	}
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := q.Stop(ctx); err != nil {
			t.Error(err)
		}
	})
	return q
}

// enqueue adds pings in one transaction, committed or rolled back.
func enqueue(t *testing.T, pool *pgxpool.Pool, e Enqueuer, commit bool, pings ...pingArgs) {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	var params []river.InsertManyParams
	for _, p := range pings {
		params = append(params, river.InsertManyParams{Args: p})
	}
	if err := e.EnqueueTx(ctx, tx, params...); err != nil {
		t.Fatal(err)
	}
	if commit {
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// jobState returns the state and attempts of ping n's job ("" when there is none).
func jobState(t *testing.T, pool *pgxpool.Pool, n int) (string, int) {
	t.Helper()
	var state string
	var attempt int
	err := pool.QueryRow(context.Background(), `SELECT state::text, attempt FROM river_job
		WHERE kind = 'jobs_test_ping' AND (args->>'n')::int = $1`, n).Scan(&state, &attempt)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return state, attempt
}

// waitState waits until ping n's job is in state.
func waitState(t *testing.T, pool *pgxpool.Pool, n int, state string) int {
	t.Helper()
	for deadline := time.Now().Add(45 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		got, attempt := jobState(t, pool, n)
		if got == state {
			return attempt
		}
		if time.Now().After(deadline) {
			t.Fatalf("ping %d: state %q, want %q", n, got, state)
		}
	}
}

// TestNotBuilt: a queue refuses to enqueue, start or stop before Build, and is built once.
func TestNotBuilt(t *testing.T) {
	ctx := context.Background()
	q := New(nil, Options{}, testenv.Logger())
	if err := q.EnqueueTx(ctx, nil, river.InsertManyParams{Args: pingArgs{}}); !errors.Is(err, ErrNotBuilt) {
		t.Fatalf("enqueue before Build: %v, want ErrNotBuilt", err)
	}
	if err := q.Start(ctx); !errors.Is(err, ErrNotBuilt) {
		t.Fatalf("start before Build: %v, want ErrNotBuilt", err)
	}
	if err := q.Stop(ctx); !errors.Is(err, ErrNotBuilt) {
		t.Fatalf("stop before Build: %v, want ErrNotBuilt", err)
	}
	pool := testenv.DB(t)
	q = New(pool, Options{}, testenv.Logger())
	if err := q.Build(newTestDomain()); err != nil {
		t.Fatal(err)
	}
	if err := q.Build(newTestDomain()); err == nil {
		t.Fatal("a second Build succeeded")
	}
}

// TestEnqueueTx: a job enqueued in a transaction runs if and only if the transaction commits;
// the domain's periodic job runs at start.
func TestEnqueueTx(t *testing.T) {
	pool := testenv.DB(t)
	d := newTestDomain()
	q := started(t, pool, Options{Workers: 2, MaxAttempts: 3, RetryBase: 10 * time.Millisecond}, d)
	if got := q.Queues(); len(got) != 2 || got[0] != "jobs_test" || got[1] != river.QueueDefault {
		t.Fatalf("queues %v", got)
	}
	enqueue(t, pool, q, false, pingArgs{N: 2})
	enqueue(t, pool, q, true, pingArgs{N: 1}, pingArgs{N: 3})
	waitState(t, pool, 1, "completed")
	waitState(t, pool, 3, "completed")
	if state, _ := jobState(t, pool, 2); state != "" || d.attempts(2) != 0 {
		t.Fatalf("the rolled-back job exists (%q) or ran (%d)", state, d.attempts(2))
	}
	if d.attempts(1) != 1 {
		t.Fatalf("ping 1 ran %d times", d.attempts(1))
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		d.mu.Lock()
		ticks := d.ticks
		d.mu.Unlock()
		if ticks > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the periodic job did not run at start")
		}
	}
}

// TestRetryDiscard: a failing job is retried up to MaxAttempts and then discarded; a job that
// cancels itself is not retried.
func TestRetryDiscard(t *testing.T) {
	pool := testenv.DB(t)
	d := newTestDomain()
	q := started(t, pool, Options{Workers: 2, MaxAttempts: 2, RetryBase: 10 * time.Millisecond}, d)
	enqueue(t, pool, q, true, pingArgs{N: 1, Fail: true}, pingArgs{N: 2, Cancel: true})
	if attempt := waitState(t, pool, 1, "discarded"); attempt != 2 || d.attempts(1) != 2 {
		t.Fatalf("discarded after attempt %d, ran %d times; want 2", attempt, d.attempts(1))
	}
	if attempt := waitState(t, pool, 2, "cancelled"); attempt != 1 || d.attempts(2) != 1 {
		t.Fatalf("cancelled after attempt %d, ran %d times; want 1", attempt, d.attempts(2))
	}
}

// TestEnqueueOnly: a queue without workers enqueues and runs nothing (Start and Stop do
// nothing); a queue with workers on the same database runs what it enqueued.
func TestEnqueueOnly(t *testing.T) {
	pool := testenv.DB(t)
	ctx := context.Background()
	api := New(pool, DefaultOptions(0), testenv.Logger())
	idle := newTestDomain()
	if err := api.Build(idle); err != nil {
		t.Fatal(err)
	}
	if err := api.Start(ctx); err != nil {
		t.Fatal(err)
	}
	enqueue(t, pool, api, true, pingArgs{N: 1})
	time.Sleep(300 * time.Millisecond)
	if state, _ := jobState(t, pool, 1); state != "available" || idle.attempts(1) != 0 {
		t.Fatalf("enqueue-only: state %q, ran %d times", state, idle.attempts(1))
	}
	if err := api.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	worker := newTestDomain()
	started(t, pool, DefaultOptions(1), worker)
	waitState(t, pool, 1, "completed")
	if worker.attempts(1) != 1 {
		t.Fatalf("worker ran it %d times", worker.attempts(1))
	}
}

// TestRescueAfterCrash: a job left running by a process that was killed (SIGKILL: nothing
// marked it) runs again once it has been running for RescueAfter, minutes rather than River's
// default hour; a job still within its timeout is left alone.
func TestRescueAfterCrash(t *testing.T) {
	pool := testenv.DB(t)
	ctx := context.Background()
	d := newTestDomain()
	api := New(pool, DefaultOptions(0), testenv.Logger())
	if err := api.Build(d); err != nil {
		t.Fatal(err)
	}
	enqueue(t, pool, api, true, pingArgs{N: 7}, pingArgs{N: 8})
	// The dead process took both: 7 three minutes ago (past the default rescue delay of two
	// minutes), 8 ten seconds ago (within the timeout: maybe still being worked).
	if _, err := pool.Exec(ctx, `UPDATE river_job SET state = 'running', attempt = 1, attempted_by = '{dead-host}',
		attempted_at = now() - CASE WHEN (args->>'n')::int = 7 THEN interval '3 minutes' ELSE interval '10 seconds' END
		WHERE kind = 'jobs_test_ping'`); err != nil {
		t.Fatal(err)
	}
	opts := DefaultOptions(1)
	opts.RetryBase = 10 * time.Millisecond
	started(t, pool, opts, d)
	deadline := time.Now().Add(90 * time.Second)
	for d.attempts(7) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the crashed job was not rescued within 90 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second)
	if n := d.attempts(8); n != 0 {
		t.Fatalf("a job within its timeout was run again (%d times)", n)
	}
}

// TestRescueAfterValidated: a rescue delay shorter than the job timeout is refused at Build; a
// kind's own timeout may be longer than the rescue delay (River's rescuer leaves such a job alone
// until its own timeout has passed), and it is what TimeoutOf reports.
func TestRescueAfterValidated(t *testing.T) {
	pool := testenv.DB(t)
	opts := DefaultOptions(1)
	opts.RescueAfter = opts.JobTimeout / 2
	if err := New(pool, opts, testenv.Logger()).Build(newTestDomain()); err == nil {
		t.Fatal("a RescueAfter shorter than JobTimeout was accepted")
	}
	opts = DefaultOptions(1)
	opts.Timeouts = map[string]time.Duration{"jobs_test_ping": 5 * time.Minute}
	q := New(pool, opts, testenv.Logger())
	if err := q.Build(newTestDomain()); err != nil {
		t.Fatal(err)
	}
	if got := q.TimeoutOf("jobs_test_ping"); got != 5*time.Minute {
		t.Fatalf("TimeoutOf(ping) = %s", got)
	}
	if got := TimeoutOf(q, "other"); got != opts.JobTimeout {
		t.Fatalf("TimeoutOf(other) = %s, want %s", got, opts.JobTimeout)
	}
}
