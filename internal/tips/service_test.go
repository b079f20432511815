package tips

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/testenv"
)

// recorder passes every statement through to a real transaction and records its SQL and the
// kind of its arguments, so that two calls can be compared statement by statement.
type recorder struct {
	pgx.Tx
	sql []string
}

func (r *recorder) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	r.sql = append(r.sql, sql)
	return r.Tx.Exec(ctx, sql, args...)
}

func (r *recorder) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	r.sql = append(r.sql, sql)
	return r.Tx.Query(ctx, sql, args...)
}

func (r *recorder) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	r.sql = append(r.sql, sql)
	return r.Tx.QueryRow(ctx, sql, args...)
}

func newService(t *testing.T) *Service {
	t.Helper()
	s, err := New(Deps{Pool: testenv.DB(t)}, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestWrongCodeSamePath: a right and a wrong tracking code run the very same statements (one
// lookup on the code hash's unique index), so the answer's time does not tell them apart; the
// wrong one ends as not found, the right one with the status.
func TestWrongCodeSamePath(t *testing.T) {
	s := newService(t)
	ctx := context.Background()
	in, err := s.Begin(ctx, Client{Addr: "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	code, _, err := in.Submit(ctx, Submission{Description: "村里有人偷偷生产", Address: "张得乡张得村"}, "")
	if err != nil {
		t.Fatal(err)
	}
	run := func(c string) ([]string, error) {
		var rec *recorder
		var out error
		err := db.ReadInScope(ctx, s.pool, db.System("tips"), func(tx pgx.Tx) error {
			rec = &recorder{Tx: tx}
			_, out = s.status(ctx, rec, c)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return rec.sql, out
	}
	right, rerr := run(code)
	wrong, werr := run("ZZZZZZZZZZZZ")
	if rerr != nil || !errors.Is(werr, apperr.ErrNotFound) {
		t.Fatalf("right: %v, wrong: %v", rerr, werr)
	}
	if len(right) != 1 || !slices.Equal(right, wrong) {
		t.Fatalf("statements differ:\nright %q\nwrong %q", right, wrong)
	}
	// And the plan is the unique index's, not a scan.
	var plan string
	if err := db.AsSystem(ctx, s.pool, "test", func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, "EXPLAIN (FORMAT TEXT) "+right[0], HashCode("ZZZZZZZZZZZZ")).Scan(&plan)
	}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(plan, "tips_code_hash_key") {
		t.Fatalf("lookup plan: %s", plan)
	}
}

// TestDeviceThrottled: one device posting from many addresses is limited too (5 an hour), and
// a refusal records nothing (the 6th attempt does not push the wait further).
func TestDeviceThrottled(t *testing.T) {
	s := newService(t)
	ctx := context.Background()
	for i := range 6 {
		in, err := s.Begin(ctx, Client{Addr: "198.51.100." + string(rune('1'+i)), Device: "phone-123456"})
		var th Throttled
		switch {
		case i < 5 && err != nil:
			t.Fatalf("attempt %d refused: %v", i, err)
		case i == 5 && !errors.As(err, &th):
			t.Fatalf("attempt %d from the same device: %v, want throttled", i, err)
		case i == 5:
			if th.RetrySeconds() < 3500 || th.RetrySeconds() > 3600 {
				t.Fatalf("retry after %d s", th.RetrySeconds())
			}
		}
		if in != nil {
			in.Abort(false)
		}
	}
	var n int
	if err := db.AsSystem(ctx, s.pool, "test", func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) FROM login_failures WHERE key LIKE 'tip-device:%'`).Scan(&n)
	}); err != nil || n != 5 {
		t.Fatalf("%d device events (%v), want 5", n, err)
	}
}
