package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/sieve-city/sieve/api"
	"github.com/sieve-city/sieve/internal/accounts"
	"github.com/sieve-city/sieve/internal/blob"
	"github.com/sieve-city/sieve/internal/config"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/premises"
	"github.com/sieve-city/sieve/internal/regions"
	"github.com/sieve-city/sieve/web"
)

// app is what every subcommand that talks to the services shares.
type app struct {
	cfg  config.Config
	log  *slog.Logger
	pool *pgxpool.Pool
	blob *blob.Store
}

// open loads the configuration and connects to PostgreSQL (and MinIO when withBlob).
func open(ctx context.Context, getenv func(string) string, stderr io.Writer, withBlob bool) (*app, error) {
	cfg, err := config.Load(getenv)
	if err != nil {
		return nil, err
	}
	log := newLogger(stderr, cfg.Log.Level, cfg.Log.Format)
	log.Info("config", "effective", cfg.String(), "version", buildVersion())
	pool, err := db.Open(ctx, cfg.DB.URL, cfg.DB.MaxConns)
	if err != nil {
		return nil, fmt.Errorf("%w (is PostgreSQL running? ./deploy/local/stack.sh up)", err)
	}
	a := &app{cfg: cfg, log: log, pool: pool}
	if withBlob {
		s3 := cfg.S3
		a.blob, err = blob.New(blob.Config{Endpoint: s3.Endpoint, AccessKey: s3.AccessKey, SecretKey: s3.SecretKey,
			UseSSL: s3.UseSSL, Region: s3.Region, BucketMedia: s3.BucketMedia, BucketDerived: s3.BucketDerived,
			PublicURL: s3.PublicURL})
		if err != nil {
			pool.Close()
			return nil, err
		}
	}
	return a, nil
}

func (a *app) close() { a.pool.Close() }

// accounts is the user store with production password hashing.
func (a *app) accounts() *accounts.Store {
	au := a.cfg.Auth
	h := accounts.NewHasher(accounts.DefaultHashParams, int(au.KDFConcurrency)).WithQueue(int(au.KDFQueue), au.KDFWait)
	return accounts.NewStore(h, au.TokenTTL, au.CacheTTL, time.Now)
}

func cmdMigrate(ctx context.Context, _ []string, getenv func(string) string, stderr io.Writer) error {
	a, err := open(ctx, getenv, stderr, false)
	if err != nil {
		return err
	}
	defer a.close()
	n, err := db.Migrate(ctx, a.pool, a.log)
	if err != nil {
		return err
	}
	a.log.Info("schema up to date", "applied", n)
	return nil
}

func cmdServe(ctx context.Context, _ []string, getenv func(string) string, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	a, err := open(ctx, getenv, stderr, true)
	if err != nil {
		return err
	}
	defer a.close()
	if _, err := db.Migrate(ctx, a.pool, a.log); err != nil {
		return err
	}
	if err := a.blob.EnsureBuckets(ctx); err != nil {
		return fmt.Errorf("%w (is MinIO running? ./deploy/local/stack.sh up)", err)
	}

	// Jobs: enqueued by the API; run here too with SIEVE_WORKER_INPROCESS=true.
	workers := 0
	if a.cfg.Worker.InProcess {
		workers = int(a.cfg.Worker.Concurrency)
	}
	d, err := a.wire(workers)
	if err != nil {
		return err
	}
	if workers > 0 {
		if err := d.queue.Start(ctx); err != nil {
			return err
		}
		a.log.Info("running jobs in process", "concurrency", workers, "queues", d.queue.Queues())
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), a.cfg.HTTP.ShutdownTimeout)
			defer cancel()
			if err := d.queue.Stop(sctx); err != nil {
				a.log.Warn("stop jobs", "err", err)
			}
		}()
	}

	srv := a.server(d)
	// Principal changes made by other instances (and tools) reach this one's cache at once.
	go srv.Accounts.Listen(ctx, a.pool, a.log, nil)
	httpSrv := &http.Server{
		Addr:              a.cfg.HTTP.Addr,
		Handler:           srv.Handler(),
		ReadHeaderTimeout: a.cfg.HTTP.ReadHeaderTimeout,
		ReadTimeout:       a.cfg.HTTP.ReadTimeout,
		WriteTimeout:      a.cfg.HTTP.WriteTimeout,
		IdleTimeout:       a.cfg.HTTP.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", a.cfg.HTTP.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", a.cfg.HTTP.Addr, err)
	}
	// A new connection has the idle timeout to start its first request, not the header
	// timeout: clients' spare connections are not closed under them (api.FirstByteListener).
	ln = api.FirstByteListener(ln, a.cfg.HTTP.IdleTimeout)
	a.log.Info("serving", "addr", "http://"+ln.Addr().String(), "docs", "http://"+ln.Addr().String()+"/docs")

	errc := make(chan error, 1)
	go func() { errc <- httpSrv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	a.log.Info("shutting down", "grace", a.cfg.HTTP.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), a.cfg.HTTP.ShutdownTimeout)
	defer cancel()
	if err := httpSrv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// server wires the API with its dependencies.
func (a *app) server(d *domains) *api.Server {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		db.NewPoolCollector(a.pool))
	rs := a.regionStore(premises.NewStore())
	rs.Shapefile = regions.ShapefileLimits{MaxBytes: a.cfg.Limits.ShapefileMaxBytes, MaxVertices: int64(a.cfg.Limits.ShapefileMaxVertices)}
	return api.New(api.Deps{
		Pool:     a.pool,
		Accounts: a.accounts(),
		Media:    d.media,
		Regions:  rs,
		Sites:    d.sites,
		Leads:    d.leads,
		Changes:  d.changes,
		Tips:     d.tips,
		Log:      a.log,
		Registry: reg,
		Checks: []api.Check{
			{Name: "postgres", Ping: a.pool.Ping},
			{Name: "minio", Ping: a.blob.Ping},
		},
		BodyLimit:   a.cfg.HTTP.BodyLimit,
		UploadLimit: a.cfg.HTTP.UploadLimit,
		TrustProxy:  a.cfg.HTTP.TrustProxy,
		Inspections: d.inspections,
		Reports:     d.reports,
		// A body that stalls is answered 408 (the whole-request ReadTimeout is for slow phones).
		BodyIdleTimeout: a.cfg.HTTP.BodyIdleTimeout,
		ReadTimeout:     a.cfg.HTTP.ReadTimeout,
		Map:             web.Config{TiandituKey: a.cfg.Map.TiandituKey},
	})
}
