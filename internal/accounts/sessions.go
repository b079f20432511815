package accounts

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/audit"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/throttle"
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

// ThrottleWindows are the windows of the login limits (claimAttempt's rules), for the
// throttle's pruning: events older than the longest are of no limiter's use.
func ThrottleWindows() []time.Duration {
	var out []time.Duration
	for _, r := range loginRules([]string{"", ""}) {
		out = append(out, r.Window)
	}
	return out
}

// loginRules are the login limits on the account keys[0] and the address keys[1].
func loginRules(keys []string) []throttle.Rule {
	return []throttle.Rule{{Key: keys[0], Limit: maxFailuresPerUser, Window: throttleWindow},
		{Key: keys[1], Limit: maxFailuresPerAddr, Window: throttleWindow}}
}

// ErrThrottled is returned with a Retry-After in seconds when too many logins failed: the one
// throttle's refusal (internal/throttle).
type ErrThrottled = throttle.ErrThrottled

var errBadCredentials = apperr.New(http.StatusUnauthorized, "invalid_credentials",
	"wrong username or password", "用户名或密码错误")

// Login checks a username and password and issues a bearer token. It runs as system (nobody is
// logged in yet). Under a flood it holds in three ways:
//
//   - The attempt is first counted as a failure of the account, before the password is
//     checked, in one statement under the account's advisory lock (claimAttempt): past the
//     account's or the address's limit it is refused with ErrThrottled, so at most the limit of
//     attempts per account are ever checked, however many arrive at once. A right password
//     takes its failure back; a wrong one is counted against the address too. (The address
//     counts only wrong passwords, not attempts in flight: many workers behind one carrier NAT
//     log in at once at the start of a shift, and the hasher's queue bounds a spray anyway.)
//   - Then it takes a place in the password hasher's queue without waiting: when the queue is
//     full the login is refused at once with ErrBusy (503) and its claim taken back, instead
//     of queueing behind a flood of other accounts' attempts.
//   - Unknown users cost a hash like known ones, so timing does not reveal which names exist.
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
		at      = s.Now()
	)
	// 1. Claim the attempt and look the user up (an unknown user commits the claim too).
	unknown := false
	err := db.AsSystem(ctx, pool, "login", func(tx pgx.Tx) error {
		if err := claimAttempt(ctx, tx, keys, at); err != nil {
			return err
		}
		u, err := s.GetByUsername(ctx, tx, username)
		if errors.Is(err, apperr.ErrNotFound) {
			unknown = true
			return nil
		}
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
	if err != nil {
		return "", time.Time{}, User{}, err
	}
	// 2. Password check outside the transaction (it is slow by design), if the hasher has room.
	done, err := s.Hasher.reserve()
	if err != nil {
		s.releaseAttempt(pool, keys, at)
		return "", time.Time{}, User{}, err
	}
	defer done()
	ok := false
	if unknown {
		_, err = s.Hasher.verifyReserved(ctx, s.Hasher.dummy, password)
	} else {
		ok, err = s.Hasher.verifyReserved(ctx, hash, password)
	}
	if err != nil {
		// Not checked (the hasher was too busy, the client gone): the attempt does not count.
		s.releaseAttempt(pool, keys, at)
		return "", time.Time{}, User{}, err
	}
	if !ok || user.Disabled {
		s.failFromAddress(pool, keys)
		return "", time.Time{}, User{}, errBadCredentials
	}
	// 3. A right password: take the failures back, issue the token.
	err = db.AsSystem(ctx, pool, "login", func(tx pgx.Tx) error {
		if err := forgetFailures(ctx, tx, keys); err != nil {
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
	return token, expires, user, nil
}

// claimAttempt counts a login attempt as a failure of the account keys[0] at time at, unless
// the account or the address keys[1] already has its limit of failures within the window:
// then it records nothing and returns ErrThrottled with the wait. It is the one throttle's
// claim (internal/throttle), locked on the account: concurrent attempts for one account cannot
// all pass a check that none has yet counted, and an attempt that finds the lock held is refused
// at once with a wait of a second, so a flood of attempts for one account holds no database
// connections waiting and delays nobody else's login.
func claimAttempt(ctx context.Context, tx pgx.Tx, keys []string, at time.Time) error {
	return throttle.Claim(ctx, tx, keys[0], loginRules(keys), keys[:1], at)
}

// forgetFailures takes back a right attempt: every failure of the account keys[0].
func forgetFailures(ctx context.Context, q db.Querier, keys []string) error {
	return throttle.Forget(ctx, q, keys[0])
}

// failFromAddress counts a wrong password against the address keys[1] (the account's failure
// was counted by claimAttempt). It runs on its own short context: the request's may be gone.
func (s *Store) failFromAddress(pool *pgxpool.Pool, keys []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = db.AsSystem(ctx, pool, "login", func(tx pgx.Tx) error { return throttle.Add(ctx, tx, keys[1], s.Now()) })
}

// releaseAttempt takes back the failure claimAttempt counted at time at for an attempt whose
// password was never checked. It runs on its own short context: the request's may be gone.
func (s *Store) releaseAttempt(pool *pgxpool.Pool, keys []string, at time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = db.AsSystem(ctx, pool, "login", func(tx pgx.Tx) error { return throttle.Release(ctx, tx, keys[0], at) })
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
	gen := s.cache.generation()
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
	s.cache.put(h, p, expires, gen)
	return p, nil
}

// Logout revokes the token with this hash, on this instance at once (after the commit) and on
// the others through the change notice (Listen).
func (s *Store) Logout(ctx context.Context, pool *pgxpool.Pool, tokenHash []byte) error {
	err := db.AsSystem(ctx, pool, "logout", func(tx pgx.Tx) error {
		const sql = `UPDATE sessions SET revoked_at = $2 WHERE token_hash = $1 AND revoked_at IS NULL`
		if _, err := tx.Exec(ctx, sql, tokenHash, s.Now()); err != nil {
			return err
		}
		return notifyChange(ctx, tx)
	})
	s.cache.drop(tokenHash)
	return err
}

// revokeAll ends every session of a user (password change, disabling, role change) but keep
// (nil: none). The sessions policy lets the caller revoke sessions of users it can see.
func revokeAll(ctx context.Context, q db.Querier, userID int64, keep []byte) error {
	const sql = `UPDATE sessions SET revoked_at = now()
		WHERE user_id = $1 AND revoked_at IS NULL AND ($2::bytea IS NULL OR token_hash <> $2)`
	if _, err := q.Exec(ctx, sql, userID, keep); err != nil {
		return fmt.Errorf("accounts: revoke sessions: %w", err)
	}
	return notifyChange(ctx, q)
}

var errWrongPassword = apperr.New(http.StatusForbidden, "wrong_password",
	"the current password is wrong", "当前密码错误")

// ChangePassword sets a new password for the caller p, who must give their current one. The
// check is a login attempt (same hasher queue and throttle, ErrBusy and ErrThrottled, counted
// against the account and the address), so a stolen token cannot be used to guess the
// password. It ends the user's other sessions; the one making the change stays. The caller
// should Forget after it returns (it commits its own transaction).
func (s *Store) ChangePassword(ctx context.Context, pool *pgxpool.Pool, p Principal, current, next, remoteAddr string) error {
	if err := CheckPasswordPolicy(next); err != nil {
		return err
	}
	if len(current) > MaxPasswordLen*4 {
		return errWrongPassword
	}
	keys := []string{"user:" + p.Username, "addr:" + remoteAddr}
	at := s.Now()
	var hash string
	err := db.AsSystem(ctx, pool, "password", func(tx pgx.Tx) error {
		if err := claimAttempt(ctx, tx, keys, at); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT password_hash FROM users WHERE id = $1 AND disabled_at IS NULL`, p.UserID).Scan(&hash)
	})
	if err != nil {
		return err
	}
	done, err := s.Hasher.reserve()
	if err != nil {
		s.releaseAttempt(pool, keys, at)
		return err
	}
	defer done()
	ok, err := s.Hasher.verifyReserved(ctx, hash, current)
	if err != nil {
		s.releaseAttempt(pool, keys, at)
		return err
	}
	if !ok {
		s.failFromAddress(pool, keys)
		return errWrongPassword
	}
	newHash, err := s.Hasher.hashReserved(ctx, next)
	if err != nil {
		s.releaseAttempt(pool, keys, at)
		return err
	}
	return db.AsSystem(ctx, pool, "password", func(tx pgx.Tx) error {
		if err := forgetFailures(ctx, tx, keys); err != nil {
			return err
		}
		const sql = `UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1`
		if _, err := tx.Exec(ctx, sql, p.UserID, newHash); err != nil {
			return fmt.Errorf("accounts: change password: %w", err)
		}
		if err := revokeAll(ctx, tx, p.UserID, p.TokenHash); err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.Action{Action: "change_password", Entity: "user",
			EntityID: strconv.FormatInt(p.UserID, 10), UserID: p.UserID, Actor: p.Username, RemoteAddr: remoteAddr})
	})
}
