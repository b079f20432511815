package api

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/sieve-city/sieve/internal/accounts"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/premises"
	"github.com/sieve-city/sieve/internal/regions"
)

// rowsRead returns how many rows of table this connection has read (sequential scans and index
// fetches, pg_stat_xact_user_tables: counted as they happen, with what earlier transactions
// have not yet reported; take differences).
func rowsRead(ctx context.Context, t *testing.T, tx pgx.Tx, table string) int64 {
	t.Helper()
	var n int64
	const q = `SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) FROM pg_stat_xact_user_tables WHERE relname = $1`
	if err := tx.QueryRow(ctx, q, table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestWorkerListsReadTheirCells: a grid worker's unfiltered lists of premises and regions, and
// their /me scope, read the worker's own cells (and the regions above them), not the whole
// register with the policy refusing nearly every row. Rows read are counted, so the test does
// not depend on timing.
func TestWorkerListsReadTheirCells(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	ctx := context.Background()
	// A register and a region tree much larger than the worker's area.
	err := db.AsSystem(ctx, h.pool, "test", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO premises (kind, name, geom, cell_id, region_path)
			SELECT 'household', 'p' || g, ST_SetSRID(ST_MakePoint(113.7, 34.2), 4326), r.id, r.path
			FROM regions r, generate_series(1, 5000) g WHERE r.id = $1`, w.k2); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO regions (parent_id, level, code, name)
			SELECT $1, 'cell', 'x' || g, 'cell ' || g FROM generate_series(1, 2000) g`, w.v2); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `ANALYZE premises; ANALYZE regions`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	worker, err := h.accounts.Authenticate(ctx, h.pool, h.token(w.users["worker"]))
	if err != nil {
		t.Fatal(err)
	}
	as := func(name string, fn func(tx pgx.Tx) (int, error), table string, want int, maxRead int64) {
		t.Run(name, func(t *testing.T) {
			err := db.ReadInScope(ctx, h.pool, worker.Actor("", ""), func(tx pgx.Tx) error {
				before := rowsRead(ctx, t, tx, table)
				got, err := fn(tx)
				if err != nil {
					return err
				}
				if got != want {
					t.Errorf("%d results, want %d", got, want)
				}
				if n := rowsRead(ctx, t, tx, table) - before; n > maxRead {
					t.Errorf("read %d rows of %s for %d results, want at most %d", n, table, got, maxRead)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
	as("premises", func(tx pgx.Tx) (int, error) {
		l, err := h.srv.Premises.List(ctx, tx, premises.Filter{Limit: 50})
		return len(l), err
	}, "premises", 1, 50)
	as("premises in a region", func(tx pgx.Tx) (int, error) {
		l, err := h.srv.Premises.List(ctx, tx, premises.Filter{Limit: 50, RegionID: w.t1})
		return len(l), err
	}, "premises", 1, 50)
	as("regions", func(tx pgx.Tx) (int, error) {
		l, err := h.srv.Regions.List(ctx, tx, regions.Filter{Limit: 50})
		return len(l), err
	}, "regions", 4, 50) // city, t1, v1, k1
	as("scope of /me", func(tx pgx.Tx) (int, error) {
		l, err := h.accounts.ScopeRegions(ctx, tx, worker)
		return len(l), err
	}, "regions", 1, 50)
	if worker.Role != accounts.GridWorker {
		t.Fatal("not a worker")
	}
}
