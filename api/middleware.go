package api

import (
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
)

// middleware is the chain every request passes, outermost first.
func (s *Server) middleware() []echo.MiddlewareFunc {
	return []echo.MiddlewareFunc{
		middleware.RequestID(),
		s.observe,
		middleware.RecoverWithConfig(middleware.RecoverConfig{
			// The stack goes to the log via the error; the client gets a bare 500.
			LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
				s.Log.Error("panic", "request_id", c.Response().Header().Get(echo.HeaderXRequestID),
					"err", err, "stack", string(stack))
				return err
			},
		}),
		s.limitBody,
	}
}

// observe logs each request and records its count and latency by route and status.
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err) // write the response now, so the status below is the real one
		}
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		status := c.Response().Status
		elapsed := time.Since(start)
		s.metrics.requests.WithLabelValues(c.Request().Method, route, strconv.Itoa(status)).Inc()
		s.metrics.duration.WithLabelValues(c.Request().Method, route, strconv.Itoa(status)).Observe(elapsed.Seconds())
		if route != "/healthz" && route != "/readyz" && route != "/metrics" {
			s.Log.LogAttrs(c.Request().Context(), levelFor(status), "request",
				slog.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)),
				slog.String("method", c.Request().Method),
				slog.String("route", route),
				slog.String("uri", c.Request().RequestURI),
				slog.Int("status", status),
				slog.Int64("bytes_out", c.Response().Size),
				slog.Duration("latency", elapsed),
				slog.String("remote", c.RealIP()),
			)
		}
		return nil
	}
}

func levelFor(status int) slog.Level {
	switch {
	case status >= 500:
		return slog.LevelError
	case status >= 400:
		return slog.LevelInfo
	default:
		return slog.LevelDebug
	}
}

// limitBody refuses bodies over the route's limit (the JSON body limit, or what the route's
// line in routes.go gives it): at once when Content-Length says so, otherwise when reading
// passes the limit (the handler then fails with *http.MaxBytesError, which the error handler
// maps to 413).
func (s *Server) limitBody(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		limit, ok := s.limits[c.Request().Method+" "+c.Path()]
		if !ok {
			limit = s.BodyLimit
		}
		req := c.Request()
		if req.ContentLength > limit {
			return echo.NewHTTPError(http.StatusRequestEntityTooLarge)
		}
		req.Body = http.MaxBytesReader(c.Response(), req.Body, limit)
		return next(c)
	}
}

// httpMetrics are the Prometheus series of the HTTP layer.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg *prometheus.Registry) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sieve_http_requests_total",
			Help: "HTTP requests by method, route and status.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sieve_http_request_duration_seconds",
			Help:    "HTTP request latency by method, route and status.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"method", "route", "status"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}
