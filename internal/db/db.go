// Package db opens Sieve's PostgreSQL + PostGIS connection pool and applies the schema
// migrations embedded in migrations/.
package db

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Open connects a pool to url and checks that the server answers. The pool reconnects by
// itself when the server comes back after an outage.
func Open(ctx context.Context, url string, maxConns int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("db: parse url: %w", err)
	}
	cfg.MaxConns = maxConns
	cfg.MaxConnIdleTime = 5 * time.Minute
	cfg.HealthCheckPeriod = 15 * time.Second
	cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	cfg.ConnConfig.RuntimeParams["application_name"] = "sieve"
	// Bulk imports stage their rows in temporary tables (premises: about 80 MB with its index
	// for 400,000 rows); with the default 8 MB of local buffers they go through temporary
	// files, and that import took 8.7 s instead of 7.5 s (deploy/bench/premises, four rounds
	// each). The memory is taken only by a session that uses temporary tables, and the setting
	// can only be made before the session's first one, hence here. A URL may override it.
	if _, set := cfg.ConnConfig.RuntimeParams["temp_buffers"]; !set {
		cfg.ConnConfig.RuntimeParams["temp_buffers"] = "128MB"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("db: open: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("db: ping: %w", err)
	}
	return pool, nil
}
