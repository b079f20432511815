package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"syscall"
)

const workerUsage = `usage: sieve worker [--concurrency N]

Runs the background jobs (image metadata and placement, thumbnails and perceptual hashes,
upload-session cleanup) until SIGINT or SIGTERM. Run as many worker processes as you like, on
as many machines: they share the queue in PostgreSQL and each job runs once at a time.
--concurrency defaults to SIEVE_WORKER_CONCURRENCY (4).`

// cmdWorker drains the job queue.
func cmdWorker(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("sieve worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	concurrency := fs.Int("concurrency", 0, "jobs run at once")
	if err := fs.Parse(args); err != nil {
		return usageError(workerUsage)
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	a, err := open(ctx, getenv, stderr, true)
	if err != nil {
		return err
	}
	defer a.close()
	if *concurrency > 0 {
		a.cfg.Worker.Concurrency = int32(*concurrency)
	}
	d, err := a.wire(int(a.cfg.Worker.Concurrency))
	if err != nil {
		return err
	}
	if err := d.queue.Start(ctx); err != nil {
		return fmt.Errorf("worker: %w (has `sieve migrate` run?)", err)
	}
	a.log.Info("worker running", "concurrency", a.cfg.Worker.Concurrency, "queues", d.queue.Queues())
	<-ctx.Done()
	a.log.Info("worker stopping: finishing the jobs in hand", "grace", a.cfg.HTTP.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), a.cfg.HTTP.ShutdownTimeout)
	defer cancel()
	if err := d.queue.Stop(sctx); err != nil {
		return fmt.Errorf("worker: stop: %w", err)
	}
	return nil
}
