package api

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sieve-city/sieve/openapi"
)

// healthz answers 200 while the process runs; it checks nothing else.
func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// readyz pings every backing service in parallel and answers 503 naming the ones that are down.
// It needs no login, so it says only "ok" or "down" per service: the driver's error (hosts,
// ports, database user and name) goes to the log.
func (s *Server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 3*time.Second)
	defer cancel()
	results := make(map[string]string, len(s.Checks))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, chk := range s.Checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := "ok"
			if err := chk.Ping(ctx); err != nil {
				res = "down"
				s.Log.Warn("readiness check failed", "service", chk.Name, "err", err)
			}
			mu.Lock()
			results[chk.Name] = res
			mu.Unlock()
		}()
	}
	wg.Wait()
	status, code := "ready", http.StatusOK
	for _, r := range results {
		if r != "ok" {
			status, code = "unavailable", http.StatusServiceUnavailable
		}
	}
	return c.JSON(code, map[string]any{"status": status, "checks": results})
}

func (s *Server) metricsHandler() echo.HandlerFunc {
	return echo.WrapHandler(promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{}))
}

func (s *Server) openapiSpec(c echo.Context) error {
	return c.Blob(http.StatusOK, "application/yaml", openapi.Spec())
}
