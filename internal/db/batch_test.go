package db_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/testenv"
)

// TestReadBatchSettingsEndWithIt: the reads of db.ReadBatch see the actor's settings and may not
// write; after the batch the pooled connection is idle with none of them left, so that its next
// user starts clean.
func TestReadBatchSettingsEndWithIt(t *testing.T) {
	ctx := context.Background()
	cfg := testenv.DB(t).Config().Copy()
	cfg.MinConns, cfg.MaxConns = 1, 1
	one, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	a := db.Actor{UserID: 42, Username: "worker", Role: "grid_worker", Scope: []string{"1.2.3"}}

	var user, scope, readOnly string
	var b pgx.Batch
	b.Queue(`SELECT current_setting('sieve.user_id'), current_setting('sieve.scope'), current_setting('transaction_read_only')`).
		QueryRow(func(r pgx.Row) error { return r.Scan(&user, &scope, &readOnly) })
	if err := db.ReadBatch(ctx, one, a, nil, &b); err != nil {
		t.Fatal(err)
	}
	if user != "42" || scope != "1.2.3" || readOnly != "on" {
		t.Errorf("inside the batch: sieve.user_id %q, sieve.scope %q, read-only %s; want 42, 1.2.3, on", user, scope, readOnly)
	}

	var w pgx.Batch
	w.Queue(`CREATE TEMP TABLE read_batch_write (a int)`)
	if err := db.ReadBatch(ctx, one, a, nil, &w); err == nil {
		t.Error("a write in a ReadBatch went through; want it refused (read-only)")
	}

	conn, err := one.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if s := conn.Conn().PgConn().TxStatus(); s != 'I' {
		t.Errorf("the connection after a ReadBatch is in transaction state %q, want idle", s)
	}
	err = conn.QueryRow(ctx, `SELECT coalesce(current_setting('sieve.user_id', true), ''), coalesce(current_setting('sieve.scope', true), ''),
		current_setting('transaction_read_only')`).Scan(&user, &scope, &readOnly)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" || scope != "" || readOnly != "off" {
		t.Errorf("after the batch: sieve.user_id %q, sieve.scope %q, read-only %s: want them all back", user, scope, readOnly)
	}
}

// TestReadBatchLead: a lead read rides on the settings statement with its own parameters, its
// scan sees its columns only, and the queued reads after it still see the actor's settings and
// may not write.
func TestReadBatchLead(t *testing.T) {
	ctx := context.Background()
	pool := testenv.DB(t)
	a := db.Actor{UserID: 7, Username: "office", Role: "city_admin"}
	var sum int
	var word, user string
	lead := &db.Lead{SQL: `SELECT $1::int + $2::int, $3::text`, Args: []any{2, 3, "五"},
		Scan: func(r pgx.Row) error { return r.Scan(&sum, &word) }}
	var b pgx.Batch
	b.Queue(`SELECT current_setting('sieve.user_id')`).QueryRow(func(r pgx.Row) error { return r.Scan(&user) })
	if err := db.ReadBatch(ctx, pool, a, lead, &b); err != nil {
		t.Fatal(err)
	}
	if sum != 5 || word != "五" || user != "7" {
		t.Errorf("lead read %d, %q; the next read's sieve.user_id %q: want 5, 五, 7", sum, word, user)
	}
	var w pgx.Batch
	w.Queue(`CREATE TEMP TABLE read_batch_lead_write (a int)`)
	if err := db.ReadBatch(ctx, pool, a, lead, &w); err == nil {
		t.Error("a write after a lead went through; want it refused (read-only)")
	}
	if err := db.ReadBatch(ctx, pool, a, &db.Lead{SQL: `WITH x AS (SELECT 1) SELECT * FROM x`,
		Scan: func(pgx.Row) error { return nil }}, &pgx.Batch{}); err == nil {
		t.Error("a lead that is not a SELECT of expressions was run; want an error")
	}
}
