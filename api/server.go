// Package api is Sieve's HTTP layer: the route table, handlers, middleware and the one error
// handler that turns domain errors into JSON. Handlers are methods on Server and hold no state
// of their own; what they need (pool, stores, services) is passed in by cmd/sieve, which also gives
// the services their clock.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sieve-city/sieve/internal/accounts"
	"github.com/sieve-city/sieve/internal/changes"
	"github.com/sieve-city/sieve/internal/coverage"
	"github.com/sieve-city/sieve/internal/inspections"
	"github.com/sieve-city/sieve/internal/ledgers"
	"github.com/sieve-city/sieve/internal/media"
	"github.com/sieve-city/sieve/internal/premises"
	"github.com/sieve-city/sieve/internal/regions"
	"github.com/sieve-city/sieve/internal/reports"
	"github.com/sieve-city/sieve/internal/sites"
	"github.com/sieve-city/sieve/internal/tasks"
	"github.com/sieve-city/sieve/internal/tiles"
	"github.com/sieve-city/sieve/web"
)

// Check is one readiness probe of a backing service. /readyz names the service and says "ok" or
// "down"; the error itself goes to the log only (it can hold hosts, users and database names).
type Check struct {
	Name string                          // "postgres", "minio"
	Ping func(ctx context.Context) error // nil error means the service answers
}

// Deps is what the API needs from the rest of the program.
type Deps struct {
	Pool     *pgxpool.Pool
	Accounts *accounts.Store
	// Regions and Premises are the region tree and the premises register (defaults when nil).
	Regions  *regions.Store
	Premises *premises.Store
	// Coverage reads coverage, its series and gaps (default: no plug-in counts).
	Coverage *coverage.Store
	// Tiles holds the map layers (default: tiles.NewRegistry, Sieve's own layers, with the
	// sites domain's layer added).
	Tiles *tiles.Registry
	// Map configures the map page (its optional base map).
	Map web.Config
	// Media stores photos and drone survey images and enqueues their jobs.
	Media *media.Service
	// Sites holds suspected sites and their cases (default: sites.DefaultConfig, the real clock).
	Sites *sites.Service
	// Ledgers renders the seed's forms 附件1/2/3 (default: the real clock).
	Ledgers *ledgers.Service
	// Reports files the monthly ledgers and runs background exports (nil: those routes answer
	// 503 reports_unavailable).
	Reports *reports.Service
	// Changes serves phone sync from the change feed (default settings when nil).
	Changes   *changes.Feed
	Log       *slog.Logger
	Registry  *prometheus.Registry // metrics are registered here and served at /metrics
	Checks    []Check
	BodyLimit int64 // bytes for JSON bodies
	// UploadLimit is the byte limit for routes that take files.
	UploadLimit int64
	// TrustProxy takes the client address from X-Forwarded-For (behind a load balancer).
	TrustProxy bool

	// Inspections records visits and runs their evidence checks (nil: those routes answer 503).
	Inspections *inspections.Service
	// BodyIdleTimeout is how long a read of a request body may wait for bytes before the
	// request is answered 408 (0: only the server's ReadTimeout applies). ReadTimeout is the
	// http.Server's: body reads still end by then (the idle deadline replaces the connection's).
	BodyIdleTimeout time.Duration
	ReadTimeout     time.Duration
}

// Server holds the dependencies shared by all handlers.
type Server struct {
	Deps
	echo    *echo.Echo
	pages   *web.Pages
	metrics *httpMetrics
	// rules maps "METHOD /path" of every /api/v1 route to the permission it needs.
	rules map[string]accounts.Permission
	// limits holds the body limit of the routes whose line in routes.go sets one.
	limits map[string]int64
}

// New builds the Echo instance with middleware and routes.
func New(d Deps) *Server {
	if d.Premises == nil {
		d.Premises = premises.NewStore()
	}
	if d.Changes == nil {
		d.Changes = changes.New(changes.DefaultConfig(), changes.Deps{Pool: d.Pool}, nil)
	}
	if d.Regions == nil {
		d.Regions = regions.NewStore(d.Premises, media.NewPlacer(), sites.Placer{}, tasks.Placer{})
	}
	if d.Sites == nil {
		d.Sites = sites.New(sites.DefaultConfig(), time.Now)
	}
	if d.Ledgers == nil {
		d.Ledgers = ledgers.New(time.Now)
	}
	if d.Coverage == nil {
		d.Coverage = coverage.NewStore(coverage.Extras{OpenSites: &coverage.Extra{Query: sites.OpenSitesPerCell},
			OverdueActions: &coverage.Extra{Query: sites.OverdueActionsPerCell}})
	}
	if d.Tiles == nil {
		d.Tiles = tiles.NewRegistry()
		d.Tiles.Add(sites.TileLayer)
	}
	pages, err := web.New(d.Map)
	if err != nil {
		panic(err) // the pages are embedded: a failure is a build error, caught by every test
	}
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	// Client addresses are taken from the connection, not from X-Forwarded-For, which a
	// client could forge to dodge login throttling. Behind a proxy, set TrustProxy.
	e.IPExtractor = echo.ExtractIPDirect()
	if d.TrustProxy {
		e.IPExtractor = echo.ExtractIPFromXFFHeader()
	}
	s := &Server{Deps: d, pages: pages, echo: e, metrics: newHTTPMetrics(d.Registry), rules: map[string]accounts.Permission{},
		limits: map[string]int64{}}
	e.HTTPErrorHandler = s.handleError
	e.Use(s.middleware()...)
	s.routes()
	return s
}

// Handler returns the http.Handler to serve.
func (s *Server) Handler() http.Handler { return s.echo }

// Echo exposes the router, for tests that compare routes with the specification.
func (s *Server) Echo() *echo.Echo { return s.echo }
