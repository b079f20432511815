package accounts

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/sieve-city/sieve/internal/apperr"
)

// HashParams are the argon2id cost parameters for new password hashes. The parameters are
// stored in each hash, so changing them affects only hashes made afterwards.
type HashParams struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
}

// DefaultHashParams are one of the argon2id settings the OWASP Password Storage Cheat Sheet
// recommends as equally strong (m=19 MiB, t=2, p=1; the others trade memory for passes: 46 MiB
// and 1 pass, 12 MiB and 3 ...). Of those we take the low-memory one because a login server's
// cost is memory × logins in flight: 19 MiB lets a 2-core machine run several at once in tens of
// megabytes, and one lane (p=1) per hash keeps the other cores for other logins instead of
// splitting one hash across them. About 70 ms per login on one core of the test machine (the
// earlier 64 MiB, t=2, p=2 took 400-800 ms there under load). The parameters are stored in each
// hash, so older hashes keep verifying with theirs.
var DefaultHashParams = HashParams{MemoryKiB: 19 * 1024, Time: 2, Threads: 1}

// ErrBusy is the answer when the password hasher's queue is full, or a hash would wait longer
// than the queue allows: the login is refused at once (503, Retry-After) instead of queueing
// behind a flood, and nothing was checked or counted.
var ErrBusy = apperr.New(http.StatusServiceUnavailable, "login_busy",
	"too many logins at once, try again in a moment", "登录请求过多，请稍后再试")

// Hasher hashes and checks passwords with argon2id, running at most a few hashes at once so
// that a burst of logins cannot exhaust memory, and admitting at most a bounded queue behind
// them: past it, and past the longest wait, ErrBusy.
type Hasher struct {
	params HashParams
	sem    chan struct{} // hashes running
	admit  chan struct{} // hashes running or waiting
	wait   time.Duration // longest wait for a running slot
	dummy  string        // a hash with params, verified for unknown users
	// took is a moving average of how long a hash takes here (ns), so that a place in the
	// queue is refused at once when the hashes ahead would not be done within the wait: on a
	// loaded machine a hash takes several times longer, and waiting the whole wait for a
	// refusal helps nobody.
	took atomic.Int64
}

// NewHasher returns a Hasher with the given cost running at most concurrent hashes at once,
// with a queue of 16 × concurrent waiting at most 2 s (see WithQueue).
func NewHasher(p HashParams, concurrent int) *Hasher {
	if concurrent < 1 {
		concurrent = 1
	}
	h := &Hasher{params: p, sem: make(chan struct{}, concurrent)}
	enc := base64.RawStdEncoding
	h.dummy = fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Time, p.Threads,
		enc.EncodeToString([]byte("sieve-dummy-salt")), enc.EncodeToString(make([]byte, 32)))
	// One hash now, so that the first burst of logins is admitted by a measured hash time.
	start := time.Now()
	argon2.IDKey([]byte("calibrate"), []byte("sieve-dummy-salt"), p.Time, p.MemoryKiB, p.Threads, 32)
	h.timed(start)
	return h.WithQueue(16*concurrent, 2*time.Second)
}

// WithQueue sets how many hashes may wait for a running slot and for how long; a hash past
// either gets ErrBusy. It returns h, and is meant for wiring, before the first hash.
func (h *Hasher) WithQueue(queue int, wait time.Duration) *Hasher {
	h.admit = make(chan struct{}, cap(h.sem)+max(queue, 0))
	h.wait = wait
	return h
}

// MinPasswordLen and MaxPasswordLen bound passwords (runes); the maximum stops hashing of
// megabyte "passwords".
const (
	MinPasswordLen = 8
	MaxPasswordLen = 128
)

// CheckPasswordPolicy refuses passwords that are too short or too long.
func CheckPasswordPolicy(pw string) error {
	n := len([]rune(pw))
	if n < MinPasswordLen || n > MaxPasswordLen {
		return errWeakPassword
	}
	return nil
}

// Hash returns a PHC-format argon2id hash of pw.
func (h *Hasher) Hash(ctx context.Context, pw string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("accounts: salt: %w", err)
	}
	done, err := h.reserve()
	if err != nil {
		return "", err
	}
	defer done()
	return h.hashSalted(ctx, pw, salt)
}

// hashReserved is Hash for a caller that holds a place in the queue (reserve).
func (h *Hasher) hashReserved(ctx context.Context, pw string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("accounts: salt: %w", err)
	}
	return h.hashSalted(ctx, pw, salt)
}

func (h *Hasher) hashSalted(ctx context.Context, pw string, salt []byte) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	defer h.timed(time.Now())
	p := h.params
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.MemoryKiB, p.Threads, 32)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Time, p.Threads,
		enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// Verify reports whether pw matches the PHC hash.
func (h *Hasher) Verify(ctx context.Context, hash, pw string) (bool, error) {
	done, err := h.reserve()
	if err != nil {
		return false, err
	}
	defer done()
	return h.verifyReserved(ctx, hash, pw)
}

// verifyReserved is Verify for a caller that holds a place in the queue (reserve).
func (h *Hasher) verifyReserved(ctx context.Context, hash, pw string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errors.New("accounts: not an argon2id hash")
	}
	var version int
	var p HashParams
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errors.New("accounts: unsupported argon2 version")
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Time, &p.Threads); err != nil {
		return false, fmt.Errorf("accounts: bad hash parameters: %w", err)
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[4])
	want, err2 := enc.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false, errors.New("accounts: bad hash encoding")
	}
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer h.release()
	defer h.timed(time.Now())
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// reserve takes a place in the queue at once, or answers ErrBusy: when the queue is full, or
// when the hashes ahead would take longer than the wait. done gives the place back.
func (h *Hasher) reserve() (done func(), err error) {
	if ahead := len(h.admit) - cap(h.sem) + 1; ahead > 0 {
		rounds := (ahead + cap(h.sem) - 1) / cap(h.sem)
		if time.Duration(int64(rounds)*h.took.Load()) > h.wait {
			return nil, ErrBusy
		}
	}
	select {
	case h.admit <- struct{}{}:
		return func() { <-h.admit }, nil
	default:
		return nil, ErrBusy
	}
}

// timed records how long a hash that started at start took (a moving average of 1/8).
func (h *Hasher) timed(start time.Time) {
	d := int64(time.Since(start))
	for {
		old := h.took.Load()
		next := d
		if old > 0 {
			next = old + (d-old)/8
		}
		if h.took.CompareAndSwap(old, next) {
			return
		}
	}
}

// acquire waits for a running slot, at most h.wait (then ErrBusy).
func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.sem <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(h.wait)
	defer t.Stop()
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-t.C:
		return ErrBusy
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *Hasher) release() { <-h.sem }
