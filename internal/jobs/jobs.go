// Package jobs is Sieve's one background job queue (River, in PostgreSQL), owned by no domain.
// Domains (media today; inspections, sites, coverage later) hand it their workers and periodic
// jobs through Domain, and enqueue through Enqueuer in their own transactions, so that a job
// exists if and only if the change that asked for it was committed. Nobody else builds a River
// client: the retry policy, attempts, job timeout, worker concurrency and the enqueue-only mode
// of an API process whose jobs run in `sieve worker` processes, the timeouts per kind and the
// rescue of the jobs a dead process held live here.
//
// Construction runs in three steps, because River needs every worker when its client is made
// while the domains need an enqueuer when they are made:
//
//	q := jobs.New(pool, jobs.DefaultOptions(workers), log) // an Enqueuer, not usable yet
//	svc := media.New(media.Deps{Jobs: q, ...})             // domains keep q
//	err := q.Build(svc)                                    // workers, periodic jobs, queues
//	err = q.Start(ctx); defer q.Stop(ctx)                  // runs jobs (no-op enqueue-only)
//
// Enqueueing before Build is an error (ErrNotBuilt). Any number of processes may run workers
// on the same database; each job runs once at a time.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"
)

// Domain is a package with background jobs. Register adds its workers (river.AddWorker, one
// per job kind); Periodic lists the jobs River should insert on a schedule (run only by
// processes with workers); Queues names the River queues its jobs go to (nil: River's default
// queue). A job kind's queue is best set by its args (river.JobArgsWithInsertOpts), so that
// every enqueuer of the kind uses it.
type Domain interface {
	Register(w *river.Workers)
	Periodic() []*river.PeriodicJob
	Queues() []string
}

// Enqueuer adds jobs in the caller's transaction: they become visible to workers when it
// commits and vanish with it when it rolls back. It is all a domain sees of the queue.
type Enqueuer interface {
	EnqueueTx(ctx context.Context, tx pgx.Tx, jobs ...river.InsertManyParams) error
}

// ErrNotBuilt is returned by EnqueueTx, Start and Stop before Build.
var ErrNotBuilt = errors.New("jobs: the queue is not built yet (call Build with every domain first)")

// Options configures the queue of one process.
type Options struct {
	// Workers is how many jobs of each queue this process runs at once; 0 makes a queue that
	// only enqueues (an API process whose jobs run in `sieve worker` processes).
	Workers int
	// MaxAttempts is how often a job is tried before River discards it (its dead letter). It
	// is recorded on each job as it is enqueued, so it is the enqueuing process's setting.
	MaxAttempts int
	// RetryBase is the first retry delay; the n-th retry waits RetryBase·n², at most MaxRetry.
	RetryBase time.Duration
	// MaxRetry bounds a retry delay.
	MaxRetry time.Duration
	// JobTimeout cancels the context of a job that runs longer, for every kind without its
	// own timeout in Timeouts.
	JobTimeout time.Duration
	// Timeouts are the timeouts of single job kinds (by Kind()), which their workers report to
	// River through TimeoutOf. One may be longer than RescueAfter (a city-wide photo export):
	// River's rescuer leaves a running job alone until its own timeout has passed too
	// (internal/maintenance/job_rescuer.go), so such a kind is rescued only after it.
	Timeouts map[string]time.Duration
	// RescueAfter is how long a job may stay running before River's rescuer (run by the
	// leader among the processes with workers, every 30 s) takes it for the job of a dead
	// process and schedules it again, once it has also run past its kind's timeout. It must be
	// at least JobTimeout: a job is never rescued while a live process still works it. River's default is an hour; after a SIGKILL, the jobs the dead
	// process held then run again within RescueAfter + 30 s + the first retry delay.
	RescueAfter time.Duration
}

// DefaultOptions are the production settings, with workers jobs per queue at once. Sieve's
// jobs take seconds (a 100 MP thumbnail about two), so a minute is a generous timeout and
// two minutes a safe rescue delay.
func DefaultOptions(workers int) Options {
	return Options{Workers: workers, MaxAttempts: 5, RetryBase: 10 * time.Second, MaxRetry: 10 * time.Minute,
		JobTimeout: time.Minute, RescueAfter: 2 * time.Minute}
}

// Timeouts tells the timeout of a job kind; a *Queue does (from Options).
type Timeouts interface {
	TimeoutOf(kind string) time.Duration
}

// TimeoutOf returns the timeout of kind: its own (Options.Timeouts), else Options.JobTimeout.
// A worker returns it from its Timeout method (river.Worker) so that River applies it, both
// when working the job and when deciding to rescue it.
func (q *Queue) TimeoutOf(kind string) time.Duration {
	if d, ok := q.opts.Timeouts[kind]; ok && d > 0 {
		return d
	}
	return positiveOr(q.opts.JobTimeout, time.Minute)
}

// TimeoutOf returns the timeout of kind as e tells it (e a Timeouts, as a *Queue is), or 0
// (River's client-wide timeout) when e does not.
func TimeoutOf(e Enqueuer, kind string) time.Duration {
	if t, ok := e.(Timeouts); ok {
		return t.TimeoutOf(kind)
	}
	return 0
}

// rescueAfter is RescueAfter checked against the timeouts.
func (o Options) rescueAfter() (time.Duration, error) {
	r := positiveOr(o.RescueAfter, 2*time.Minute)
	if t := positiveOr(o.JobTimeout, time.Minute); r < t {
		return 0, fmt.Errorf("jobs: RescueAfter %s is shorter than JobTimeout %s", r, t)
	}
	return r, nil
}

// retryPolicy waits base·n² after the n-th failed attempt, at most ceiling. It reads the real
// time: River compares the result with its own clock.
type retryPolicy struct{ base, ceiling time.Duration }

func (p retryPolicy) NextRetry(job *rivertype.JobRow) time.Time {
	n := time.Duration(max(job.Attempt, 1))
	return time.Now().Add(min(p.base*n*n, p.ceiling))
}

// Queue is the job queue of one process: an Enqueuer from New on, usable after Build.
type Queue struct {
	pool *pgxpool.Pool
	opts Options
	log  *slog.Logger

	mu     sync.RWMutex
	client *river.Client[pgx.Tx]
	queues []string
}

// New returns a queue on pool that is not built yet: hand it to the domains as their
// Enqueuer, then call Build with them.
func New(pool *pgxpool.Pool, opts Options, log *slog.Logger) *Queue {
	return &Queue{pool: pool, opts: opts, log: log}
}

// Build makes the River client with the workers, periodic jobs and queues of domains. A
// queue is built once; every job kind that will be enqueued through it must have a worker
// here (River refuses to insert a kind it does not know).
func (q *Queue) Build(domains ...Domain) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.client != nil {
		return errors.New("jobs: the queue is already built")
	}
	workers := river.NewWorkers()
	var periodic []*river.PeriodicJob
	var queues []string
	for _, d := range domains {
		d.Register(workers)
		periodic = append(periodic, d.Periodic()...)
		qs := d.Queues()
		if len(qs) == 0 {
			qs = []string{river.QueueDefault}
		}
		for _, name := range qs {
			if !slices.Contains(queues, name) {
				queues = append(queues, name)
			}
		}
	}
	rescue, err := q.opts.rescueAfter()
	if err != nil {
		return err
	}
	cfg := &river.Config{
		Workers:              workers,
		Logger:               q.log,
		MaxAttempts:          max(q.opts.MaxAttempts, 1),
		RetryPolicy:          retryPolicy{base: max(q.opts.RetryBase, time.Millisecond), ceiling: positiveOr(q.opts.MaxRetry, 10*time.Minute)},
		JobTimeout:           positiveOr(q.opts.JobTimeout, time.Minute),
		RescueStuckJobsAfter: rescue,
	}
	if q.opts.Workers > 0 {
		cfg.Queues = map[string]river.QueueConfig{}
		for _, name := range queues {
			cfg.Queues[name] = river.QueueConfig{MaxWorkers: q.opts.Workers}
		}
		cfg.PeriodicJobs = periodic
	}
	c, err := river.NewClient(riverpgxv5.New(q.pool), cfg)
	if err != nil {
		return fmt.Errorf("jobs: build: %w", err)
	}
	q.client, q.queues = c, queues
	return nil
}

// positiveOr returns d, or def when d is not positive.
func positiveOr(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func (q *Queue) built() (*river.Client[pgx.Tx], error) {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.client == nil {
		return nil, ErrNotBuilt
	}
	return q.client, nil
}

// EnqueueTx adds jobs in tx (see Enqueuer).
func (q *Queue) EnqueueTx(ctx context.Context, tx pgx.Tx, jobs ...river.InsertManyParams) error {
	c, err := q.built()
	if err != nil {
		return err
	}
	if len(jobs) == 0 {
		return nil
	}
	if _, err := c.InsertManyTx(ctx, tx, jobs); err != nil {
		return fmt.Errorf("jobs: enqueue: %w", err)
	}
	return nil
}

// Workers reports how many jobs of each queue this process runs at once (0: enqueue only).
func (q *Queue) Workers() int { return q.opts.Workers }

// Queues names the River queues of the built queue's domains.
func (q *Queue) Queues() []string {
	q.mu.RLock()
	defer q.mu.RUnlock()
	return slices.Clone(q.queues)
}

// Start begins working jobs (and inserting periodic ones) until Stop or ctx ends. An
// enqueue-only queue has nothing to start: Start returns nil.
func (q *Queue) Start(ctx context.Context) error {
	c, err := q.built()
	if err != nil {
		return err
	}
	if q.opts.Workers <= 0 {
		return nil
	}
	if err := c.Start(ctx); err != nil {
		return fmt.Errorf("jobs: start: %w", err)
	}
	return nil
}

// Stop lets the jobs in hand finish (until ctx ends) and stops working. It does nothing on an
// enqueue-only queue.
func (q *Queue) Stop(ctx context.Context) error {
	c, err := q.built()
	if err != nil {
		return err
	}
	if q.opts.Workers <= 0 {
		return nil
	}
	if err := c.Stop(ctx); err != nil {
		return fmt.Errorf("jobs: stop: %w", err)
	}
	return nil
}
