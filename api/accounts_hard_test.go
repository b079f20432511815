package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sieve-city/sieve/client"
	"github.com/sieve-city/sieve/internal/accounts"
	"github.com/sieve-city/sieve/internal/testenv"
)

// TestLoginFlood: 200 concurrent wrong passwords for one account from one address: at most
// the per-account limit are checked (the rest 429, or 503 when the hasher is full, at once),
// and a right login for another account from another address is answered within 2 s.
func TestLoginFlood(t *testing.T) {
	// A hasher slow enough that a queue forms: 2 running, 4 waiting.
	hasher := accounts.NewHasher(accounts.HashParams{MemoryKiB: 8 * 1024, Time: 2, Threads: 1}, 2).WithQueue(4, time.Second)
	h, _ := edgeHarness(t, false, func(d *Deps) {
		d.TrustProxy = true
		d.Accounts = accounts.NewStore(hasher, time.Hour, 10*time.Second, time.Now)
	})
	h.accounts = h.srv.Accounts
	h.world()
	const n = 200
	var wg sync.WaitGroup
	var mu sync.Mutex
	counts := map[int]int{}
	var slowestRefusal time.Duration
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			t0 := time.Now()
			status, _, hdr := h.do("POST", v1+"/auth/login", `{"username":"viewer","password":"wrong password!"}`,
				"X-Forwarded-For", "10.0.0.1")
			el := time.Since(t0)
			mu.Lock()
			defer mu.Unlock()
			counts[status]++
			if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
				slowestRefusal = max(slowestRefusal, el)
				if hdr.Get("Retry-After") == "" {
					t.Errorf("%d without Retry-After", status)
				}
			}
		}()
	}
	close(start)
	// The right login, from elsewhere, while the flood runs: answered within 2 s (logged in,
	// or refused as busy with Retry-After, the hasher being full of the flood's five checks),
	// and logged in within a few seconds by following Retry-After, as the app does.
	time.Sleep(50 * time.Millisecond)
	t0 := time.Now()
	for attempt := 0; ; attempt++ {
		a0 := time.Now()
		status, body, hdr := h.do("POST", v1+"/auth/login", `{"username":"coord","password":"correct horse battery"}`,
			"X-Forwarded-For", "10.0.0.2")
		if el := time.Since(a0); el > 2*time.Second {
			t.Errorf("right login attempt %d during the flood answered after %s, want within 2 s", attempt+1, el)
		}
		if status == http.StatusOK {
			t.Logf("right login during the flood: in after %s, %d attempts", time.Since(t0), attempt+1)
			break
		}
		if status != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" || time.Since(t0) > 8*time.Second {
			t.Fatalf("right login during the flood: %d %s after %s", status, body, time.Since(t0))
		}
		time.Sleep(time.Second)
	}
	wg.Wait()
	t.Logf("flood answers: %v; slowest refusal %s", counts, slowestRefusal)
	if counts[http.StatusUnauthorized] > 5 {
		t.Errorf("%d wrong passwords were checked for one account, limit 5", counts[http.StatusUnauthorized])
	}
	if counts[http.StatusUnauthorized]+counts[http.StatusTooManyRequests]+counts[http.StatusServiceUnavailable] != n {
		t.Errorf("unexpected answers: %v", counts)
	}
	if got := h.count(`SELECT count(*) FROM login_failures WHERE key = 'user:viewer'`); got > 5 {
		t.Errorf("%d failures recorded for the account, want at most 5", got)
	}
}

// TestLoginBusy: when the hasher's queue is full, a login is refused with 503 login_busy and
// Retry-After at once, and its attempt is not counted against the account.
func TestLoginBusy(t *testing.T) {
	hasher := accounts.NewHasher(accounts.HashParams{MemoryKiB: 1024, Time: 1, Threads: 1}, 1).WithQueue(0, time.Millisecond)
	h, _ := edgeHarness(t, false, func(d *Deps) {
		d.Accounts = accounts.NewStore(hasher, time.Hour, 10*time.Second, time.Now)
	})
	h.accounts = h.srv.Accounts
	h.world()
	// Keep the hasher's one place taken by hashes in a loop.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					if _, err := hasher.Hash(context.Background(), "correct horse battery"); err != nil {
						time.Sleep(time.Millisecond)
					}
				}
			}
		}()
	}
	busy := 0
	for range 20 {
		t0 := time.Now()
		status, body, hdr := h.do("POST", v1+"/auth/login", `{"username":"viewer","password":"wrong password!"}`)
		if status == http.StatusServiceUnavailable {
			busy++
			if !strings.Contains(body, `"code":"login_busy"`) || hdr.Get("Retry-After") == "" {
				t.Errorf("busy answer: %s, Retry-After %q", body, hdr.Get("Retry-After"))
			}
			if el := time.Since(t0); el > time.Second {
				t.Errorf("busy answer after %s", el)
			}
		}
	}
	close(stop)
	wg.Wait()
	if busy == 0 {
		t.Fatal("no login was refused as busy while the hasher was full")
	}
	if got := h.count(`SELECT count(*) FROM login_failures WHERE key = 'user:viewer'`); got != 20-busy {
		t.Errorf("%d failures recorded, want %d (the busy refusals are not counted)", got, 20-busy)
	}
}

// TestRevocationAtOnce: a disabled user's token stops working on the instance that handled
// the change with the very next request, even while requests with the token run during the
// change; and on another instance on the same database (LISTEN/NOTIFY) within 2 s, not after
// its cache TTL.
func TestRevocationAtOnce(t *testing.T) {
	pool := testenv.DB(t)
	a, _ := listeningInstance(t, pool)
	b, _ := listeningInstance(t, pool)
	w := a.world()
	admin := a.token(w.users["admin"])
	for _, name := range []string{"drone", "inspector", "viewer"} {
		tok := a.token(w.users[name])
		for _, srv := range []*harness{a, b} {
			if status, _ := srv.as(tok, "GET", v1+"/me", ""); status != http.StatusOK {
				t.Fatalf("%s: fresh token refused", name)
			}
		}
		// Requests with the token keep running on a while the change is made.
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
						a.as(tok, "GET", v1+"/me", "")
					}
				}
			}()
		}
		time.Sleep(20 * time.Millisecond)
		if status, body := a.as(admin, "PATCH", fmt.Sprintf("%s/users/%d", v1, w.users[name].ID), `{"disabled":true}`); status != 200 {
			t.Fatalf("disable %s: %d %s", name, status, body)
		}
		status, _ := a.as(tok, "GET", v1+"/me", "")
		close(stop)
		wg.Wait()
		if status != http.StatusUnauthorized {
			t.Fatalf("%s: disabled user's token worked on the same instance right after the change: %d", name, status)
		}
		deadline := time.Now().Add(2 * time.Second)
		for {
			status, _ := b.as(tok, "GET", v1+"/me", "")
			if status == http.StatusUnauthorized {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the other instance still accepts the token after 2 s (%d)", name, status)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// A logout on one instance ends the token on the other as well.
	tok := a.token(w.users["coord"])
	if status, _ := b.as(tok, "GET", v1+"/me", ""); status != http.StatusOK {
		t.Fatal("fresh token refused")
	}
	if status, _ := a.as(tok, "POST", v1+"/auth/logout", ""); status != http.StatusNoContent {
		t.Fatal("logout failed")
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		if status, _ := b.as(tok, "GET", v1+"/me", ""); status == http.StatusUnauthorized {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the other instance still accepts a logged-out token after 2 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLastCityAdmin: the last enabled city administrator cannot demote or disable itself;
// with a second one it can.
func TestLastCityAdmin(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	admin := h.token(w.users["admin"])
	self := fmt.Sprintf("%s/users/%d", v1, w.users["admin"].ID)
	for _, body := range []string{`{"disabled":true}`, `{"role":"viewer","regionId":` + fmt.Sprint(w.t1) + `}`} {
		status, b := h.as(admin, "PATCH", self, body)
		if status != http.StatusConflict || !strings.Contains(b, `"code":"last_city_admin"`) {
			t.Fatalf("%s: %d %s, want 409 last_city_admin", body, status, b)
		}
	}
	if status, b := h.as(admin, "GET", v1+"/me", ""); status != 200 || !strings.Contains(b, `"role":"city_admin"`) {
		t.Fatalf("admin changed: %d %s", status, b)
	}
	// Another city administrator; now the first may step down.
	status, b := h.as(admin, "POST", v1+"/users", `{"username":"admin2","password":"correct horse battery","role":"city_admin"}`)
	if status != http.StatusCreated {
		t.Fatalf("create admin2: %d %s", status, b)
	}
	if status, b := h.as(admin, "PATCH", self, `{"disabled":true}`); status != 200 {
		t.Fatalf("disable with another admin left: %d %s", status, b)
	}
}

// TestChangeOwnPassword: every role changes its own password with the current one; a wrong
// current password is refused and counted like a failed login; other sessions end, this one
// stays.
func TestChangeOwnPassword(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	for _, name := range []string{"admin", "coord", "worker", "drone", "inspector", "viewer"} {
		t.Run(name, func(t *testing.T) {
			tok, other := h.token(w.users[name]), h.token(w.users[name])
			status, b := h.as(tok, "POST", v1+"/me/password", `{"currentPassword":"wrong one!","newPassword":"new password 123"}`)
			if status != http.StatusForbidden || !strings.Contains(b, `"code":"wrong_password"`) {
				t.Fatalf("wrong current: %d %s", status, b)
			}
			status, b = h.as(tok, "POST", v1+"/me/password", `{"currentPassword":"correct horse battery","newPassword":"short"}`)
			if status != http.StatusUnprocessableEntity || !strings.Contains(b, `"code":"weak_password"`) {
				t.Fatalf("weak new: %d %s", status, b)
			}
			if status, b := h.as(tok, "POST", v1+"/me/password", `{"currentPassword":"correct horse battery","newPassword":"new password 123"}`); status != http.StatusNoContent {
				t.Fatalf("change: %d %s", status, b)
			}
			if status, _ := h.as(tok, "GET", v1+"/me", ""); status != http.StatusOK {
				t.Fatal("the session that changed the password ended")
			}
			if status, _ := h.as(other, "GET", v1+"/me", ""); status != http.StatusUnauthorized {
				t.Fatal("another session survived the password change")
			}
			login := func(pw string) int {
				status, _, _ := h.do("POST", v1+"/auth/login", fmt.Sprintf(`{"username":%q,"password":%q}`, name, pw))
				return status
			}
			if login("correct horse battery") != http.StatusUnauthorized || login("new password 123") != http.StatusOK {
				t.Fatal("the old password still works, or the new one does not")
			}
		})
	}
	// Guessing through a stolen token is throttled like logins.
	tok := h.token(w.users["coord2"])
	last := 0
	for range 6 {
		last, _ = h.as(tok, "POST", v1+"/me/password", `{"currentPassword":"guess guess","newPassword":"new password 123"}`)
	}
	if last != http.StatusTooManyRequests {
		t.Fatalf("6th wrong current password: %d, want 429", last)
	}
}

// listeningInstance is an API instance on pool with its own accounts store (cache TTL an hour)
// whose change listener runs; ready receives each time the listener is (re)connected.
func listeningInstance(t *testing.T, pool *pgxpool.Pool) (*harness, chan struct{}) {
	t.Helper()
	acc := accounts.NewStore(testHasher(), time.Hour, time.Hour, time.Now)
	h, _ := edgeHarness(t, false, func(d *Deps) {
		d.Pool = pool
		d.Accounts = acc
		d.Media = testMedia(t, pool, testenv.Blob(t))
	})
	h.pool, h.accounts = pool, acc
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{}, 8)
	done := make(chan struct{})
	go func() { defer close(done); acc.Listen(ctx, pool, testenv.Logger(), func() { ready <- struct{}{} }) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("listener not ready")
	}
	return h, ready
}

// TestListenerReconnects: when the listener's connection is killed it reconnects, and changes
// made afterwards reach its instance again.
func TestListenerReconnects(t *testing.T) {
	pool := testenv.DB(t)
	a, _ := listeningInstance(t, pool)
	b, ready := listeningInstance(t, pool)
	w := a.world()
	tok := a.token(w.users["viewer"])
	if status, _ := b.as(tok, "GET", v1+"/me", ""); status != http.StatusOK {
		t.Fatal("fresh token refused")
	}
	if n := a.count(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query LIKE 'LISTEN %' AND datname = current_database()`); n < 1 {
		t.Fatal("no listener connection found")
	}
	{
		select {
		case <-ready:
		case <-time.After(10 * time.Second):
			t.Fatal("listener did not reconnect")
		}
	}
	if status, _ := b.as(tok, "GET", v1+"/me", ""); status != http.StatusOK {
		t.Fatal("token refused after the reconnect")
	}
	admin := a.token(w.users["admin"])
	if status, body := a.as(admin, "PATCH", fmt.Sprintf("%s/users/%d", v1, w.users["viewer"].ID), `{"disabled":true}`); status != 200 {
		t.Fatalf("disable: %d %s", status, body)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		if status, _ := b.as(tok, "GET", v1+"/me", ""); status == http.StatusUnauthorized {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("after the reconnect, the other instance did not hear of the change within 2 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestClientChangePassword: client.ChangePassword drives POST /me/password (checked against
// the spec by the harness); a wrong current password is a typed wrong_password error.
func TestClientChangePassword(t *testing.T) {
	h := newHarness(t)
	h.world()
	ctx := context.Background()
	c := client.New(h.url, client.WithLanguage("en"))
	if _, err := c.Login(ctx, "viewer", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	if err := c.ChangePassword(ctx, "not it at all", "a new password!"); !client.IsCode(err, "wrong_password") {
		t.Fatalf("wrong current password: %v", err)
	}
	if err := c.ChangePassword(ctx, "correct horse battery", "a new password!"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Me(ctx); err != nil {
		t.Fatalf("token ended by its own password change: %v", err)
	}
	if _, err := client.New(h.url).Login(ctx, "viewer", "a new password!"); err != nil {
		t.Fatalf("new password: %v", err)
	}
}
