package api

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sieve-city/sieve/internal/accounts"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/leads"
	"github.com/sieve-city/sieve/internal/sites"
	"github.com/sieve-city/sieve/internal/testenv"
	"github.com/sieve-city/sieve/openapi/contract"
)

// harness is a Sieve API on real PostGIS and MinIO (fresh database and buckets) behind an
// httptest server.
type harness struct {
	t        testing.TB
	srv      *Server
	url      string
	pool     *pgxpool.Pool
	accounts *accounts.Store
}

// testHasher is argon2id at a low cost, so that tests can create many users quickly.
func testHasher() *accounts.Hasher {
	return accounts.NewHasher(accounts.HashParams{MemoryKiB: 1024, Time: 1, Threads: 1}, 4)
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	pool := testenv.DB(t)
	store := testenv.Blob(t)
	acc := accounts.NewStore(testHasher(), time.Hour, 10*time.Second, time.Now)
	st := sites.New(sites.DefaultConfig(), time.Now)
	lc := leads.DefaultConfig()
	ls := leads.NewService(lc, st, time.Now, leads.MarketEntities{Config: lc.Market}, leads.PowerUsers{Config: lc.Power})
	s := New(Deps{
		Pool:        pool,
		Accounts:    acc,
		Media:       testMedia(t, pool, store),
		Log:         testenv.Logger(),
		Registry:    prometheus.NewRegistry(),
		Checks:      []Check{{Name: "postgres", Ping: pool.Ping}, {Name: "minio", Ping: store.Ping}},
		BodyLimit:   64 << 10,
		UploadLimit: 32 << 20,
		Sites:       st,
		Leads:       ls,
		Inspections: testInspections(t, pool, st, leads.InspectionHook(ls)),
		Reports:     testReports(t, pool, store),
	})
	var ts *httptest.Server
	if _, bench := t.(*testing.B); bench {
		// Benchmarks measure the server, not the checker (and add routes of their own).
		ts = httptest.NewServer(s.Handler())
		t.Cleanup(ts.Close)
	} else {
		ts = contractServer(t, s.Handler())
	}
	return &harness{t: t, srv: s, url: ts.URL, pool: pool, accounts: acc}
}

// contractServer serves h for a test with every request and answer checked against
// openapi.yaml (openapi/contract): a mismatch fails the test, naming the route and the schema
// error. Requests the server refuses (4xx) are the tests' deliberately bad input; only the
// refusal's shape is checked for them.
func contractServer(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	ch, err := contract.New()
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(ch.Handler(h, func(err error) { t.Error(err) }))
	t.Cleanup(ts.Close) // waits for requests in flight, so no check outlives the test
	return ts
}

// world is a small region tree with one user of each role, for scope tests:
//
//	city ─┬─ t1 (火龙镇) ── v1 ─┬─ k1 (worker's cell)
//	      │                   └─ k1b
//	      └─ t2 (顺店镇) ── v2 ── k2
//
// Users named by role are scoped to t1 (the worker to v1 with cell k1); "coord2" and
// "worker2" belong to t2 and are out of scope for t1's users.
type world struct {
	city, t1, t2, v1, v2, k1, k1b, k2 int64
	users                             map[string]accounts.User
	media                             map[string][2]int64 // scope fixtures of media_test.go
	sites                             map[string][2]int64 // scope fixtures of sites_test.go
	premise1, premise2                int64               // one premise in k1, one in k2
	inspections                       [2]string           // one inspection in k1, one in k2 (inspections_test.go)
	reports                           map[string][2]int64 // filings and exports of t1 and t2 (reports_test.go)
	tracks                            [2]int64            // one excluded place in k1, one in k2 (tracks_test.go, after mapWorld)
	leads                             [2]int64            // one lead in k1, one in k2 (leads_test.go)
	tips                              map[string][2]int64 // scope fixtures of tips_test.go (issue 14)
}

func (h *harness) world() *world {
	h.t.Helper()
	ctx := context.Background()
	w := &world{users: map[string]accounts.User{}}
	err := db.AsSystem(ctx, h.pool, "test", func(tx pgx.Tx) error {
		add := func(parent *int64, level, code, name string) int64 {
			var id int64
			if err := tx.QueryRow(ctx, `INSERT INTO regions (parent_id, level, code, name) VALUES ($1, $2, $3, $4) RETURNING id`,
				parent, level, code, name).Scan(&id); err != nil {
				h.t.Fatal(err)
			}
			return id
		}
		w.city = add(nil, "city", "411081", "禹州市")
		w.t1 = add(&w.city, "township", "411081100", "火龙镇")
		w.t2 = add(&w.city, "township", "411081101", "顺店镇")
		w.v1 = add(&w.t1, "village", "411081100201", "火龙村")
		w.v2 = add(&w.t2, "village", "411081101201", "顺店村")
		w.k1 = add(&w.v1, "cell", "411081100201-01", "火龙村01网格")
		w.k1b = add(&w.v1, "cell", "411081100201-02", "火龙村02网格")
		w.k2 = add(&w.v2, "cell", "411081101201-01", "顺店村01网格")
		premise := func(cell int64, name string) int64 {
			var id int64
			if err := tx.QueryRow(ctx, `INSERT INTO premises (kind, name, geom, cell_id, region_path)
				SELECT 'household', $2, ST_SetSRID(ST_MakePoint(113.5, 34.2), 4326), id, path FROM regions WHERE id = $1
				RETURNING id`, cell, name).Scan(&id); err != nil {
				h.t.Fatal(err)
			}
			return id
		}
		w.premise1 = premise(w.k1, "火龙村张家")
		w.premise2 = premise(w.k2, "顺店村李家")
		mk := func(name string, role accounts.Role, region *int64, cells ...int64) {
			u, err := h.accounts.Create(ctx, tx, accounts.CityAdmin, accounts.NewUser{Username: name,
				Password: "correct horse battery", Role: role, RegionID: region, CellIDs: cells})
			if err != nil {
				h.t.Fatalf("create %s: %v", name, err)
			}
			w.users[name] = u
		}
		mk("admin", accounts.CityAdmin, nil)
		mk("coord", accounts.TownshipCoordinator, &w.t1)
		mk("worker", accounts.GridWorker, &w.v1, w.k1)
		mk("drone", accounts.DroneOperator, &w.t1)
		mk("inspector", accounts.Inspector, &w.t1)
		mk("viewer", accounts.Viewer, &w.t1)
		mk("coord2", accounts.TownshipCoordinator, &w.t2)
		mk("worker2", accounts.GridWorker, &w.v2, w.k2)
		return nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
	w.media = h.mediaWorld(w)
	w.sites = h.sitesWorld(w)
	w.inspections = h.inspectionWorld(w)
	w.leads = h.leadsWorld(w)
	w.tips = h.tipsWorld(w)
	return w
}

// token returns a fresh bearer token for a user of the world.
func (h *harness) token(u accounts.User) string {
	h.t.Helper()
	tok, err := h.accounts.CreateSession(context.Background(), h.pool, u.ID)
	if err != nil {
		h.t.Fatal(err)
	}
	return tok
}

// as sends a request with a bearer token.
func (h *harness) as(tok, method, path, body string) (int, string) {
	h.t.Helper()
	status, b, _ := h.do(method, path, body, "Authorization", "Bearer "+tok, "Accept-Language", "en")
	return status, b
}

// do sends a request (a JSON body when body is not empty) and returns the status and body.
func (h *harness) do(method, path, body string, headers ...string) (int, string, http.Header) {
	h.t.Helper()
	if body == "" {
		return h.request(method, path, nil, headers...)
	}
	return h.request(method, path, strings.NewReader(body), append([]string{"Content-Type", "application/json"}, headers...)...)
}

// request sends a request with headers (name, value pairs; an empty value is left out) and
// returns the status, body and headers of the answer.
func (h *harness) request(method, path string, body io.Reader, headers ...string) (int, string, http.Header) {
	h.t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, h.url+path, body)
	if err != nil {
		h.t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] != "" {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Header
}
