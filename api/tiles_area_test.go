package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/tiles"
)

// system runs SQL as the system (a write outside the API, as the demo and imports make).
func (h *harness) system(q string, args ...any) {
	h.t.Helper()
	ctx := context.Background()
	if err := db.AsSystem(ctx, h.pool, "test", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, q, args...)
		return err
	}); err != nil {
		h.t.Fatalf("%v\n%s", err, q)
	}
}

// etagOf fetches a tile as tok and answers its status and ETag.
func (h *harness) etagOf(tok, path string) (int, string) {
	h.t.Helper()
	status, _, hdr := h.do(http.MethodGet, path, "", "Authorization", "Bearer "+tok)
	return status, hdr.Get("ETag")
}

// TestTileETagPerArea: a tile's ETag follows the data of its own area. For the city office,
// the z12 tile over t1 (cells k1, k1b) keeps its ETag — and answers 304 — when a visit, a
// premise or a site changes in t2 (cell k2, another tile), whose tile's ETag changes; an edit
// inside t1 changes t1's tile's ETag. Per layer: cells (a visit), premises (a premise's name),
// sites (a new site, an action).
func TestTileETagPerArea(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	h.mapWorld(w)
	round := h.coverageWorld(w)
	fixed := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	h.srv.Tiles.Now = func() time.Time { return fixed } // the layers' clock periods stay put
	admin := h.token(w.users["admin"])
	tile := func(layer string, z int, lon float64) string {
		x, y := tileOf(lon, 34.2, z)
		return fmt.Sprintf("/tiles/%s/%d/%d/%d.mvt", layer, z, x, y)
	}
	type pair struct{ inT1, inT2 string }
	etags := func(layer string, z int) pair {
		t.Helper()
		_, a := h.etagOf(admin, tile(layer, z, 113.42))
		_, b := h.etagOf(admin, tile(layer, z, 113.65))
		if a == "" || b == "" || a == b {
			t.Fatalf("%s z%d: ETags %q and %q, want two different ones", layer, z, a, b)
		}
		return pair{a, b}
	}
	check := func(what, layer string, z int, before pair, t1Changes bool) pair {
		t.Helper()
		after := etags(layer, z)
		if t1Changes == (after.inT1 == before.inT1) {
			t.Errorf("%s: %s tile over t1 ETag %s → %s, want changed %v", what, layer, before.inT1, after.inT1, t1Changes)
		}
		if !t1Changes {
			if after.inT2 == before.inT2 {
				t.Errorf("%s: %s tile over t2 kept its ETag %s, want a new one", what, layer, before.inT2)
			}
			status, _, _ := h.do(http.MethodGet, tile(layer, z, 113.42), "", "Authorization", "Bearer "+admin, "If-None-Match", before.inT1)
			if status != http.StatusNotModified {
				t.Errorf("%s: %s tile over t1 with its old ETag: %d, want 304", what, layer, status)
			}
		}
		return after
	}

	// cells: a visit of premise2 (k2, t2), then of premise1 (k1, t1).
	c := etags("cells", 12)
	h.system(`INSERT INTO inspections (id, premise_id, round_id, inspector_id, visited_at, outcome, evidence)
		VALUES (gen_random_uuid(), $1, $2, $3, now() - interval '2 hours', 'clear', 'verified')`, w.premise2, round, w.users["worker"].ID)
	c = check("a visit in t2", "cells", 12, c, false)
	h.system(`INSERT INTO inspections (id, premise_id, round_id, inspector_id, visited_at, outcome, evidence)
		VALUES (gen_random_uuid(), $1, $2, $3, now() - interval '1 hour', 'clear', 'flagged')`, w.premise1, round, w.users["worker"].ID)
	check("a visit in t1", "cells", 12, c, true)

	// premises: a premise renamed in t2, then in t1.
	p := etags("premises", 14)
	h.system(`UPDATE premises SET name = name || '（改）' WHERE id = $1`, w.premise2)
	p = check("a premise renamed in t2", "premises", 14, p, false)
	h.system(`UPDATE premises SET name = name || '（改）' WHERE id = $1`, w.premise1)
	check("a premise renamed in t1", "premises", 14, p, true)

	// sites: a site found in t2, an action on it; then a site in t1.
	s := etags("sites", 12)
	h.system(`INSERT INTO sites (point, source, firm_name) VALUES (ST_SetSRID(ST_MakePoint(113.66, 34.21), 4326), 'manual', '乙作坊')`)
	s = check("a site in t2", "sites", 12, s, false)
	h.system(`INSERT INTO site_actions (site_id, action, department, responsible, deadline)
		SELECT id, 'stop_production', 'township', '张三', now() + interval '3 days' FROM sites WHERE firm_name = '乙作坊'`)
	s = check("an action on t2's site", "sites", 12, s, false)
	h.system(`INSERT INTO sites (point, source, firm_name) VALUES (ST_SetSRID(ST_MakePoint(113.43, 34.21), 4326), 'manual', '甲作坊')`)
	check("a site in t1", "sites", 12, s, true)

	// The clock: the sites layer's ETag moves on with its period (deadlines pass), the
	// footprints layer's (no clock) does not.
	s = etags("sites", 12)
	f := etags("footprints", 12)
	fixed = fixed.Add(time.Hour)
	if now := etags("sites", 12); now.inT1 == s.inT1 {
		t.Errorf("sites tile an hour later: ETag %s unchanged, want a new one (overdue flags)", s.inT1)
	}
	if now := etags("footprints", 12); now != f {
		t.Errorf("footprints tiles an hour later: %v, were %v", now, f)
	}
}

// TestSitesLayer reads the sites layer (issue 11 on the map): a site with its status, classes,
// name, last action and overdue flag, its outline from zoom 14; another township's coordinator
// gets 204 for the tile and the GeoJSON without it; GDAL reads the tile.
func TestSitesLayer(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	h.mapWorld(w)
	h.system(`INSERT INTO sites (point, outline, source, firm_name, classes, status)
		VALUES (ST_SetSRID(ST_MakePoint(113.43, 34.21), 4326),
		        ST_SetSRID(ST_MakeEnvelope(113.429, 34.209, 113.431, 34.211), 4326), 'manual', '某化工作坊',
		        '{unlicensed,factory_in_factory}', 'suspected')`)
	h.system(`INSERT INTO site_actions (site_id, action, department, responsible, deadline)
		SELECT id, 'stop_production', 'township', '李四', now() - interval '2 days' FROM sites WHERE firm_name = '某化工作坊'`)
	coord, coord2 := h.token(w.users["coord"]), h.token(w.users["coord2"])
	x, y := tileOf(113.43, 34.21, 12)
	path := fmt.Sprintf("/tiles/sites/12/%d/%d.mvt", x, y)
	status, body, _ := h.do(http.MethodGet, path, "", "Authorization", "Bearer "+coord)
	if status != http.StatusOK {
		t.Fatalf("sites tile for t1's coordinator: %d", status)
	}
	for _, want := range []string{"sites", "suspected", "unlicensed,factory_in_factory", "某化工作坊", "stop_production", "overdue"} {
		if !strings.Contains(body, want) {
			t.Errorf("sites tile lacks %q", want)
		}
	}
	if status, _, _ := h.do(http.MethodGet, path, "", "Authorization", "Bearer "+coord2); status != http.StatusNoContent {
		t.Errorf("the same tile for t2's coordinator: %d, want 204", status)
	}
	status, gj := h.as(coord2, http.MethodGet, "/api/v1/layers/sites?bbox=113.4,34.1,113.5,34.3", "")
	if status != http.StatusOK || strings.Contains(gj, "某化工作坊") {
		t.Errorf("sites GeoJSON for t2's coordinator: %d %s, want no site", status, gj)
	}
	status, gj = h.as(coord, http.MethodGet, "/api/v1/layers/sites?bbox=113.4,34.1,113.5,34.3", "")
	if status != http.StatusOK || !strings.Contains(gj, `"overdue": true`) || !strings.Contains(gj, `"Polygon"`) {
		t.Errorf("sites GeoJSON for t1's coordinator: %d %s, want the overdue site with its outline", status, gj)
	}

	if _, err := exec.LookPath("ogrinfo"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("ogrinfo missing (gdal-bin)")
		}
		t.Skip("ogrinfo missing (gdal-bin)")
	}
	// At zoom 12 the site is a point (beside the other sites the fixtures of other tests put in
	// t1, such as 910001 at 113.42: the count is not pinned); at zoom 14, alone in its tile, its
	// outline.
	for _, z := range []int{12, 14} {
		x, y := tileOf(113.43, 34.21, z)
		_, body, _ := h.do(http.MethodGet, fmt.Sprintf("/tiles/sites/%d/%d/%d.mvt", z, x, y), "", "Authorization", "Bearer "+coord)
		dir := filepath.Join(t.TempDir(), fmt.Sprint(z), fmt.Sprint(x))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(dir, fmt.Sprintf("%d.mvt", y))
		if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("ogrinfo", "-ro", "-al", file).CombinedOutput()
		geom := map[int]string{12: "POINT (", 14: "POLYGON (("}[z]
		count := map[int]string{12: "某化工作坊", 14: "Feature Count: 1"}[z]
		if err != nil || !strings.Contains(string(out), count) || !strings.Contains(string(out), "某化工作坊") || !strings.Contains(string(out), "status (String) = suspected") ||
			!strings.Contains(string(out), "overdue (Integer") || !strings.Contains(string(out), geom) {
			t.Errorf("ogrinfo %s: %v, want %s with a %s feature\n%s", file, err, count, geom, out)
		}
	}
}

// TestTileZonesHoldTheirCells: the zones of a tile (migration 0039) hold every cell the tile
// reads (sieve_cells_in over its bounds), at every zoom from 9 to 16 over the test world and for
// a cell that only touches a tile's edge, whose zones are read by the tiles on both sides; a
// cell redrawn elsewhere moves its rows with it, so a later edit in it changes the ETag state of
// the tiles of its new place, not of its old one.
func TestTileZonesHoldTheirCells(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	h.mapWorld(w)
	ctx := context.Background()
	// A cell whose west edge is the edge between two zoom-14 tiles.
	x14, y14 := tileOf(113.55, 34.2, 14)
	edge := float64(x14)/16384*360 - 180
	h.system(`UPDATE regions SET geom = ST_Multi(ST_MakeEnvelope($2::float8, 34.19, $2::float8 + 0.004, 34.2, 4326)) WHERE id = $1`, w.k1b, edge)

	cellsOf := func(q string, args ...any) map[int64]bool {
		t.Helper()
		var ids []int64
		if err := h.pool.QueryRow(ctx, `SELECT coalesce(array_agg(DISTINCT c), '{}') FROM (`+q+`) v(c)`, args...).Scan(&ids); err != nil {
			t.Fatalf("%v\n%s", err, q)
		}
		out := map[int64]bool{}
		for _, id := range ids {
			out[id] = true
		}
		return out
	}
	read := func(z, x, y int) map[int64]bool {
		return cellsOf(`SELECT k FROM sieve_cells_in(NULL, ST_Transform(ST_TileEnvelope($1, $2, $3), 4326)) k`, z, x, y)
	}
	zoned := func(z, x, y int) map[int64]bool {
		lo, hi := tiles.Zones(z, x, y)
		return cellsOf(`SELECT cell_id FROM tile_zone_states WHERE layer = 'cells' AND zone >= $1 AND zone < $2`, lo, hi)
	}
	checked := 0
	for z := 9; z <= 16; z++ {
		x0, y0 := tileOf(113.39, 34.31, z)
		x1, y1 := tileOf(113.71, 34.09, z)
		for x := x0; x <= x1; x++ {
			for y := y0; y <= y1; y++ {
				in, zs := read(z, x, y), zoned(z, x, y)
				for id := range in {
					if !zs[id] {
						t.Fatalf("tile %d/%d/%d reads cell %d, which has no row in the tile's zones", z, x, y, id)
					}
				}
				checked += len(in)
			}
		}
	}
	// Both zoom-14 tiles beside the edge read the touching cell, and hold it.
	for _, x := range []int{x14 - 1, x14} {
		if !read(14, x, y14)[w.k1b] || !zoned(14, x, y14)[w.k1b] {
			t.Errorf("tile 14/%d/%d: reads the cell on its edge %v, holds it in its zones %v", x, y14, read(14, x, y14)[w.k1b], zoned(14, x, y14)[w.k1b])
		}
	}
	if checked < 50 {
		t.Fatalf("only %d (tile, cell) pairs checked", checked)
	}
	// An outline of a whole province is no grid cell: refused, not written as 20,000 zones.
	err := db.AsSystem(ctx, h.pool, "test", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE regions SET geom = ST_Multi(ST_MakeEnvelope(110, 31, 116, 36, 4326)) WHERE id = $1`, w.k1b)
		return err
	})
	if !errors.Is(db.MapError(err), apperr.ErrInvalid) || !strings.Contains(err.Error(), "map zones") {
		t.Fatalf("a cell the size of a province: %v, want it refused as invalid", err)
	}

	// k1b redrawn into t2's area, beside k2: its rows go with it.
	h.system(`UPDATE regions SET geom = ST_Multi(ST_MakeEnvelope(113.75, 34.2, 113.76, 34.21, 4326)) WHERE id = $1`, w.k1b)
	oldX, oldY := tileOf(edge+0.002, 34.195, 14)
	newX, newY := tileOf(113.755, 34.205, 14)
	if zoned(14, oldX, oldY)[w.k1b] || !zoned(14, newX, newY)[w.k1b] {
		t.Fatalf("k1b redrawn: still in its old zone %v, in its new one %v", zoned(14, oldX, oldY)[w.k1b], zoned(14, newX, newY)[w.k1b])
	}
	state := func(x, y int) string {
		s, err := h.srv.Tiles.State(ctx, h.pool, "premises", 14, x, y)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	oldState, newState := state(oldX, oldY), state(newX, newY)
	h.system(`SELECT sieve_tile_touch(ARRAY['premises'], ARRAY[$1::bigint])`, w.k1b)
	if state(oldX, oldY) != oldState || state(newX, newY) == newState {
		t.Errorf("an edit in k1b after it moved: old place %s → %s (want unchanged), new place %s → %s (want changed)",
			oldState, state(oldX, oldY), newState, state(newX, newY))
	}
}

// TestConcurrentTouchesMoveTheState: two transactions editing one cell never wait on each other
// for the tiles' states, and each one's commit moves the state of the cell's tiles, also when
// the one that took the cell's rows commits first (the other appended bumps); the next touch
// folds the bumps into the rows, and the state moves again.
func TestConcurrentTouchesMoveTheState(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	h.mapWorld(w)
	ctx := context.Background()
	x, y := tileOf(113.42, 34.2, 14) // k1
	state := func() string {
		t.Helper()
		s, err := h.srv.Tiles.State(ctx, h.pool, "premises", 14, x, y)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	begin := func() pgx.Tx {
		t.Helper()
		tx, err := h.pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = tx.Rollback(ctx) })
		if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '2s'`); err != nil {
			t.Fatal(err)
		}
		return tx
	}
	touch := func(tx pgx.Tx) {
		t.Helper()
		if _, err := tx.Exec(ctx, `SELECT sieve_tile_touch(ARRAY['premises'], ARRAY[$1::bigint])`, w.k1); err != nil {
			t.Fatalf("touch: %v (a touch waited on another transaction?)", err)
		}
	}
	bumps := func() int {
		t.Helper()
		var n int
		if err := h.pool.QueryRow(ctx, `SELECT count(*) FROM tile_zone_states WHERE cell_id = $1 AND bump <> 0`, w.k1).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	s0 := state()
	a, b := begin(), begin()
	touch(a) // a holds k1's rows
	touch(b) // b finds them held: bumps
	if err := a.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	s1 := state()
	if s1 == s0 {
		t.Fatalf("the first commit left the state at %s", s0)
	}
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	s2 := state()
	if s2 == s1 || bumps() == 0 {
		t.Fatalf("the second commit (after the holder's): state %s → %s, %d bumps; want a new state from the bumps", s1, s2, bumps())
	}
	c := begin()
	touch(c)
	if err := c.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if s3 := state(); s3 == s2 || bumps() != 0 {
		t.Fatalf("an uncontended touch: state %s → %s, %d bumps left; want a new state and the bumps folded", s2, s3, bumps())
	}
}
