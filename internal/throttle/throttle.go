// Package throttle is Sieve's one throttling mechanism (限流): counted events per key (a login
// account, a client address, a device) within sliding windows, kept in PostgreSQL
// (login_failures, migration 0002; the name is historic, the keys are namespaced: "user:",
// "addr:" for logins, "tip-addr:", "tip-device:" for public tips), so that every API process
// sees the same counts. Logins (internal/accounts) and public tips (internal/tips) both claim
// through Claim.
//
// A claim is one statement under an advisory lock on its lock key: it counts the events of each
// rule's key within the rule's window and, when none is at its limit, records the event for the
// keys named; otherwise it records nothing and answers ErrThrottled with the wait until the
// fullest rule has room again. Concurrent claims for one lock key cannot all pass a check that
// none has yet counted; a claim that finds the lock held does not queue for it (ErrThrottled
// with a wait of a second), so a flood holds no connections waiting.
package throttle

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sieve-city/sieve/internal/db"
)

// Rule is one limit: at most Limit events of Key within Window.
type Rule struct {
	Key    string
	Limit  int
	Window time.Duration
}

// ErrThrottled is returned when a rule is at its limit, with the wait until it has room.
type ErrThrottled struct{ RetryAfter time.Duration }

func (e ErrThrottled) Error() string { return "throttle: too many attempts" }

// RetrySeconds is the wait in whole seconds (at least one), for a Retry-After header.
func (e ErrThrottled) RetrySeconds() int64 { return max(int64(math.Ceil(e.RetryAfter.Seconds())), 1) }

// Claim checks rules at time at under the advisory lock of lock and, when every rule has
// room, records one event at at for each key of record; otherwise it records nothing and
// returns ErrThrottled. It runs in tx, which must act as the system (the table is the system's).
func Claim(ctx context.Context, tx pgx.Tx, lock string, rules []Rule, record []string, at time.Time) error {
	const lockSQL = `SELECT pg_try_advisory_xact_lock(hashtextextended($1, 411081))`
	var locked bool
	if err := tx.QueryRow(ctx, lockSQL, lock).Scan(&locked); err != nil {
		return fmt.Errorf("throttle: lock: %w", err)
	}
	if !locked {
		return ErrThrottled{RetryAfter: time.Second}
	}
	keys := make([]string, len(rules))
	limits := make([]int32, len(rules))
	windows := make([]float64, len(rules))
	for i, r := range rules {
		keys[i], limits[i], windows[i] = r.Key, int32(r.Limit), r.Window.Seconds()
	}
	// For each rule, the lim-th latest event within its window: when it ages out of the window
	// the rule has room again.
	const claim = `WITH k AS (SELECT * FROM unnest($1::text[], $2::int[], $3::float8[]) AS t(key, lim, win)),
		c AS (SELECT k.key, k.lim, k.win, f.n, f.oldest FROM k CROSS JOIN LATERAL (
			SELECT count(*) AS n, min(x.failed_at) AS oldest FROM (
				SELECT failed_at FROM login_failures
				WHERE key = k.key AND failed_at > $5::timestamptz - make_interval(secs => k.win)
				ORDER BY failed_at DESC LIMIT k.lim) x) f),
		ins AS (INSERT INTO login_failures (key, failed_at)
			SELECT r, $5 FROM unnest($4::text[]) r WHERE NOT EXISTS (SELECT 1 FROM c WHERE c.n >= c.lim) RETURNING 1)
		SELECT max(c.oldest + make_interval(secs => c.win)) FILTER (WHERE c.n >= c.lim), (SELECT count(*) FROM ins) FROM c`
	var until *time.Time
	var inserted int
	if err := tx.QueryRow(ctx, claim, keys, limits, windows, record, at).Scan(&until, &inserted); err != nil {
		return fmt.Errorf("throttle: claim: %w", err)
	}
	if until == nil {
		return nil
	}
	wait := max(until.Sub(at), time.Second)
	return ErrThrottled{RetryAfter: time.Duration(math.Ceil(wait.Seconds())) * time.Second}
}

// Add records one event of key at time at, without a check (a login's wrong password counted
// against its address after the check).
func Add(ctx context.Context, q db.Querier, key string, at time.Time) error {
	if _, err := q.Exec(ctx, `INSERT INTO login_failures (key, failed_at) VALUES ($1, $2)`, key, at); err != nil {
		return fmt.Errorf("throttle: add: %w", err)
	}
	return nil
}

// Forget removes every event of key (a right password takes its account's failures back).
func Forget(ctx context.Context, q db.Querier, key string) error {
	if _, err := q.Exec(ctx, `DELETE FROM login_failures WHERE key = $1`, key); err != nil {
		return fmt.Errorf("throttle: forget: %w", err)
	}
	return nil
}

// Release takes back one event of key recorded at time at by Claim, for an attempt that was
// never carried out (the hasher was busy, the client went away, the tip was refused).
func Release(ctx context.Context, q db.Querier, key string, at time.Time) error {
	const sql = `DELETE FROM login_failures WHERE ctid IN (
		SELECT ctid FROM login_failures WHERE key = $1 AND failed_at = $2 LIMIT 1)`
	if _, err := q.Exec(ctx, sql, key, at); err != nil {
		return fmt.Errorf("throttle: release: %w", err)
	}
	return nil
}
