package db

import (
	"context"
	"io/fs"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
)

// MigrateFS is Migrate with the migrations found in dir of fsys instead of the embedded ones,
// for the migrator's tests (package db_test, which can use internal/testenv).
func MigrateFS(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger, fsys fs.FS, dir string) (int, error) {
	ms, err := loadMigrations(fsys, dir)
	if err != nil {
		return 0, err
	}
	return migrate(ctx, pool, log, ms)
}
