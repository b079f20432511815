package db

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

// migrateRiver brings River's tables (the background job queue, see internal/jobs) up to the
// version of the River library that this binary is built with. River keeps its own version
// table (river_migration); this runs before Sieve's own migrations.
func migrateRiver(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) (int, error) {
	m, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Logger: log})
	if err != nil {
		return 0, fmt.Errorf("db: river migrator: %w", err)
	}
	res, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return 0, fmt.Errorf("db: river migrations: %w", err)
	}
	for _, v := range res.Versions {
		log.Info("river migration applied", "version", v.Version, "name", v.Name)
	}
	return len(res.Versions), nil
}
