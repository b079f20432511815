package api

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sieve-city/sieve/client"
	"github.com/sieve-city/sieve/internal/changes"
	"github.com/sieve-city/sieve/internal/db"
)

// TestSyncAPI drives GET /sync through the Go client as the phone does: a grid worker's full
// snapshot (only their cell), a coordinator's move of a premise out of the cell arriving as a
// tombstone, a premise added in the cell arriving as an upsert, gzip on request, a cursor
// older than the pruned changes (410 cursor_expired), a malformed cursor (400), and a caller
// without cells (an empty snapshot).
func TestSyncAPI(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	h.mapWorld(w)
	ctx := context.Background()
	login := func(name string) *client.Client {
		c := client.New(h.url, client.WithLanguage("en"))
		if _, err := c.Login(ctx, name, "correct horse battery"); err != nil {
			t.Fatalf("login %s: %v", name, err)
		}
		return c
	}
	worker, coord := login("worker"), login("coord")
	// Enough premises in k1 for a page worth compressing.
	if err := db.AsSystem(ctx, h.pool, "test", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO premises (kind, name, address, geom, cell_id, region_path)
			SELECT 'household', '火龙村' || n || '号', '火龙村第' || n || '组', ST_SetSRID(ST_MakePoint(113.41 + n * 0.0001, 34.2), 4326), id, path
			FROM regions, generate_series(1, 30) AS n WHERE id = $1`, w.k1)
		return err
	}); err != nil {
		t.Fatal(err)
	}

	items, cursor, reset, err := worker.SyncAll(ctx, "")
	if err != nil || !reset {
		t.Fatalf("snapshot: reset %v, %v", reset, err)
	}
	ids := map[string]bool{}
	premises := 0
	for _, it := range items {
		if it.Kind == changes.KindInspection {
			// The world's worker has one inspection of their own (in k1), which sync carries too.
			if it.ID != w.inspections[0] || it.Op != changes.OpUpsert {
				t.Errorf("snapshot item %+v: want only the worker's own inspection %s", it, w.inspections[0])
			}
			continue
		}
		if it.Kind != changes.KindPremise || it.Op != changes.OpUpsert || it.Premise == nil || *it.Premise.CellID != w.k1 {
			t.Errorf("snapshot item %+v: want premises of k1", it)
		}
		ids[it.ID] = true
		premises++
	}
	if premises != 31 || !ids[strconv.FormatInt(w.premise1, 10)] || ids[strconv.FormatInt(w.premise2, 10)] {
		t.Fatalf("snapshot: %d premises, premise1 %v, premise2 %v; want the 31 of k1", premises, ids[strconv.FormatInt(w.premise1, 10)],
			ids[strconv.FormatInt(w.premise2, 10)])
	}

	// The coordinator moves premise1 into k1b (not the worker's) and adds one in k1.
	lon, lat := 113.47, 34.2
	if _, err := coord.UpdatePremise(ctx, w.premise1, client.PremisePatch{Lon: &lon, Lat: &lat}); err != nil {
		t.Fatal(err)
	}
	lon = 113.42
	added, err := coord.CreatePremise(ctx, client.NewPremise{Kind: "household", Name: "新户", Lon: &lon, Lat: &lat})
	if err != nil {
		t.Fatal(err)
	}
	items, next, reset, err := worker.SyncAll(ctx, cursor)
	if err != nil || reset || len(items) != 2 {
		t.Fatalf("delta: %+v reset %v %v", items, reset, err)
	}
	for _, it := range items {
		switch it.ID {
		case strconv.FormatInt(w.premise1, 10):
			if it.Op != changes.OpDelete || it.Reason != changes.ReasonMovedOut || it.Message != "premise moved out of your cells" {
				t.Errorf("moved premise: %+v", it)
			}
		case strconv.FormatInt(added.ID, 10):
			// The world's round (inspections_test.go) is in force, and nobody visited it yet: due.
			if it.Op != changes.OpUpsert || it.Premise.Name != "新户" || *it.Premise.CellID != w.k1 || !it.Premise.Due {
				t.Errorf("added premise: %+v", it)
			}
		default:
			t.Errorf("unexpected item %+v", it)
		}
	}

	// Gzip when asked for (the phone's HTTP stack asks; Go's transport does it unasked).
	tok := worker.Token()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.url+v1+"/sync", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("gzip: %d %q", resp.StatusCode, resp.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(zr)
	var page changes.Page
	if err := json.Unmarshal(plain, &page); err != nil || len(page.Items) != 32 { // 31 premises, 1 own inspection
		t.Fatalf("gzip page: %d items, %v", len(page.Items), err)
	}
	t.Logf("snapshot page of %d items: %d bytes, %d gzipped", len(page.Items), len(plain), len(raw))

	// After pruning, the first cursor is too old; the latest is not. Prune cuts only below the
	// oldest transaction still running anywhere on the server (other test packages share it,
	// and a demo load or a bulk import there holds one for tens of seconds), so wait until that
	// horizon has passed our changes, then take the latest cursor. Two minutes at most.
	var xid int64
	if err := db.AsSystem(ctx, h.pool, "test", func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT max(xid) FROM changes`).Scan(&xid)
	}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(50 * time.Millisecond) {
		var xmin int64
		if err := h.pool.QueryRow(ctx, `SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint`).Scan(&xmin); err != nil {
			t.Fatal(err)
		}
		if xmin > xid {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 2 minutes a transaction older than our changes (xid %d) still runs on the server (horizon %d)", xid, xmin)
		}
	}
	if _, next, _, err = worker.SyncAll(ctx, next); err != nil {
		t.Fatal(err)
	}
	if err := db.AsSystem(ctx, h.pool, "test", func(tx pgx.Tx) error {
		n, err := changes.Prune(ctx, tx, time.Now().Add(time.Hour))
		if err == nil && n == 0 {
			t.Error("prune deleted nothing")
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var ae *client.Error
	if _, err := worker.Sync(ctx, cursor); !errors.As(err, &ae) || ae.Status != http.StatusGone || ae.Code != "cursor_expired" {
		t.Fatalf("old cursor: %v, want 410 cursor_expired", err)
	}
	if _, err := worker.Sync(ctx, next); err != nil {
		t.Fatalf("latest cursor: %v", err)
	}
	if _, err := worker.Sync(ctx, "bm90LWEtY3Vyc29y"); !errors.As(err, &ae) || ae.Status != http.StatusBadRequest || ae.Code != "invalid_cursor" {
		t.Fatalf("bad cursor: %v, want 400 invalid_cursor", err)
	}

	// A coordinator holds no cells: an empty snapshot.
	if p, err := coord.Sync(ctx, ""); err != nil || len(p.Items) != 0 || p.HasMore {
		t.Fatalf("coordinator: %+v %v", p, err)
	}
}
