package accounts

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/audit"
	"github.com/sieve-city/sieve/internal/db"
)

// Principal is the authenticated caller of a request: who they are and where they may act.
type Principal struct {
	UserID   int64
	Username string
	Role     Role
	// Scope is the region paths the caller may act in: their region, or a grid worker's cells.
	// Empty for the city office, which acts everywhere.
	Scope     []string
	TokenHash []byte
}

// Actor returns the database actor for this principal.
func (p Principal) Actor(remoteAddr, requestID string) db.Actor {
	return db.Actor{UserID: p.UserID, Username: p.Username, Role: string(p.Role), Scope: p.Scope,
		RemoteAddr: remoteAddr, RequestID: requestID}
}

// tokenPrefix marks Sieve tokens so that leaked ones are easy to find in logs and code.
const tokenPrefix = "sv_"

// HashToken returns the stored form of a bearer token.
func HashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

func newToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("accounts: token: %w", err)
	}
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// Throttling limits: failed logins per account and per address within the window.
const (
	throttleWindow      = 15 * time.Minute
	maxFailuresPerUser  = 5
	maxFailuresPerAddr  = 20
	maxUsernameLenLogin = 64
)

// ErrThrottled is returned with a Retry-After in seconds when too many logins failed.
type ErrThrottled struct{ RetryAfter time.Duration }

func (e ErrThrottled) Error() string { return "accounts: login throttled" }

var errBadCredentials = apperr.New(http.StatusUnauthorized, "invalid_credentials",
	"wrong username or password", "用户名或密码错误")

// Login checks a username and password and issues a bearer token. It runs as system (nobody is
// logged in yet); failures are counted per account and per address and, past the limits,
// refused with ErrThrottled before the password is checked.
func (s *Store) Login(ctx context.Context, pool *pgxpool.Pool, username, password, remoteAddr, userAgent string) (string, time.Time, User, error) {
	username = strings.ToLower(strings.TrimSpace(username))
	if username == "" || len(username) > maxUsernameLenLogin || len(password) > MaxPasswordLen*4 {
		return "", time.Time{}, User{}, errBadCredentials
	}
	keys := []string{"user:" + username, "addr:" + remoteAddr}
	var (
		token   string
		expires time.Time
		user    User
		hash    string
	)
	// 1. Throttle check and user lookup.
	err := db.AsSystem(ctx, pool, "login", func(tx pgx.Tx) error {
		if wait, err := throttled(ctx, tx, keys, s.Now()); err != nil {
			return err
		} else if wait > 0 {
			return ErrThrottled{RetryAfter: wait}
		}
		u, err := s.GetByUsername(ctx, tx, username)
		if err != nil {
			return err
		}
		user = u
		return tx.QueryRow(ctx, `SELECT password_hash FROM users WHERE id = $1`, u.ID).Scan(&hash)
	})
	var th ErrThrottled
	if errors.As(err, &th) {
		return "", time.Time{}, User{}, th
	}
	unknown := errors.Is(err, apperr.ErrNotFound)
	if err != nil && !unknown {
		return "", time.Time{}, User{}, err
	}
	// 2. Password check outside the transaction (it is slow by design). Unknown users cost the
	// same time, so timing does not reveal which usernames exist.
	ok := false
	if unknown {
		_, _ = s.Hasher.Verify(ctx, dummyHash, password)
	} else {
		ok, err = s.Hasher.Verify(ctx, hash, password)
		if err != nil {
			return "", time.Time{}, User{}, err
		}
	}
	// 3. Record the outcome.
	err = db.AsSystem(ctx, pool, "login", func(tx pgx.Tx) error {
		if !ok || user.Disabled {
			for _, k := range keys {
				if _, err := tx.Exec(ctx, `INSERT INTO login_failures (key, failed_at) VALUES ($1, $2)`, k, s.Now()); err != nil {
					return err
				}
			}
			return nil
		}
		if _, err := tx.Exec(ctx, `DELETE FROM login_failures WHERE key = $1`, keys[0]); err != nil {
			return err
		}
		var err error
		token, expires, err = s.createSession(ctx, tx, user.ID, remoteAddr, userAgent)
		if err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.Action{Action: "login", Entity: "session", EntityID: strconv.FormatInt(user.ID, 10),
			UserID: user.ID, Actor: user.Username, RegionPath: user.RegionPath, RemoteAddr: remoteAddr})
	})
	if err != nil {
		return "", time.Time{}, User{}, fmt.Errorf("accounts: login: %w", err)
	}
	if !ok || user.Disabled {
		return "", time.Time{}, User{}, errBadCredentials
	}
	return token, expires, user, nil
}

// dummyHash is verified for unknown usernames so that they take as long as known ones.
var dummyHash = "$argon2id$v=19$m=65536,t=2,p=2$c2lldmUtZHVtbXktc2FsdA$" +
	"0000000000000000000000000000000000000000000"

// throttled returns how long to wait before another login for keys is allowed, or 0.
func throttled(ctx context.Context, q db.Querier, keys []string, now time.Time) (time.Duration, error) {
	limits := []int{maxFailuresPerUser, maxFailuresPerAddr}
	var wait time.Duration
	for i, k := range keys {
		const sql = `SELECT count(*), min(failed_at) FROM (
			SELECT failed_at FROM login_failures WHERE key = $1 AND failed_at > $2
			ORDER BY failed_at DESC LIMIT $3) f`
		var n int
		var oldest *time.Time
		if err := q.QueryRow(ctx, sql, k, now.Add(-throttleWindow), limits[i]).Scan(&n, &oldest); err != nil {
			return 0, fmt.Errorf("accounts: throttle: %w", err)
		}
		if n >= limits[i] && oldest != nil {
			if w := oldest.Add(throttleWindow).Sub(now); w > wait {
				wait = w
			}
		}
	}
	if wait > 0 {
		wait = time.Duration(math.Ceil(wait.Seconds())) * time.Second
	}
	return wait, nil
}

// CreateSession issues a token for user id without a password; for tools and tests.
func (s *Store) CreateSession(ctx context.Context, pool *pgxpool.Pool, userID int64) (string, error) {
	var token string
	err := db.AsSystem(ctx, pool, "session", func(tx pgx.Tx) error {
		var err error
		token, _, err = s.createSession(ctx, tx, userID, "", "")
		return err
	})
	return token, err
}

func (s *Store) createSession(ctx context.Context, q db.Querier, userID int64, remoteAddr, userAgent string) (string, time.Time, error) {
	token, err := newToken()
	if err != nil {
		return "", time.Time{}, err
	}
	if len(userAgent) > 200 {
		userAgent = userAgent[:200]
	}
	expires := s.Now().Add(s.TokenTTL)
	const sql = `INSERT INTO sessions (token_hash, user_id, expires_at, remote_addr, user_agent) VALUES ($1, $2, $3, $4, $5)`
	if _, err := q.Exec(ctx, sql, HashToken(token), userID, expires, remoteAddr, userAgent); err != nil {
		return "", time.Time{}, fmt.Errorf("accounts: create session: %w", err)
	}
	return token, expires, nil
}

// Authenticate resolves a bearer token into a Principal: the token must exist, be unrevoked
// and unexpired, and its user enabled. Otherwise ErrUnauthenticated.
func (s *Store) Authenticate(ctx context.Context, pool *pgxpool.Pool, token string) (Principal, error) {
	if !strings.HasPrefix(token, tokenPrefix) || len(token) > 100 {
		return Principal{}, apperr.ErrUnauthenticated
	}
	h := HashToken(token)
	if p, ok := s.cache.get(h); ok {
		return p, nil
	}
	var p Principal
	var expires time.Time
	err := db.AsSystem(ctx, pool, "auth", func(tx pgx.Tx) error {
		const sql = `SELECT u.id, u.username, u.role,
			CASE WHEN u.role = 'grid_worker'
			     THEN coalesce((SELECT array_agg(cell_path::text ORDER BY cell_id) FROM cell_assignments WHERE user_id = u.id), '{}')
			     WHEN u.region_path IS NULL THEN '{}'
			     ELSE ARRAY[u.region_path::text] END,
			s.expires_at
			FROM sessions s JOIN users u ON u.id = s.user_id
			WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 AND u.disabled_at IS NULL`
		return tx.QueryRow(ctx, sql, h, s.Now()).Scan(&p.UserID, &p.Username, &p.Role, &p.Scope, &expires)
	})
	if errors.Is(err, apperr.ErrNotFound) {
		return Principal{}, apperr.ErrUnauthenticated
	}
	if err != nil {
		return Principal{}, fmt.Errorf("accounts: authenticate: %w", err)
	}
	p.TokenHash = h
	s.cache.put(h, p, expires)
	return p, nil
}

// Logout revokes the token with this hash.
func (s *Store) Logout(ctx context.Context, pool *pgxpool.Pool, tokenHash []byte) error {
	s.cache.drop(tokenHash)
	return db.AsSystem(ctx, pool, "logout", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE sessions SET revoked_at = $2 WHERE token_hash = $1 AND revoked_at IS NULL`, tokenHash, s.Now())
		return err
	})
}

// revokeAll ends every session of a user (password change, disabling, role change). The
// sessions policy lets the caller revoke sessions of users it can see.
func revokeAll(ctx context.Context, q db.Querier, userID int64) error {
	if _, err := q.Exec(ctx, `UPDATE sessions SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL`, userID); err != nil {
		return fmt.Errorf("accounts: revoke sessions: %w", err)
	}
	return nil
}
