package accounts

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sieve-city/sieve/internal/db"
)

// changeChannel is the PostgreSQL notification channel on which a change to who may do what
// (a user changed or disabled, a session revoked, cells assigned) is announced to every API
// instance, so that each forgets its cached principals at once instead of after the cache TTL.
const changeChannel = "sieve_principals"

// notifyChange announces, inside the caller's transaction, that principals changed. PostgreSQL
// delivers the notice when the transaction commits, and not at all when it rolls back.
func notifyChange(ctx context.Context, q db.Querier) error {
	if _, err := q.Exec(ctx, `SELECT pg_notify($1, '')`, changeChannel); err != nil {
		return fmt.Errorf("accounts: notify: %w", err)
	}
	return nil
}

// Forget empties this instance's principal cache. The API calls it after committing a change
// to users, sessions or cell assignments, so the next request on this instance sees the change;
// other instances hear of it through Listen.
func (s *Store) Forget() { s.cache.flush() }

// Listen keeps the principal cache in step with changes made by any instance: it listens for
// change notices on a connection of its own (configured like pool's) and empties the cache on
// each. When the connection is lost it empties the cache (notices may have been missed) and
// reconnects, waiting up to 30 s between attempts. ready, when not nil, is called each time
// the listener is in place. Listen returns when ctx ends.
func (s *Store) Listen(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger, ready func()) {
	if s.cache == nil {
		return
	}
	backoff := time.Second
	for ctx.Err() == nil {
		listened, err := s.listenOnce(ctx, pool.Config().ConnConfig.Copy(), ready)
		s.cache.flush()
		if listened {
			backoff = time.Second
		}
		if ctx.Err() != nil {
			return
		}
		log.Warn("principal change listener lost its connection; reconnecting", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// listenOnce listens on one connection until it fails; listened says whether it got as far.
func (s *Store) listenOnce(ctx context.Context, cfg *pgx.ConnConfig, ready func()) (listened bool, err error) {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return false, fmt.Errorf("accounts: listen: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{changeChannel}.Sanitize()); err != nil {
		return false, fmt.Errorf("accounts: listen: %w", err)
	}
	// Whatever changed while nobody listened.
	s.cache.flush()
	if ready != nil {
		ready()
	}
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return true, fmt.Errorf("accounts: listen: %w", err)
		}
		s.cache.flush()
	}
}
