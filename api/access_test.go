package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/sieve-city/sieve/internal/accounts"
	"github.com/sieve-city/sieve/openapi"
)

// scopeFixtures names, for each resource with an {id} in its path, an object inside the area of
// the t1 users (in) and one in the other township (out). A new resource with ids must add an
// entry here, or TestAccessMatrix fails: that is how a route cannot forget its scope rule.
func scopeFixtures(w *world) map[string][2]any {
	pair := func(ids [2]int64) [2]any { return [2]any{ids[0], ids[1]} }
	return map[string][2]any{
		"users":    {w.users["worker"].ID, w.users["worker2"].ID},
		"regions":  {w.v1, w.v2},
		"premises": {w.premise1, w.premise2},
		"media":    pair(w.media["media"]),
		"surveys":  pair(w.media["surveys"]),
		"uploads":  pair(w.media["uploads"]),
		// rounds, inspections, re-checks (issue 10):
		"inspections": {w.inspections[0], w.inspections[1]},

		// suspected sites (issue 11):
		"sites":        pair(w.sites["sites"]),
		"site-actions": pair(w.sites["site-actions"]),

		// monthly filings and background exports (issue 13):
		"reports": pair(w.reports["reports"]),
		"exports": pair(w.reports["exports"]),
		// vehicle-track leads' exclusion list (issue 14):
		"tracks": pair(w.tracks),
		// leads from data (issue 14):
		"leads": pair(w.leads),
		// public tips, rewards and credit listing (issue 14):
		"tip-cases":       pair(w.tips["tip-cases"]),
		"credit-listings": pair(w.tips["credit-listings"]),
	}
}

var pathParam = regexp.MustCompile(`:(\w+)`)

// areaParams are the parameters that name an area: query parameters, and a map tile's {z} in a
// path ({z}/{x}/{y}). A read that takes one (the spec says which) must have an areaFixtures
// case for it, or TestAccessMatrix fails.
var areaParams = map[string]bool{"region": true, "township": true, "cell": true, "parent": true, "within": true, "bbox": true, "z": true}

// areaCase is a request that names an area by id or by geometry: in lies inside the area of
// the t1 users, out in the other township, and outObject is an object only out's area holds.
// For a t1 user, out answers 404 when notFound is set, otherwise 200 without outObject (a list
// or a tile shows only what the caller may see); the city office's answer shows outObject,
// which proves the case really points at the other township. shows finds an object in an
// answer (nil: an "id" in items or features, the JSON lists and GeoJSON pages); a route whose
// answers are not JSON (map tiles) gives its own.
type areaCase struct {
	in, out   string // path and query of the two requests
	outObject int64
	notFound  bool
	shows     func(body string, id int64) bool
	// outStatus is what out answers a t1 user when it is not 200 (a map tile with nothing of
	// the caller's: 204).
	outStatus int
}

// pathFixtures are, for routes whose path parameters are not ids (a map layer's name, a
// tile's z/x/y), the one path the matrix requests: inside the t1 users' area.
func pathFixtures(w *world) map[string]string {
	x, y := tileOf(113.42, 34.2, 12)
	return map[string]string{
		"GET " + tilePath:              fmt.Sprintf("/tiles/cells/12/%d/%d.mvt", x, y),
		"GET " + v1 + "/layers/:layer": v1 + "/layers/cells?bbox=113.4,34.1,113.6,34.3",
	}
}

// areaFixtures gives, by route and area parameter, the cases of the access matrix. The world's
// regions have boundaries here (mapWorld): t1 is 113.4-113.6 E, t2 113.6-113.8 E, 34.1-34.3 N.
func areaFixtures(w *world) map[string]map[string]areaCase {
	id := func(path, param string, in, out int64) (string, string) {
		return fmt.Sprintf("%s?%s=%d", path, param, in), fmt.Sprintf("%s?%s=%d", path, param, out)
	}
	byID := func(path, param string, in, out, outObject int64) areaCase {
		a, b := id(path, param, in, out)
		return areaCase{in: a, out: b, outObject: outObject}
	}
	premises := v1 + "/premises"
	// Coverage of another township is 404; the city office's answer names it.
	coverageOf := func(path, field string) areaCase {
		a, b := id(path, "region", w.t1, w.t2)
		return areaCase{in: a, out: b, outObject: w.t2, notFound: true,
			shows: func(body string, id int64) bool { return strings.Contains(body, fmt.Sprintf(`"%s":%d,`, field, id)) }}
	}
	tx1, ty1 := tileOf(113.42, 34.2, 12)
	tx2, ty2 := tileOf(113.65, 34.2, 12)
	fx := map[string]map[string]areaCase{
		// Coverage, tiles and the map page (issue 12).
		"GET " + v1 + "/coverage":        {"region": coverageOf(v1+"/coverage", "id")},
		"GET " + v1 + "/coverage/series": {"region": coverageOf(v1+"/coverage/series", "regionId")},
		"GET " + v1 + "/coverage/gaps":   {"region": coverageOf(v1+"/coverage/gaps", "regionId")},
		"GET " + v1 + "/layers/:layer": {"bbox": {in: v1 + "/layers/cells?bbox=113.4,34.1,113.6,34.3",
			out: v1 + "/layers/cells?bbox=113.61,34.1,113.8,34.3", outObject: w.k2}},
		"GET " + tilePath: {"z": {in: fmt.Sprintf("/tiles/cells/12/%d/%d.mvt", tx1, ty1),
			out: fmt.Sprintf("/tiles/cells/12/%d/%d.mvt", tx2, ty2), outStatus: http.StatusNoContent,
			shows: func(body string, _ int64) bool { return strings.Contains(body, "share_verified") }}},

		"GET " + premises: {
			"region": byID(premises, "region", w.t1, w.t2, w.premise2),
			"cell":   byID(premises, "cell", w.k1, w.k2, w.premise2),
			"bbox": {in: premises + "?bbox=113.4,34.1,113.6,34.3", out: premises + "?bbox=113.6,34.1,113.8,34.3",
				outObject: w.premise2},
		},
		"GET " + v1 + "/surveys": {"region": byID(v1+"/surveys", "region", w.t1, w.t2, w.media["surveys"][1])},
		"GET " + v1 + "/users":   {"region": byID(v1+"/users", "region", w.t1, w.t2, w.users["worker2"].ID)},
		"GET " + v1 + "/sites": {
			"region": byID(v1+"/sites", "region", w.t1, w.t2, w.sites["sites"][1]),
			"cell":   byID(v1+"/sites", "cell", w.k1, w.k2, w.sites["sites"][1]),
		},
		"GET " + v1 + "/leads": {"region": byID(v1+"/leads", "region", w.t1, w.t2, w.leads[1])},
		// Hit rates count what the caller sees: the city office's answer for t2 counts its lead.
		"GET " + v1 + "/leads/hit-rates": {"region": {in: fmt.Sprintf("%s/leads/hit-rates?region=%d", v1, w.t1),
			out: fmt.Sprintf("%s/leads/hit-rates?region=%d", v1, w.t2), outObject: w.leads[1],
			shows: func(body string, _ int64) bool { return strings.Contains(body, `"kind":"market_entity","leads":1,`) }}},
		"GET " + v1 + "/overdue-actions": {"township": byID(v1+"/overdue-actions", "township", w.t1, w.t2, w.sites["site-actions"][1])},
		"GET " + v1 + "/regions": {
			"parent": byID(v1+"/regions", "parent", w.t1, w.t2, w.v2),
			"within": byID(v1+"/regions", "within", w.t1, w.t2, w.k2),
		},
	}
	for route, cases := range inspectionAreas(w) { // rounds, inspections, re-checks (issue 10)
		fx[route] = cases
	}
	for route, cases := range ledgerAreas(w) { // the ledgers 附件1/2/3 (issue 13)
		fx[route] = cases
	}
	fx["GET "+v1+"/reports"] = map[string]areaCase{"township": { // monthly filings (issue 13)
		in: fmt.Sprintf("%s/reports?township=%d", v1, w.t1), out: fmt.Sprintf("%s/reports?township=%d", v1, w.t2),
		outObject: w.reports["reports"][1]}}
	return fx
}

// listedIDs reports whether a JSON list (items) or GeoJSON page (features) holds id.
func listedIDs(body string, id int64) bool {
	var page struct {
		Items    []struct{ ID int64 } `json:"items"`
		Features []struct{ ID int64 } `json:"features"`
	}
	if err := json.Unmarshal([]byte(body), &page); err != nil {
		return false
	}
	for _, x := range append(page.Items, page.Features...) {
		if x.ID == id {
			return true
		}
	}
	return false
}

// specAreaParams returns, by "GET /path" in the router's form, the area parameters each read
// of the spec takes. (Writes that name a region, such as an import's ?parent=, are the
// domain's checks, tested with the domain.)
func specAreaParams(t *testing.T) map[string][]string {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(openapi.Spec())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for p, item := range doc.Paths.Map() {
		for m, op := range item.Operations() {
			if m != http.MethodGet {
				continue
			}
			for _, pr := range append(item.Parameters, op.Parameters...) {
				if pr.Value != nil && (pr.Value.In == "query" || pr.Value.In == "path") && areaParams[pr.Value.Name] {
					key := m + " " + specParam.ReplaceAllString(p, ":$1") // Echo's form; a tile route .../:z/:x/:y.mvt
					out[key] = append(out[key], pr.Value.Name)
				}
			}
		}
	}
	return out
}

var specParam = regexp.MustCompile(`\{(\w+)\}`)

// TestAccessMatrix runs every /api/v1 route for every role, with an in-scope and an
// out-of-scope target, and checks the status the rule table implies:
// no token 401; role without the permission 403; out of scope 404; otherwise not 401/403/404.
//
// Routes that take an area (?region=, ?bbox= ...) are run once more per area parameter, with
// the area inside and outside the caller's (areaFixtures).
func TestAccessMatrix(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	h.mapWorld(w)
	h.coverageWorld(w)
	w.reports = h.reportsWorld(w)
	h.tracksWorld(w)
	h.tipPhotoObjects(w)
	fixtures := scopeFixtures(w)
	fixed := pathFixtures(w)

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
	// ownerOnly are the routes that act only on the caller's own object, by the user who owns
	// the "in" fixture: an upload session is completed by its uploader alone, so anyone else,
	// even in its area (or the city office), is answered 404.
	ownerOnly := map[string]string{
		"POST " + v1 + "/uploads/:id/complete":                   "drone",
		"POST " + v1 + "/surveys/:id/uploads/:uploadId/complete": "drone",
	}

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
		if p, ok := fixed[key]; ok {
			targets["in"] = p
		} else if m := pathParam.FindStringSubmatch(path); m != nil {
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
					case ownerOnly[key] != "" && (which == "out" || name != ownerOnly[key]):
						if status != http.StatusNotFound {
							t.Fatalf("got %d %s, want 404 for another user's object", status, b)
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

	// Areas named by a query parameter.
	areas := areaFixtures(w)
	specAreas := specAreaParams(t)
	var areaKeys []string
	for k := range specAreas {
		areaKeys = append(areaKeys, k)
	}
	sort.Strings(areaKeys)
	for _, key := range areaKeys {
		perm, ok := h.srv.rules[key]
		if !ok {
			continue // not an /api/v1 route with a rule (TestSpecMatchesRoutes covers the rest)
		}
		for _, param := range specAreas[key] {
			ac, ok := areas[key][param]
			if !ok {
				t.Errorf("%s takes ?%s= but areaFixtures has no case for it", key, param)
				continue
			}
			shows := ac.shows
			if shows == nil {
				shows = listedIDs
			}
			method, _, _ := strings.Cut(key, " ")
			for role, name := range roles {
				if !role.Can(perm) {
					continue // 403, checked above
				}
				tok := h.token(w.users[name])
				t.Run(fmt.Sprintf("%s?%s/%s", key, param, role), func(t *testing.T) {
					if status, b := h.as(tok, method, ac.in, ""); status != http.StatusOK {
						t.Fatalf("in: got %d %s, want 200", status, b)
					}
					status, b := h.as(tok, method, ac.out, "")
					switch {
					case role == accounts.CityAdmin:
						if status != http.StatusOK || !shows(b, ac.outObject) {
							t.Fatalf("city office, out: got %d %s, want 200 showing %d (the fixture must point at the other township)", status, b, ac.outObject)
						}
					case ac.notFound:
						if status != http.StatusNotFound {
							t.Fatalf("out: got %d %s, want 404 for another township", status, b)
						}
					case ac.outStatus != 0:
						if status != ac.outStatus {
							t.Fatalf("out: got %d %s, want %d for another township's area", status, b, ac.outStatus)
						}
					default:
						if status != http.StatusOK || shows(b, ac.outObject) {
							t.Fatalf("out: got %d %s, want 200 without %d from another township", status, b, ac.outObject)
						}
					}
				})
			}
		}
	}
}
