package db

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Migration is one schema change: a plain SQL file named NNNN_name.sql.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Migrations returns the embedded migrations in version order.
func Migrations() ([]Migration, error) {
	return loadMigrations(migrationFS, "migrations")
}

func loadMigrations(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("db: read migrations: %w", err)
	}
	var ms []Migration
	seen := map[int]string{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		num, name, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("db: migration %q: want NNNN_name.sql", e.Name())
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("db: migrations %q and %q share version %d", prev, e.Name(), v)
		}
		seen[v] = e.Name()
		body, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("db: read %s: %w", e.Name(), err)
		}
		ms = append(ms, Migration{Version: v, Name: name, SQL: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	return ms, nil
}

// migrationLock is the advisory lock key that serialises concurrent migrators (several
// replicas starting at once).
const migrationLock = 0x5131e7e // "sieve"

// Migrate applies River's queue migrations (see migrateRiver), then every Sieve migration not
// yet applied, each in its own transaction, and returns how many Sieve migrations it applied.
// It refuses, before applying any, a migration numbered below the highest one applied: numbers
// are taken in the order migrations land, and a late one must be renumbered above.
func Migrate(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) (int, error) {
	ms, err := Migrations()
	if err != nil {
		return 0, err
	}
	return migrate(ctx, pool, log, ms)
}

// migrate is Migrate with the list of migrations given (version order).
//
// Migrations land in order: a version number is taken when its migration lands, so a database
// never has a migration applied after a higher one. An unapplied migration numbered below the
// highest applied one (a branch that took its number before another landed a higher one) is
// refused before anything is applied, with a message saying to renumber it: applied out of
// order, it would run against a schema its author never saw, and databases migrated at different
// times would end up with different schemas.
func migrate(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger, ms []Migration) (int, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("db: migrate: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLock); err != nil {
		return 0, fmt.Errorf("db: migrate lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLock) //nolint:errcheck

	// River's job queue tables first: Sieve's migrations and code may refer to them.
	if _, err := migrateRiver(ctx, pool, log); err != nil {
		return 0, err
	}

	const create = `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`
	if _, err := conn.Exec(ctx, create); err != nil {
		return 0, fmt.Errorf("db: create schema_migrations: %w", err)
	}
	done := map[int]bool{}
	highest := 0
	rows, err := conn.Query(ctx, "SELECT version FROM schema_migrations")
	if err != nil {
		return 0, fmt.Errorf("db: read schema versions: %w", err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return 0, fmt.Errorf("db: read schema versions: %w", err)
		}
		done[v] = true
		highest = max(highest, v)
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("db: read schema versions: %w", err)
	}
	for _, m := range ms {
		if !done[m.Version] && m.Version < highest {
			return 0, fmt.Errorf("db: migration %04d_%s is not applied but %04d is: migrations must land in order; renumber it above %04d",
				m.Version, m.Name, highest, highest)
		}
	}
	applied := 0
	for _, m := range ms {
		if done[m.Version] {
			continue
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.Version, m.Name)
			return err
		})
		if err != nil {
			return applied, fmt.Errorf("db: migration %04d_%s: %w", m.Version, m.Name, err)
		}
		log.Info("migration applied", "version", m.Version, "name", m.Name)
		applied++
	}
	return applied, nil
}
