package benchstack

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sieve-city/sieve/internal/db"
)

// Scratch creates a migrated database sieve_bench_<prefix>_<n> from sieve_template on the server
// of base (a superuser's or owner's URL) and returns a pool of 4 on it, with the function that
// closes the pool and drops the database (or, with keep, names it on stderr and leaves it for
// EXPLAIN). It is the in-process benchmarks' counterpart of New, which drives a real binary.
func Scratch(ctx context.Context, base, prefix string, keep bool) (*pgxpool.Pool, func(), error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, nil, err
	}
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		return nil, nil, err
	}
	name := fmt.Sprintf("sieve_bench_%s%d", prefix, time.Now().UnixNano())
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE sieve_template"); err != nil {
		admin.Close(ctx)
		return nil, nil, err
	}
	u.Path = "/" + name
	pool, err := db.Open(ctx, u.String(), 4)
	drop := func() {
		if pool != nil {
			pool.Close()
		}
		if keep {
			fmt.Fprintln(os.Stderr, "kept database", name)
		} else {
			_, _ = admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
		}
		admin.Close(context.Background())
	}
	if err != nil {
		drop()
		return nil, nil, err
	}
	if _, err := db.Migrate(ctx, pool, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		drop()
		return nil, nil, err
	}
	return pool, drop, nil
}
