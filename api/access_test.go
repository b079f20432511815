package api

import (
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/sieve-city/sieve/internal/accounts"
)

// scopeFixtures names, for each resource with an {id} in its path, an object inside the area of
// the t1 users (in) and one in the other township (out). A new resource with ids must add an
// entry here, or TestAccessMatrix fails: that is how a route cannot forget its scope rule.
func scopeFixtures(w *world) map[string][2]int64 {
	return map[string][2]int64{
		"users":    {w.users["worker"].ID, w.users["worker2"].ID},
		"regions":  {w.v1, w.v2},
		"premises": {w.premise1, w.premise2},
		"media":    w.media["media"],
		"surveys":  w.media["surveys"],
		"uploads":  w.media["uploads"],
	}
}

var pathParam = regexp.MustCompile(`:(\w+)`)

// TestAccessMatrix runs every /api/v1 route for every role, with an in-scope and an
// out-of-scope target, and checks the status the rule table implies:
// no token 401; role without the permission 403; out of scope 404; otherwise not 401/403/404.
func TestAccessMatrix(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	fixtures := scopeFixtures(w)

	// Every route the router serves under /api/v1 has a rule.
	for _, r := range h.srv.Echo().Routes() {
		if strings.HasPrefix(r.Path, v1) {
			if _, ok := h.srv.rules[r.Method+" "+r.Path]; !ok {
				t.Errorf("route %s %s has no access rule (register it with s.route)", r.Method, r.Path)
			}
		}
	}

	var keys []string
	for k := range h.srv.rules {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	roles := map[accounts.Role]string{accounts.CityAdmin: "admin", accounts.TownshipCoordinator: "coord",
		accounts.GridWorker: "worker", accounts.DroneOperator: "drone", accounts.Inspector: "inspector", accounts.Viewer: "viewer"}

	for _, key := range keys {
		perm := h.srv.rules[key]
		if perm == accounts.PermPublic {
			continue
		}
		method, path, _ := strings.Cut(key, " ")
		if path == v1+"/auth/logout" {
			continue // revokes the token; covered by TestTokens
		}
		targets := map[string]string{"in": path}
		if m := pathParam.FindStringSubmatch(path); m != nil {
			resource := strings.Split(strings.TrimPrefix(path, v1+"/"), "/")[0]
			fx, ok := fixtures[resource]
			if !ok {
				t.Errorf("%s: no scope fixture for resource %q", key, resource)
				continue
			}
			targets["in"] = pathParam.ReplaceAllString(path, fmt.Sprint(fx[0]))
			targets["out"] = pathParam.ReplaceAllString(path, fmt.Sprint(fx[1]))
		}
		body := ""
		if method != http.MethodGet {
			body = "{}"
		}
		t.Run(key+"/anonymous", func(t *testing.T) {
			if status, b, _ := h.do(method, targets["in"], body); status != http.StatusUnauthorized {
				t.Fatalf("anonymous got %d %s, want 401", status, b)
			}
		})
		for role, name := range roles {
			tok := h.token(w.users[name])
			for which, target := range targets {
				t.Run(fmt.Sprintf("%s/%s/%s", key, role, which), func(t *testing.T) {
					status, b := h.as(tok, method, target, body)
					switch {
					case !role.Can(perm):
						if status != http.StatusForbidden {
							t.Fatalf("got %d %s, want 403", status, b)
						}
					case which == "out" && role != accounts.CityAdmin:
						if status != http.StatusNotFound {
							t.Fatalf("got %d %s, want 404 for another township's object", status, b)
						}
					default:
						if status == 401 || status == 403 || status == 404 || status >= 500 {
							t.Fatalf("got %d %s, want access", status, b)
						}
					}
				})
			}
		}
	}
}
