// Package api is Sieve's HTTP layer: the route table, handlers, middleware and the one error
// handler that turns domain errors into JSON. Handlers are methods on Server and hold no state
// of their own; what they need (pool, stores, object store, clock) is passed in by cmd/sieve.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
)

// Check is one readiness probe of a backing service.
type Check struct {
	Name string                          // "postgres", "minio"
	Ping func(ctx context.Context) error // nil error means the service answers
}

// Deps is what the API needs from the rest of the program.
type Deps struct {
	Log       *slog.Logger
	Registry  *prometheus.Registry // metrics are registered here and served at /metrics
	Checks    []Check
	BodyLimit int64 // bytes for JSON bodies
	// UploadLimit is the byte limit for routes that take files.
	UploadLimit int64
	Now         func() time.Time
}

// Server holds the dependencies shared by all handlers.
type Server struct {
	Deps
	echo    *echo.Echo
	metrics *httpMetrics
}

// New builds the Echo instance with middleware and routes.
func New(d Deps) *Server {
	if d.Now == nil {
		d.Now = time.Now
	}
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	s := &Server{Deps: d, echo: e, metrics: newHTTPMetrics(d.Registry)}
	e.HTTPErrorHandler = s.handleError
	e.Use(s.middleware()...)
	s.routes()
	return s
}

// Handler returns the http.Handler to serve.
func (s *Server) Handler() http.Handler { return s.echo }

// Echo exposes the router, for tests that compare routes with the specification.
func (s *Server) Echo() *echo.Echo { return s.echo }
