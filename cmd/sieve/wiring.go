package main

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sieve-city/sieve/imagery"
	"github.com/sieve-city/sieve/internal/accounts"
	"github.com/sieve-city/sieve/internal/changes"
	"github.com/sieve-city/sieve/internal/config"
	"github.com/sieve-city/sieve/internal/inspections"
	"github.com/sieve-city/sieve/internal/jobs"
	"github.com/sieve-city/sieve/internal/leads"
	"github.com/sieve-city/sieve/internal/ledgers"
	"github.com/sieve-city/sieve/internal/media"
	"github.com/sieve-city/sieve/internal/reports"
	"github.com/sieve-city/sieve/internal/sites"
	"github.com/sieve-city/sieve/internal/throttle"
	"github.com/sieve-city/sieve/internal/tips"
	"github.com/sieve-city/sieve/internal/tracks"
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
	sites       *sites.Service
	leads       *leads.Service
	changes     *changes.Feed
	reports     *reports.Service
	tips        *tips.Service // public tips, rewards, credit listing; the orphaned photos' sweep
}

// wire builds the job queue (workers jobs per queue at once; 0 only enqueues) and the
// domains on it, and builds the queue with their workers and periodic jobs. Start the queue
// to run jobs.
func (a *app) wire(workers int) (*domains, error) {
	opts := jobs.DefaultOptions(workers)
	opts.JobTimeout, opts.RescueAfter = a.cfg.Limits.JobTimeout, a.cfg.Limits.JobRescueAfter
	opts.Timeouts = map[string]time.Duration{reports.ExportArgs{}.Kind(): a.cfg.Reports.ExportTimeout}
	q := jobs.New(a.pool, opts, a.log)
	st := a.sitesService()
	ls := a.leadsService(st)
	// Inspections come after media, sites after inspections: each later domain acts on an
	// earlier one through the earlier one's hooks, given here. A suspected inspection (or an
	// exited firm's check that finds production) opens or joins a site; a processed photo
	// re-checks the evidence of the inspections that cite it. Photo reuse is looked up in the
	// pHash index of internal/media (phashIndex). A suspected visit at a lead's place confirms
	// the lead with the site the sites hook opened or joined (so the leads hook comes after it);
	// a clear visit of a lead's premise clears it.
	ins, err := inspections.New(inspections.Deps{Pool: a.pool, Jobs: q, PHash: phashIndex(), Evidence: a.cfg.Evidence,
		Hooks: inspections.Hooks{Recorded: []func(context.Context, pgx.Tx, inspections.Recorded) error{
			sites.InspectionHook(st), leads.InspectionHook(ls)}},
		Now: time.Now, Log: a.log})
	if err != nil {
		return nil, err
	}
	svc, err := a.mediaService(q, media.Hooks{Processed: []func(context.Context, pgx.Tx, int64) error{ins.MediaProcessed}})
	if err != nil {
		return nil, err
	}
	feed := a.changesFeed()
	rep, err := a.reportsService(q)
	if err != nil {
		return nil, err
	}
	// Tips store their photos through media's checks (each photo a medium with its jobs), open
	// sites through the sites domain, and sweep the photo objects a crash left unrecorded.
	tp, err := tips.New(tips.Deps{Pool: a.pool, Media: svc, Sites: st, Now: time.Now, Log: a.log}, a.cfg.Tips)
	if err != nil {
		return nil, err
	}
	// The throttle's events are kept for the longest window of its limiters (logins, tips).
	pruner := throttle.NewPruner(a.pool, append(accounts.ThrottleWindows(), a.cfg.Tips.ThrottleWindows()...),
		a.cfg.Throttle.PruneEvery, time.Now)
	if err := q.Build(svc, ins, feed, rep, tp, pruner); err != nil {
		return nil, err
	}
	return &domains{queue: q, media: svc, inspections: ins, sites: st, leads: ls, changes: feed, reports: rep, tips: tp}, nil
}

// reportsService builds the monthly filings and exports: the ledgers of internal/ledgers as the
// renderer, MinIO, the queue (export and cleanup jobs), the configured schedule, the real clock.
func (a *app) reportsService(q jobs.Enqueuer) (*reports.Service, error) {
	return reports.New(reports.Deps{Pool: a.pool, Blob: a.blob, Ledgers: reports.Ledgers{Service: ledgers.New(time.Now)},
		Jobs: q, Now: time.Now, Log: a.log}, a.cfg.Reports)
}

// mediaService builds the media domain: MinIO, the thumbnailer (decodes bounded by the worker
// concurrency and the decode memory), the upload limits and quotas, the real clock.
func (a *app) mediaService(q jobs.Enqueuer, hooks media.Hooks) (*media.Service, error) {
	tc := imagery.DefaultThumbConfig()
	tc.MaxConcurrent = int(a.cfg.Worker.Concurrency)
	tc.DecodeMemory = a.cfg.Limits.DecodeMemory
	th, err := imagery.NewThumbnailer(tc)
	if err != nil {
		return nil, err
	}
	mc := media.DefaultConfig()
	mc.Limits.MaxBytes = a.cfg.HTTP.UploadLimit
	l := a.cfg.Limits
	mc.Quota = media.Quota{MaxPendingSessions: int(l.UploadMaxPending), MaxPendingBytes: l.UploadMaxPendingBytes,
		MaxOpenUploads: int(l.UploadMaxOpen)}
	mc.BodyIdleTimeout, mc.BodyTotalTimeout, mc.SpoolDir = l.UploadIdleTimeout, a.cfg.HTTP.ReadTimeout, l.UploadSpoolDir
	sv := a.cfg.Survey
	mc.Footprint = imagery.FootprintClip{DepthHeights: sv.FootprintDepthHeights, MaxRangeMetres: sv.FootprintMaxRangeMetres}
	mc.Quality = media.QualityConfig{RegionMarginMetres: sv.RegionMarginMetres, FlightDateDays: sv.FlightDateDays,
		BlurMinLaplacian: sv.BlurMinLaplacian, DarkMeanLuma: sv.DarkMeanLuma, BrightMeanLuma: sv.BrightMeanLuma}
	return media.New(media.Deps{Pool: a.pool, Blob: a.blob, Thumbs: th, Jobs: q, Hooks: hooks, Now: time.Now, Log: a.log}, mc)
}

// sitesService builds the sites domain with the configured re-inspection days and the real
// clock. The inspections domain's hook calls its FromInspection for a suspected inspection.
func (a *app) sitesService() *sites.Service {
	cfg := sites.DefaultConfig()
	cfg.Reinspections = nil
	for _, d := range a.cfg.Sites.ReinspectionDays {
		cfg.Reinspections = append(cfg.Reinspections, time.Duration(d)*24*time.Hour)
	}
	return sites.New(cfg, time.Now)
}

// leadsService builds the leads domain with its configuration and its sources, one per kind
// of lead data: adding a source is one line here.
func (a *app) leadsService(st *sites.Service) *leads.Service {
	cfg := leadsConfig(a.cfg.Leads)
	tcfg := a.cfg.Tracks
	tcfg.ExcludeTags = cfg.Power.RegisteredTags // registered chemical firms: one list for both sources
	return leads.NewService(cfg, st, time.Now,
		leads.MarketEntities{Config: cfg.Market},
		leads.PowerUsers{Config: cfg.Power},
		tracks.New(tcfg),
	)
}

// leadsConfig turns the SIEVE_LEADS_* settings into the leads domain's configuration.
func leadsConfig(c config.Leads) leads.Config {
	cfg := leads.DefaultConfig()
	cfg.MinScore, cfg.DedupMetres, cfg.ConfirmMetres = c.MinScore, c.DedupMetres, c.ConfirmMetres
	cfg.VerifyWithin, cfg.MaxBytes = time.Duration(c.VerifyDays)*24*time.Hour, c.MaxBytes
	cfg.Market.ChemicalKeywords, cfg.Market.SuspectKeywords = c.ChemicalKeywords, c.SuspectKeywords
	cfg.Power.SurgeRatio, cfg.Power.MedianRatio, cfg.Power.FloorKWh = c.SurgeRatio, c.MedianRatio, c.FloorKWh
	cfg.Power.ResidentialKWh, cfg.Power.RegisteredTags = c.ResidentialKWh, c.RegisteredTags
	return cfg
}

// changesFeed builds the phone-sync change feed with its retention: the API serves pages from
// it, the queue runs its pruning job.
func (a *app) changesFeed() *changes.Feed {
	return changes.New(changes.Config{Retention: a.cfg.Sync.Retention, PruneEvery: a.cfg.Sync.PruneEvery},
		changes.Deps{Pool: a.pool}, time.Now)
}

// phashIndex is the inspections domain's photo-reuse lookup: media's pHash index.
func phashIndex() inspections.PHashIndex { return inspections.MediaIndex{} }
