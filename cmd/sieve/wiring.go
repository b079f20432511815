package main

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sieve-city/sieve/imagery"
	"github.com/sieve-city/sieve/internal/inspections"
	"github.com/sieve-city/sieve/internal/jobs"
	"github.com/sieve-city/sieve/internal/media"
)

// domains are the services built over one job queue: what `sieve serve` and `sieve worker`
// share. A new domain with jobs is built here, after the domains it depends on, and added to
// the queue's Build; its hooks into earlier domains (e.g. an inspection's evidence re-checked
// when a medium is processed: media.Hooks.Processed) are given here too, so that no domain
// imports the ones that come after it.
type domains struct {
	queue       *jobs.Queue
	media       *media.Service
	inspections *inspections.Service
}

// wire builds the job queue (workers jobs per queue at once; 0 only enqueues) and the
// domains on it, and builds the queue with their workers and periodic jobs. Start the queue
// to run jobs.
func (a *app) wire(workers int) (*domains, error) {
	q := jobs.New(a.pool, jobs.DefaultOptions(workers), a.log)
	// Inspections come after media but media's Processed hook re-checks their evidence: the
	// service is built first and handed to media as a hook. The photo-reuse lookup is a plain
	// scan (inspections.ScanIndex) until the pHash index of internal/media replaces it here
	// (inspections.Deps.PHash).
	ins, err := inspections.New(inspections.Deps{Pool: a.pool, Jobs: q, Evidence: a.cfg.Evidence, Now: time.Now, Log: a.log})
	if err != nil {
		return nil, err
	}
	svc, err := a.mediaService(q, media.Hooks{Processed: []func(context.Context, pgx.Tx, int64) error{ins.MediaProcessed}})
	if err != nil {
		return nil, err
	}
	if err := q.Build(svc, ins); err != nil {
		return nil, err
	}
	return &domains{queue: q, media: svc, inspections: ins}, nil
}

// mediaService builds the media domain: MinIO, the thumbnailer (decodes bounded by the worker
// concurrency), the upload limits, the real clock.
func (a *app) mediaService(q jobs.Enqueuer, hooks media.Hooks) (*media.Service, error) {
	tc := imagery.DefaultThumbConfig()
	tc.MaxConcurrent = int(a.cfg.Worker.Concurrency)
	th, err := imagery.NewThumbnailer(tc)
	if err != nil {
		return nil, err
	}
	mc := media.DefaultConfig()
	mc.Limits.MaxBytes = a.cfg.HTTP.UploadLimit
	return media.New(media.Deps{Pool: a.pool, Blob: a.blob, Thumbs: th, Jobs: q, Hooks: hooks, Now: time.Now, Log: a.log}, mc)
}
