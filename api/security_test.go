package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/sieve-city/sieve/internal/db"
)

// count returns a number from SQL run as system, to check that nothing changed.
func (h *harness) count(sql string, args ...any) int {
	h.t.Helper()
	var n int
	err := db.AsSystem(context.Background(), h.pool, "test", func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), sql, args...).Scan(&n)
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return n
}

func TestLogin(t *testing.T) {
	h := newHarness(t)
	h.world()
	tests := []struct {
		name, body string
		status     int
		code       string
	}{
		{"right password", `{"username":"coord","password":"correct horse battery"}`, 200, ""},
		{"username is case-insensitive", `{"username":" Coord ","password":"correct horse battery"}`, 200, ""},
		{"wrong password", `{"username":"viewer","password":"wrong password!"}`, 401, "invalid_credentials"},
		{"unknown user", `{"username":"nobody","password":"correct horse battery"}`, 401, "invalid_credentials"},
		{"sql in username", `{"username":"' OR '1'='1","password":"' OR '1'='1"}`, 401, "invalid_credentials"},
		{"overlong username", `{"username":"` + strings.Repeat("a", 10000) + `","password":"x"}`, 401, "invalid_credentials"},
		{"unknown field", `{"username":"coord","password":"correct horse battery","admin":true}`, 400, "malformed_json"},
		{"not json", `username=coord`, 400, "malformed_json"},
		{"empty", ``, 400, "empty_body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, _ := h.do("POST", v1+"/auth/login", tt.body, "Accept-Language", "en")
			if status != tt.status || (tt.code != "" && !strings.Contains(body, `"code":"`+tt.code+`"`)) {
				t.Fatalf("got %d %s, want %d %s", status, body, tt.status, tt.code)
			}
			if status == 200 {
				var r loginResponse
				if err := json.Unmarshal([]byte(body), &r); err != nil || !strings.HasPrefix(r.Token, "sv_") || r.User.Username != "coord" {
					t.Fatalf("bad login response %s", body)
				}
				if st, me := h.as(r.Token, "GET", v1+"/me", ""); st != 200 || !strings.Contains(me, `"role":"township_coordinator"`) ||
					!strings.Contains(me, `"name":"火龙镇"`) {
					t.Fatalf("me with new token: %d %s", st, me)
				}
			}
		})
	}
	if n := h.count(`SELECT count(*) FROM sessions WHERE token_hash IS NULL OR length(token_hash) <> 32`); n != 0 {
		t.Fatalf("sessions store something other than 32-byte hashes")
	}
}

func TestLoginThrottle(t *testing.T) {
	h := newHarness(t)
	h.world()
	bad := `{"username":"viewer","password":"wrong password!"}`
	for i := 0; i < 5; i++ {
		if status, body, _ := h.do("POST", v1+"/auth/login", bad); status != 401 {
			t.Fatalf("attempt %d: %d %s", i+1, status, body)
		}
	}
	// Past the per-account limit even the right password is refused for a while.
	status, body, hdr := h.do("POST", v1+"/auth/login", `{"username":"viewer","password":"correct horse battery"}`)
	if status != http.StatusTooManyRequests || !strings.Contains(body, `"code":"too_many_requests"`) {
		t.Fatalf("6th attempt: %d %s, want 429", status, body)
	}
	if ra := hdr.Get("Retry-After"); ra == "" || ra == "0" {
		t.Fatalf("no Retry-After: %q", ra)
	}
	// Another account from the same address is not yet blocked (per-address limit is higher).
	if status, body, _ := h.do("POST", v1+"/auth/login", `{"username":"coord","password":"correct horse battery"}`); status != 200 {
		t.Fatalf("other account: %d %s", status, body)
	}
	// Per address: spraying many usernames from one address is stopped too.
	for i := 0; i < 20; i++ {
		h.do("POST", v1+"/auth/login", fmt.Sprintf(`{"username":"spray%d","password":"wrong password!"}`, i))
	}
	if status, _, _ := h.do("POST", v1+"/auth/login", `{"username":"coord","password":"correct horse battery"}`); status != 429 {
		t.Fatalf("address not throttled after 20 failures: %d", status)
	}
}

func TestTokens(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	ctx := context.Background()

	t.Run("malformed and guessed tokens", func(t *testing.T) {
		for _, tok := range []string{"", "sv_", "sv_guess", "Bearer", "' OR 1=1 --", strings.Repeat("x", 5000)} {
			if status, body := h.as(tok, "GET", v1+"/me", ""); status != 401 {
				t.Fatalf("token %.20q: %d %s", tok, status, body)
			}
		}
	})
	t.Run("revoked by logout", func(t *testing.T) {
		tok := h.token(w.users["viewer"])
		if status, _ := h.as(tok, "POST", v1+"/auth/logout", ""); status != 204 {
			t.Fatalf("logout: %d", status)
		}
		if status, _ := h.as(tok, "GET", v1+"/me", ""); status != 401 {
			t.Fatalf("revoked token accepted: %d", status)
		}
	})
	t.Run("expired", func(t *testing.T) {
		tok := h.token(w.users["inspector"])
		err := db.AsSystem(ctx, h.pool, "test", func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `UPDATE sessions SET expires_at = now() - interval '1 second' WHERE user_id = $1`, w.users["inspector"].ID)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if status, _ := h.as(tok, "GET", v1+"/me", ""); status != 401 {
			t.Fatalf("expired token accepted: %d", status)
		}
	})
	t.Run("disabled user", func(t *testing.T) {
		tok := h.token(w.users["drone"])
		if status, _ := h.as(tok, "GET", v1+"/me", ""); status != 200 {
			t.Fatal("fresh token refused")
		}
		admin := h.token(w.users["admin"])
		if status, body := h.as(admin, "PATCH", fmt.Sprintf("%s/users/%d", v1, w.users["drone"].ID), `{"disabled":true}`); status != 200 {
			t.Fatalf("disable: %d %s", status, body)
		}
		if status, _ := h.as(tok, "GET", v1+"/me", ""); status != 401 {
			t.Fatalf("disabled user's token accepted: %d", status)
		}
		status, _, _ := h.do("POST", v1+"/auth/login", `{"username":"drone","password":"correct horse battery"}`)
		if status != 401 {
			t.Fatalf("disabled user logged in: %d", status)
		}
	})
}

func TestUserManagementScope(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	coord := h.token(w.users["coord"])
	admin := h.token(w.users["admin"])
	users := func() int { return h.count(`SELECT count(*) FROM users`) }
	before := users()

	tests := []struct {
		name, tok, method, path, body string
		status                        int
		code                          string
	}{
		{"coordinator adds a worker in their township", coord, "POST", "/users",
			fmt.Sprintf(`{"username":"w.new","password":"long enough pw","role":"grid_worker","regionId":%d,"cellIds":[%d]}`, w.v1, w.k1b), 201, ""},
		{"coordinator cannot add into another township", coord, "POST", "/users",
			fmt.Sprintf(`{"username":"w.other","password":"long enough pw","role":"grid_worker","regionId":%d}`, w.t2), 404, "not_found"},
		{"coordinator cannot assign another township's cell", coord, "POST", "/users",
			fmt.Sprintf(`{"username":"w.cell","password":"long enough pw","role":"grid_worker","regionId":%d,"cellIds":[%d]}`, w.v1, w.k2), 422, "not_a_cell"},
		{"coordinator cannot create an admin", coord, "POST", "/users",
			`{"username":"boss","password":"long enough pw","role":"city_admin"}`, 403, "cannot_grant_role"},
		{"coordinator cannot promote a worker", coord, "PATCH", fmt.Sprintf("/users/%d", w.users["worker"].ID),
			`{"role":"township_coordinator"}`, 403, "cannot_grant_role"},
		{"coordinator cannot touch another township's user", coord, "PATCH", fmt.Sprintf("/users/%d", w.users["worker2"].ID),
			`{"disabled":true}`, 404, "not_found"},
		{"guessed id", coord, "GET", "/users/987654321", "", 404, "not_found"},
		{"non-numeric id", coord, "GET", "/users/1%20OR%201=1", "", 404, "not_found"},
		{"sql in username", admin, "POST", "/users",
			`{"username":"x'); DROP TABLE users;--","password":"long enough pw","role":"city_admin"}`, 422, "invalid_username"},
		{"overlong username", admin, "POST", "/users",
			`{"username":"` + strings.Repeat("a", 41) + `","password":"long enough pw","role":"city_admin"}`, 422, "invalid_username"},
		{"overlong display name", admin, "POST", "/users",
			`{"username":"longname","displayName":"` + strings.Repeat("名", 101) + `","password":"long enough pw","role":"city_admin"}`, 422, "field_too_long"},
		{"overlong password", admin, "POST", "/users",
			`{"username":"longpw","password":"` + strings.Repeat("p", 129) + `","role":"city_admin"}`, 422, "weak_password"},
		{"short password", admin, "POST", "/users", `{"username":"shortpw","password":"short","role":"city_admin"}`, 422, "weak_password"},
		{"unknown role", admin, "POST", "/users", `{"username":"rolex","password":"long enough pw","role":"god"}`, 422, "invalid_role"},
		{"scoped role without region", admin, "POST", "/users", `{"username":"noregion","password":"long enough pw","role":"viewer"}`, 422, "region_required"},
		{"duplicate username", admin, "POST", "/users", `{"username":"coord","password":"long enough pw","role":"city_admin"}`, 409, "username_taken"},
		{"wrong json type", admin, "POST", "/users", `{"username":5}`, 400, "malformed_json"},
		{"sql in a query parameter", admin, "GET", "/users?role=%27%20OR%201%3D1--", "", 422, "invalid_role"},
		{"sql in a numeric parameter", admin, "GET", "/users?region=1%20OR%201%3D1", "", 400, "invalid_parameter"},
		{"bad cursor", admin, "GET", "/users?cursor=%27%3B--", "", 400, "invalid_cursor"},
		{"limit out of range", admin, "GET", "/users?limit=100000", "", 400, "invalid_cursor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := h.as(tt.tok, tt.method, v1+tt.path, tt.body)
			if status != tt.status || (tt.code != "" && !strings.Contains(body, `"code":"`+tt.code+`"`)) {
				t.Fatalf("got %d %s, want %d %s", status, body, tt.status, tt.code)
			}
		})
	}
	if got := users(); got != before+1 {
		t.Fatalf("users went from %d to %d; only one create should have succeeded", before, got)
	}
	if n := h.count(`SELECT count(*) FROM users WHERE role = 'grid_worker' AND username = 'worker2' AND disabled_at IS NULL`); n != 1 {
		t.Fatal("another township's worker was changed")
	}

	t.Run("display names with SQL metacharacters are stored verbatim", func(t *testing.T) {
		name := `O'Brien"; DROP TABLE users; -- \ %_`
		b, _ := json.Marshal(map[string]any{"displayName": name})
		status, body := h.as(admin, "PATCH", fmt.Sprintf("%s/users/%d", v1, w.users["viewer"].ID), string(b))
		if status != 200 || !strings.Contains(body, `O'Brien`) {
			t.Fatalf("%d %s", status, body)
		}
		if h.count(`SELECT count(*) FROM users WHERE display_name = $1`, name) != 1 {
			t.Fatal("display name not stored verbatim")
		}
	})

	t.Run("a grid worker sees only their cells", func(t *testing.T) {
		status, body := h.as(h.token(w.users["worker"]), "GET", v1+"/me", "")
		if status != 200 || !strings.Contains(body, fmt.Sprintf(`"cellIds":[%d]`, w.k1)) || strings.Contains(body, "顺店") {
			t.Fatalf("%d %s", status, body)
		}
	})
}

func TestAudit(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	coord := h.token(w.users["coord"])
	status, body := h.as(coord, "PATCH", fmt.Sprintf("%s/users/%d", v1, w.users["worker"].ID), `{"phone":"13800000000","password":"a new password"}`)
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}

	var page List[map[string]any]
	status, body = h.as(coord, "GET", fmt.Sprintf("%s/audit?entity=users&entityId=%d", v1, w.users["worker"].ID), "")
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	if err := json.Unmarshal([]byte(body), &page); err != nil || len(page.Items) == 0 {
		t.Fatalf("no audit entries: %s", body)
	}
	e := page.Items[0]
	if e["actor"] != "coord" || e["action"] != "update" || !strings.Contains(fmt.Sprint(e["after"]), "13800000000") {
		t.Fatalf("entry does not say who changed what: %v", e)
	}
	if e["remoteAddr"] == "" || e["requestId"] == "" {
		t.Fatalf("entry lacks origin: %v", e)
	}
	if strings.Contains(body, "password_hash") || strings.Contains(body, "argon2") {
		t.Fatal("audit log exposes password hashes")
	}

	// The other township's coordinator does not see it; a grid worker may not read the log.
	_, body = h.as(h.token(w.users["coord2"]), "GET", fmt.Sprintf("%s/audit?entity=users&entityId=%d", v1, w.users["worker"].ID), "")
	if !strings.Contains(body, `"items":[]`) {
		t.Fatalf("coord2 sees t1's audit entries: %s", body)
	}
	if status, _ := h.as(h.token(w.users["worker"]), "GET", v1+"/audit", ""); status != 403 {
		t.Fatalf("worker reads audit: %d", status)
	}

	// Append-only, even for the application's own role: no policy lets rows be updated or
	// deleted, and a trigger refuses it outright (TRUNCATE too).
	n := h.count(`SELECT count(*) FROM audit_log`)
	for _, sql := range []string{`UPDATE audit_log SET actor = 'someone else'`, `DELETE FROM audit_log`, `TRUNCATE audit_log`} {
		err := db.AsSystem(context.Background(), h.pool, "test", func(tx pgx.Tx) error {
			tag, err := tx.Exec(context.Background(), sql)
			if err == nil && tag.RowsAffected() > 0 {
				return fmt.Errorf("%d rows affected", tag.RowsAffected())
			}
			return err
		})
		if err != nil && !strings.Contains(err.Error(), "append-only") {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	if h.count(`SELECT count(*) FROM audit_log`) != n || h.count(`SELECT count(*) FROM audit_log WHERE actor = 'someone else'`) != 0 {
		t.Fatal("audit log changed")
	}
}

// TestScopeFailsClosed checks that SQL run without an actor sees nothing.
func TestScopeFailsClosed(t *testing.T) {
	h := newHarness(t)
	h.world()
	var n int
	if err := h.pool.QueryRow(context.Background(), `SELECT count(*) FROM users`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("a query without an actor saw %d users", n)
	}
}

func TestUserListPagination(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	admin := h.token(w.users["admin"])
	seen := map[int64]bool{}
	path := v1 + "/users?limit=3"
	for pages := 0; pages < 10; pages++ {
		status, body := h.as(admin, "GET", path, "")
		if status != 200 {
			t.Fatalf("%d %s", status, body)
		}
		var l List[struct{ ID int64 }]
		if err := json.Unmarshal([]byte(body), &l); err != nil {
			t.Fatal(err)
		}
		for _, u := range l.Items {
			if seen[u.ID] {
				t.Fatalf("user %d on two pages", u.ID)
			}
			seen[u.ID] = true
		}
		if l.NextCursor == "" {
			break
		}
		path = v1 + "/users?limit=3&cursor=" + l.NextCursor
	}
	if len(seen) != len(w.users) {
		t.Fatalf("paged through %d users, want %d", len(seen), len(w.users))
	}
	// A coordinator's list holds only their township's users.
	status, body := h.as(h.token(w.users["coord"]), "GET", v1+"/users?limit=500", "")
	if status != 200 || strings.Contains(body, `"worker2"`) || strings.Contains(body, `"coord2"`) || !strings.Contains(body, `"worker"`) {
		t.Fatalf("coordinator list not scoped: %d %s", status, body)
	}
}
