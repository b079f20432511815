package throttle_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/testenv"
	"github.com/sieve-city/sieve/internal/throttle"
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
