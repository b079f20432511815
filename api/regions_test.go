package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/sieve-city/sieve/gis"
	"github.com/sieve-city/sieve/internal/db"
)

// mapWorld gives the world's regions boundaries: the city 113.0-114.0 E, 34.0-34.5 N; t1
// 113.4-113.6 with its village v1 in the west half (cells k1 and k1b side by side) and room for
// a second village in the east half; t2 113.6-113.8 with v2 and k2 in its west half.
func (h *harness) mapWorld(w *world) {
	h.t.Helper()
	ctx := context.Background()
	boxes := map[int64][4]float64{
		w.city: {113.0, 34.0, 114.0, 34.5},
		w.t1:   {113.4, 34.1, 113.6, 34.3}, w.v1: {113.4, 34.1, 113.5, 34.3},
		w.k1: {113.4, 34.1, 113.45, 34.3}, w.k1b: {113.45, 34.1, 113.5, 34.3},
		w.t2: {113.6, 34.1, 113.8, 34.3}, w.v2: {113.6, 34.1, 113.7, 34.3}, w.k2: {113.6, 34.1, 113.7, 34.3},
	}
	err := db.AsSystem(ctx, h.pool, "test", func(tx pgx.Tx) error {
		for id, b := range boxes {
			if _, err := tx.Exec(ctx, `UPDATE regions SET geom = ST_Multi(ST_MakeEnvelope($2, $3, $4, $5, 4326)) WHERE id = $1`,
				id, b[0], b[1], b[2], b[3]); err != nil {
				return err
			}
		}
		// The fixture premises: premise1 in k1, premise2 in k2.
		_, err := tx.Exec(ctx, `UPDATE premises SET geom = ST_SetSRID(ST_MakePoint(CASE WHEN id = $1 THEN 113.42 ELSE 113.65 END, 34.2), 4326)`, w.premise1)
		return err
	})
	if err != nil {
		h.t.Fatal(err)
	}
}

// send posts a body with a content type as tok.
func (h *harness) send(tok, method, path, contentType string, body []byte) (int, string) {
	h.t.Helper()
	status, b, _ := h.request(method, path, bytes.NewReader(body), "Authorization", "Bearer "+tok, "Accept-Language", "en",
		"Content-Type", contentType)
	return status, b
}

func box(x0, y0, x1, y1 float64) string {
	return fmt.Sprintf(`{"type":"Polygon","coordinates":[[[%v,%v],[%v,%v],[%v,%v],[%v,%v],[%v,%v]]]}`,
		x0, y0, x1, y0, x1, y1, x0, y1, x0, y0)
}

func village(code, name, geometry string) string {
	return fmt.Sprintf(`{"type":"Feature","properties":{"code":%q,"name":%q},"geometry":%s}`, code, name, geometry)
}

func fc(features ...string) string {
	return `{"type":"FeatureCollection","features":[` + strings.Join(features, ",") + `]}`
}

// errorCode returns error.code and error.details of an error body.
func errorCode(t *testing.T, body string) (string, json.RawMessage) {
	t.Helper()
	var e struct {
		Error struct {
			Code    string          `json:"code"`
			Details json.RawMessage `json:"details"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("not an error body: %s", body)
	}
	return e.Error.Code, e.Error.Details
}

// TestRegionImportAPI posts boundary files as a coordinator of t1, grouped by outcome.
func TestRegionImportAPI(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	h.mapWorld(w)
	coord := h.token(w.users["coord"])
	shp, err := os.ReadFile("../internal/regions/testdata/villages_gbk.zip")
	if err != nil {
		t.Fatal(err)
	}
	east := box(113.5, 34.1, 113.6, 34.3)
	cases := []struct {
		name, path, ctype string
		body              []byte
		status            int
		code              string // error code, or "" on success
		detail            string // must appear in the body
	}{
		{"village in own township", "/api/v1/regions/import", "application/geo+json",
			[]byte(fc(village("411081100202", "东村", east))), 200, "", `"created":1`},
		{"bare array, GCJ-02", "/api/v1/regions/import?crs=gcj02", "application/json",
			[]byte("[" + village("411081100203", "中村", box(113.505, 34.15, 113.51, 34.16)) + "]"), 422, "import_rejected", `"problem":"overlap"`},
		{"village of another township", "/api/v1/regions/import", "application/json",
			[]byte(fc(village("411081101202", "顺店二村", box(113.7, 34.1, 113.8, 34.3)))), 422, "import_rejected", `"problem":"parent_not_found"`},
		{"one bad feature rejects the file", "/api/v1/regions/import", "application/json",
			[]byte(fc(village("411081100204", "好村", box(113.5, 34.1, 113.55, 34.2)), `{"type":"Feature","properties":{"code":"411081100205","name":"坏村"},"geometry":{"type":"Polygon","coordinates":[[[113.5,34.2],[113.6,34.2]]]}}`)),
			422, "import_rejected", `"feature":1`},
		{"shapefile zip (GBK, updates two villages)", "/api/v1/regions/import", "application/zip", shp, 200, "", `"updated":2`},
		{"not JSON", "/api/v1/regions/import", "application/json", []byte("nonsense"), 422, "invalid_geojson", ""},
		{"wrong content type", "/api/v1/regions/import", "image/png", []byte("x"), 415, "unsupported_media_type", ""},
		{"empty body", "/api/v1/regions/import", "application/json", nil, 400, "empty_body", ""},
		{"unknown crs", "/api/v1/regions/import?crs=EPSG:3857", "application/json", []byte(fc()), 422, "unsupported_crs", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, body := h.send(coord, http.MethodPost, c.path, c.ctype, c.body)
			if status != c.status {
				t.Fatalf("got %d %s, want %d", status, body, c.status)
			}
			if c.code != "" {
				if code, _ := errorCode(t, body); code != c.code {
					t.Fatalf("code %s, want %s: %s", code, c.code, body)
				}
			}
			if !strings.Contains(body, c.detail) {
				t.Fatalf("%s not in %s", c.detail, body)
			}
		})
	}
	// Nothing of the rejected files was kept.
	status, body := h.as(coord, http.MethodGet, "/api/v1/regions?parent="+fmt.Sprint(w.t1)+"&geometry=false", "")
	if status != 200 || strings.Count(body, `"level":"village"`) != 2 {
		t.Fatalf("villages of t1 after the imports: %d %s", status, body)
	}

	t.Run("oversized body", func(t *testing.T) {
		big := bytes.Repeat([]byte(" "), 33<<20) // the harness upload limit is 32 MB
		status, body := h.send(coord, http.MethodPost, "/api/v1/regions/import", "application/json", big)
		if status != http.StatusRequestEntityTooLarge {
			t.Fatalf("got %d %s, want 413", status, body)
		}
	})
}

// TestCellsAndPremisesAPI generates cells, imports premises and lists them as each role sees
// them; every GeoJSON answer is read back with GDAL's ogrinfo.
func TestCellsAndPremisesAPI(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	h.mapWorld(w)
	coord, worker, admin := h.token(w.users["coord"]), h.token(w.users["worker"]), h.token(w.users["admin"])

	status, body := h.as(coord, http.MethodPost, "/api/v1/regions/import", fc(village("411081100202", "东村", box(113.5, 34.1, 113.6, 34.3))))
	if status != 200 {
		t.Fatalf("import: %d %s", status, body)
	}
	var east int64
	if err := db.AsSystem(context.Background(), h.pool, "test", func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), `SELECT id FROM regions WHERE code = '411081100202'`).Scan(&east)
	}); err != nil {
		t.Fatal(err)
	}

	// Premises: CSV in GCJ-02, then the same rows again (refs taken), then rows outside t1.
	lon, lat := gis.WGS84ToGCJ02(113.55, 34.2)
	csv := fmt.Sprintf("编号,名称,类型,经度,纬度,统一社会信用代码,标签\nP1,东村化工厂,企业,%.9f,%.9f,91411081MA12345678,workshop_area\nP2,王家,住户,%.9f,%.9f,,\n",
		lon, lat, lon+0.001, lat)
	premiseCases := []struct {
		name, path, ctype, body string
		status                  int
		detail                  string
	}{
		{"CSV in GCJ-02", "/api/v1/premises/import?crs=gcj02", "text/csv", csv, 201, `"created":2`},
		{"same refs again", "/api/v1/premises/import?crs=gcj02", "text/csv", csv, 422, `"problem":"ref_taken"`},
		{"row outside the area", "/api/v1/premises/import", "text/csv", "name,lon,lat\n甲,113.55,34.2\n乙,113.75,34.2\n", 422, `"row":3`},
		{"bad number", "/api/v1/premises/import", "text/csv", "name,lon,lat\n甲,113.55,north\n", 422, `"problem":"invalid_location"`},
		{"GeoJSON points", "/api/v1/premises/import", "application/geo+json",
			`[{"type":"Feature","properties":{"name":"李家","kind":"household"},"geometry":{"type":"Point","coordinates":[113.56,34.21]}}]`, 201, `"created":1`},
	}
	for _, c := range premiseCases {
		t.Run(c.name, func(t *testing.T) {
			status, body := h.send(coord, http.MethodPost, c.path, c.ctype, []byte(c.body))
			if status != c.status || !strings.Contains(body, c.detail) {
				t.Fatalf("got %d %s, want %d with %s", status, body, c.status, c.detail)
			}
		})
	}

	// Cells for the new village; its three premises move into them.
	status, body = h.as(coord, http.MethodPost, fmt.Sprintf("/api/v1/regions/%d/cells", east), `{"shape":"hexagon","size":2000}`)
	if status != 201 || !strings.Contains(body, `"premisesMoved":3`) {
		t.Fatalf("cells: %d %s", status, body)
	}
	status, body = h.as(coord, http.MethodPost, fmt.Sprintf("/api/v1/regions/%d/cells", east), `{"shape":"square","size":2000}`)
	if code, _ := errorCode(t, body); status != 409 || code != "cells_exist" {
		t.Fatalf("cells again: %d %s", status, body)
	}

	// The worker adds a premise found in their cell, and cannot add one elsewhere.
	status, body = h.as(worker, http.MethodPost, "/api/v1/premises", `{"name":"新发现作坊","kind":"闲置厂房","lon":113.41,"lat":34.2}`)
	if status != 201 || !strings.Contains(body, `"source":"field"`) || !strings.Contains(body, fmt.Sprintf(`"cellId":%d`, w.k1)) {
		t.Fatalf("worker add: %d %s", status, body)
	}
	status, body = h.as(worker, http.MethodPost, "/api/v1/premises", `{"name":"隔壁","lon":113.47,"lat":34.2}`)
	if code, _ := errorCode(t, body); status != 422 || code != "outside_scope" {
		t.Fatalf("worker add outside: %d %s", status, body)
	}

	// Listings by role, region, cell and bbox; pagination.
	count := func(tok, path string) int {
		status, body := h.as(tok, http.MethodGet, path, "")
		if status != 200 {
			t.Fatalf("%s: %d %s", path, status, body)
		}
		var out struct {
			Features []json.RawMessage `json:"features"`
		}
		if err := json.Unmarshal([]byte(body), &out); err != nil {
			t.Fatal(err)
		}
		return len(out.Features)
	}
	listings := []struct {
		who, path string
		want      int
	}{
		{"admin", "/api/v1/premises", 6},
		{"coord", "/api/v1/premises", 5},  // not premise2 in t2
		{"worker", "/api/v1/premises", 2}, // premise1 and their field find, both in k1
		{"coord", fmt.Sprintf("/api/v1/premises?region=%d", east), 3},
		{"coord", fmt.Sprintf("/api/v1/premises?cell=%d", w.k1), 2},
		{"coord", "/api/v1/premises?bbox=113.545,34.19,113.5505,34.21", 1},
		{"coord", "/api/v1/premises?kind=enterprise&tag=workshop_area", 1},
		{"coord", "/api/v1/premises?q=王家", 1},
	}
	tokens := map[string]string{"admin": admin, "coord": coord, "worker": worker}
	for _, l := range listings {
		if got := count(tokens[l.who], l.path); got != l.want {
			t.Errorf("%s %s: %d premises, want %d", l.who, l.path, got, l.want)
		}
	}
	status, body = h.as(admin, http.MethodGet, "/api/v1/premises?limit=4", "")
	var page1 struct {
		NextCursor string `json:"nextCursor"`
	}
	_ = json.Unmarshal([]byte(body), &page1)
	if status != 200 || page1.NextCursor == "" || count(admin, "/api/v1/premises?limit=4&cursor="+page1.NextCursor) != 2 {
		t.Fatalf("pagination: %d %s", status, body)
	}

	// The region shows its area and counts.
	status, body = h.as(coord, http.MethodGet, fmt.Sprintf("/api/v1/regions/%d", east), "")
	var region struct {
		Properties struct {
			AreaKm2  float64 `json:"areaKm2"`
			Cells    int     `json:"cells"`
			Premises int     `json:"premises"`
		} `json:"properties"`
	}
	if err := json.Unmarshal([]byte(body), &region); err != nil || status != 200 {
		t.Fatalf("region: %d %s", status, body)
	}
	if p := region.Properties; p.AreaKm2 < 200 || p.AreaKm2 > 210 || p.Cells < 2 || p.Premises != 3 {
		t.Fatalf("region properties %+v", p)
	}

	// Every GeoJSON the API answers is readable by GDAL.
	if _, err := exec.LookPath("ogrinfo"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("ogrinfo missing (gdal-bin)")
		}
		t.Skip("ogrinfo missing (gdal-bin)")
	}
	dir := t.TempDir()
	for i, path := range []string{
		"/api/v1/regions",
		fmt.Sprintf("/api/v1/regions/%d", east),
		fmt.Sprintf("/api/v1/regions?within=%d&level=cell", w.t1),
		"/api/v1/premises",
		fmt.Sprintf("/api/v1/premises/%d", w.premise1),
	} {
		status, body := h.as(admin, http.MethodGet, path, "")
		if status != 200 {
			t.Fatalf("%s: %d %s", path, status, body)
		}
		file := filepath.Join(dir, fmt.Sprintf("answer%d.geojson", i))
		if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("ogrinfo", "-ro", "-al", "-so", file).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Feature Count:") || strings.Contains(string(out), "ERROR") {
			t.Errorf("ogrinfo %s: %v\n%s", path, err, out)
		}
	}
}
