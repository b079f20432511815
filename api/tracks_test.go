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

// tracksWorld adds the scope fixtures of the exclusion list: a depot in k1 and one in k2. It
// needs the cells' boundaries (mapWorld): a place lies where sieve_locate puts it.
func (h *harness) tracksWorld(w *world) {
	h.t.Helper()
	ctx := context.Background()
	err := db.AsSystem(ctx, h.pool, "test", func(tx pgx.Tx) error {
		for i, lon := range []float64{113.42, 113.65} {
			if err := tx.QueryRow(ctx, `INSERT INTO track_exclusions (kind, name, geom)
				VALUES ('depot', $1, ST_SetSRID(ST_MakePoint($2, 34.2), 4326)) RETURNING id`,
				fmt.Sprintf("车队%d", i+1), lon).Scan(&w.tracks[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
}

// TestTrackExclusions: the city office and a township's coordinator add places in their area
// (elsewhere 422 outside_scope, outside every region 422 outside_city), everyone reads the
// whole list, another township's place cannot be changed (404), a place is taken off with
// active false and the change is audited.
func TestTrackExclusions(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	h.mapWorld(w)
	h.tracksWorld(w)
	admin, coord, worker := h.token(w.users["admin"]), h.token(w.users["coord"]), h.token(w.users["worker"])

	status, body := h.as(coord, http.MethodPost, v1+"/tracks/exclusions",
		`{"kind":"service_area","name":"火龙服务区","lon":113.43,"lat":34.25,"radiusM":300}`)
	if status != http.StatusCreated {
		t.Fatalf("coordinator adds in the township: %d %s", status, body)
	}
	var added struct {
		ID      int64   `json:"id"`
		RadiusM float64 `json:"radiusM"`
		Active  bool    `json:"active"`
	}
	if err := json.Unmarshal([]byte(body), &added); err != nil || added.RadiusM != 300 || !added.Active {
		t.Fatalf("added %s (%v)", body, err)
	}
	for _, tc := range []struct {
		tok, body, code string
	}{
		{coord, `{"kind":"depot","name":"顺店车队","lon":113.65,"lat":34.2}`, "outside_scope"},
		{admin, `{"kind":"depot","name":"外市车队","lon":115.0,"lat":35.0}`, "outside_city"},
		{admin, `{"kind":"garage","name":"x","lon":113.42,"lat":34.2}`, "invalid_kind"},
		{admin, `{"kind":"depot","name":"x","lon":113.42,"lat":34.2,"radiusM":9000}`, "invalid_radius"},
		{admin, `{"kind":"depot","name":"","lon":113.42,"lat":34.2}`, "invalid_name"},
	} {
		status, body := h.as(tc.tok, http.MethodPost, v1+"/tracks/exclusions", tc.body)
		if status != http.StatusUnprocessableEntity || !strings.Contains(body, `"`+tc.code+`"`) {
			t.Errorf("%s: got %d %s, want 422 %s", tc.body, status, body, tc.code)
		}
	}
	if status, body := h.as(admin, http.MethodPost, v1+"/tracks/exclusions",
		`{"kind":"fuel_station","name":"顺店加油站","lon":113.65,"lat":34.25,"crs":"gcj02"}`); status != http.StatusCreated {
		t.Errorf("city office adds in another township: %d %s", status, body)
	}

	// Everyone logged in reads the whole list, both townships'.
	status, body = h.as(worker, http.MethodGet, v1+"/tracks/exclusions", "")
	if status != http.StatusOK || !strings.Contains(body, "车队1") || !strings.Contains(body, "车队2") ||
		!strings.Contains(body, "火龙服务区") || !strings.Contains(body, "顺店加油站") {
		t.Fatalf("the list as a grid worker: %d %s", status, body)
	}

	path := fmt.Sprintf("%s/tracks/exclusions/%d", v1, w.tracks[1])
	if status, body := h.as(coord, http.MethodPatch, path, `{"active":false}`); status != http.StatusNotFound {
		t.Errorf("coordinator changes another township's place: %d %s", status, body)
	}
	path = fmt.Sprintf("%s/tracks/exclusions/%d", v1, added.ID)
	if status, body := h.as(coord, http.MethodPatch, path, `{"active":false,"note":"已关闭"}`); status != http.StatusOK ||
		!strings.Contains(body, `"active":false`) || !strings.Contains(body, "已关闭") {
		t.Errorf("coordinator takes own place off: %d %s", status, body)
	}
	var audited int
	if err := db.AsSystem(context.Background(), h.pool, "test", func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE entity = 'track_exclusions'`).Scan(&audited)
	}); err != nil || audited < 3 {
		t.Errorf("audit entries of track_exclusions: %d (%v)", audited, err)
	}
}
