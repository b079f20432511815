package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/sieve-city/sieve/internal/coverage"
	"github.com/sieve-city/sieve/internal/db"
)

// TestCoverageCountsSites: coverage carries the sites' plug-in counts (internal/sites owns what
// open and overdue mean): the world has one open site in k1 with one action a day past its
// deadline, none in k1b; the village adds them up; closing the action takes it off.
func TestCoverageCountsSites(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	h.mapWorld(w)
	h.coverageWorld(w)
	coord := h.token(w.users["coord"])
	get := func() coverage.Report {
		t.Helper()
		status, body := h.as(coord, http.MethodGet, fmt.Sprintf("/api/v1/coverage?region=%d", w.v1), "")
		if status != http.StatusOK {
			t.Fatalf("coverage: %d %s", status, body)
		}
		var rep coverage.Report
		if err := json.Unmarshal([]byte(body), &rep); err != nil {
			t.Fatal(err)
		}
		return rep
	}
	count := func(p *int64) int64 {
		if p == nil {
			t.Fatal("a sites count is null: the plug-in is not wired")
		}
		return *p
	}
	rep := get()
	if count(rep.Region.OpenSites) != 1 || count(rep.Region.OverdueActions) != 1 {
		t.Errorf("village v1: open sites %v, overdue actions %v, want 1 and 1", *rep.Region.OpenSites, *rep.Region.OverdueActions)
	}
	for _, c := range rep.Children {
		want := int64(0)
		if c.ID == w.k1 {
			want = 1
		}
		if count(c.OpenSites) != want || count(c.OverdueActions) != want {
			t.Errorf("cell %d: open sites %d, overdue %d, want %d", c.ID, *c.OpenSites, *c.OverdueActions, want)
		}
	}
	// The action is done: nothing overdue any more; the site stays open.
	if err := db.AsSystem(t.Context(), h.pool, "test", func(tx pgx.Tx) error {
		_, err := tx.Exec(t.Context(), `UPDATE site_actions SET done_at = now(), result = '已停产' WHERE id = $1`,
			w.sites["site-actions"][0])
		return err
	}); err != nil {
		t.Fatal(err)
	}
	rep = get()
	if count(rep.Region.OpenSites) != 1 || count(rep.Region.OverdueActions) != 0 {
		t.Errorf("after the action was done: open %d, overdue %d, want 1 and 0", *rep.Region.OpenSites, *rep.Region.OverdueActions)
	}
}
