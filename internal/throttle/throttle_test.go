package throttle_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sieve-city/sieve/internal/accounts"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/testenv"
	"github.com/sieve-city/sieve/internal/throttle"
	"github.com/sieve-city/sieve/internal/tips"
)

// TestClaimWindows: two windows on one key (2 an hour, 3 a day): the third claim within the
// hour waits for the first to age out of it; once the hour has passed the day's limit holds,
// and its wait is until the first claim is a day old. A refused claim records nothing.
func TestClaimWindows(t *testing.T) {
	pool := testenv.DB(t)
	ctx := context.Background()
	rules := []throttle.Rule{{Key: "k", Limit: 2, Window: time.Hour}, {Key: "k", Limit: 3, Window: 24 * time.Hour}}
	t0 := time.Date(2024, 5, 1, 8, 0, 0, 0, time.UTC)
	claim := func(at time.Time) error {
		return db.AsSystem(ctx, pool, "test", func(tx pgx.Tx) error { return throttle.Claim(ctx, tx, "k", rules, []string{"k"}, at) })
	}
	wait := func(at time.Time) time.Duration {
		t.Helper()
		var th throttle.ErrThrottled
		if err := claim(at); !errors.As(err, &th) {
			t.Fatalf("claim at %s: %v, want throttled", at, err)
		}
		return th.RetryAfter
	}
	for _, d := range []time.Duration{0, time.Minute} {
		if err := claim(t0.Add(d)); err != nil {
			t.Fatal(err)
		}
	}
	if w := wait(t0.Add(10 * time.Minute)); w != 50*time.Minute {
		t.Fatalf("hourly wait %s, want 50m", w)
	}
	if err := claim(t0.Add(61 * time.Minute)); err != nil {
		t.Fatal(err)
	}
	if w := wait(t0.Add(3 * time.Hour)); w != 21*time.Hour {
		t.Fatalf("daily wait %s, want 21h", w)
	}
	if err := claim(t0.Add(24*time.Hour + time.Second)); err != nil {
		t.Fatalf("after a day: %v", err)
	}
}

// TestPrune: the pruner keeps the longest window of the limiters it is given (the logins' and
// the tips' rules: a day), deletes set-wise every event older than that and nothing younger, so
// a claim answers the same before and after the prune.
func TestPrune(t *testing.T) {
	pool := testenv.DB(t)
	ctx := context.Background()
	now := time.Date(2024, 5, 2, 12, 0, 0, 0, time.UTC)
	p := throttle.NewPruner(pool, append(accounts.ThrottleWindows(), tips.DefaultConfig().ThrottleWindows()...), time.Hour,
		func() time.Time { return now })
	if p.Keep() != 24*time.Hour {
		t.Fatalf("keep %s, want 24h (the tips' daily limit)", p.Keep())
	}
	// Events of three keys: 30 older than a day, 4 within it of a tip address, 2 recent logins.
	err := db.AsSystem(ctx, pool, "test", func(tx pgx.Tx) error {
		for i := range 30 {
			if err := throttle.Add(ctx, tx, "tip-addr:old", now.Add(-25*time.Hour-time.Duration(i)*time.Minute)); err != nil {
				return err
			}
		}
		for _, d := range []time.Duration{23 * time.Hour, 5 * time.Hour, 30 * time.Minute, time.Minute} {
			if err := throttle.Add(ctx, tx, "tip-addr:day", now.Add(-d)); err != nil {
				return err
			}
		}
		for _, d := range []time.Duration{10 * time.Minute, time.Minute} {
			if err := throttle.Add(ctx, tx, "user:wang", now.Add(-d)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	dayRule := []throttle.Rule{{Key: "tip-addr:day", Limit: 4, Window: 24 * time.Hour}}
	claim := func() error {
		return db.AsSystem(ctx, pool, "test", func(tx pgx.Tx) error {
			return throttle.Claim(ctx, tx, "tip-addr:day", dayRule, nil, now)
		})
	}
	before := claim()
	n, err := p.Run(ctx)
	if err != nil || n != 30 {
		t.Fatalf("pruned %d (%v), want the 30 events older than a day", n, err)
	}
	counts := map[string]int{}
	_ = db.AsSystem(ctx, pool, "test", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT key, count(*) FROM login_failures GROUP BY key`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var k string
			var c int
			_ = rows.Scan(&k, &c)
			counts[k] = c
		}
		return rows.Err()
	})
	if len(counts) != 2 || counts["tip-addr:day"] != 4 || counts["user:wang"] != 2 {
		t.Fatalf("left %v, want the 4 day events and the 2 logins", counts)
	}
	var th throttle.ErrThrottled
	after := claim()
	if !errors.As(before, &th) || !errors.As(after, &th) || th.RetryAfter != time.Hour {
		t.Fatalf("claim before %v, after %v (wait %s): want throttled both times, 1h wait", before, after, th.RetryAfter)
	}
	if n, err := p.Run(ctx); err != nil || n != 0 {
		t.Fatalf("second prune: %d %v", n, err)
	}
}
