package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sieve-city/sieve/internal/coverage"
)

// browser starts Debian's headless Chromium (WebGL through SwiftShader) with a fresh profile,
// for the map page's test. Without chromium the test fails under CI and is skipped elsewhere.
func browser(t *testing.T) context.Context {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium missing (./deploy/local/stack.sh deps installs it)")
		}
		t.Skip("chromium missing (./deploy/local/stack.sh deps installs it)")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("use-angle", "swiftshader"),
		chromedp.Flag("enable-unsafe-swiftshader", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	ctx, cancelC := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelC(); cancelB(); cancelA() })
	return ctx
}

// TestMapPageInBrowser logs in on the login page as t1's coordinator, waits for the cells to be
// drawn, clicks cell k1 and checks that the panel's numbers equal GET /api/v1/coverage of the
// cell; then it clicks the world's site in k1 (site 910001, given an overdue action) and checks
// that the site panel shows its name, status in Chinese, last action, overdue count and as
// many thumbnails as GET /api/v1/sites/{id}/media has; it saves a screenshot after each click
// (map-page.png, map-site.png; the paths are in the log).
func TestMapPageInBrowser(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	h.mapWorld(w)
	h.coverageWorld(w)
	h.system(`INSERT INTO site_actions (site_id, action, department, responsible, deadline)
		VALUES (910001, 'stop_production', 'township', '王五', now() - interval '1 day')`)
	ctx := browser(t)

	err := chromedp.Do(ctx,
		chromedp.Navigate(h.url+"/login"),
		chromedp.WaitVisible("#username"),
		chromedp.SendKeys("#username", "coord"),
		chromedp.SendKeys("#password", "correct horse battery"),
		chromedp.Click("#login-submit"),
		chromedp.WaitVisible(`body[data-ready="yes"]`),
	)
	if err != nil {
		t.Fatalf("log in: %v", err)
	}
	drawn, err := chromedp.Run(ctx, chromedp.Poll[int](`window.sieveMap.loaded() && window.sieveMap.queryRenderedFeatures({layers: ['cells-fill']}).length`,
		chromedp.WithPollingTimeout(45*time.Second)))
	if err != nil {
		t.Fatalf("draw the cells: %v", err)
	}
	if drawn < 2 {
		t.Errorf("%d cells drawn, want t1's two", drawn)
	}

	// Click the middle of cell k1 (113.40-113.45 E, 34.1-34.3 N).
	at, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`(() => { const p = window.sieveMap.project([113.425, 34.2]);
		const r = window.sieveMap.getCanvas().getBoundingClientRect(); return [r.left + p.x, r.top + p.y]; })()`))
	if err != nil {
		t.Fatal(err)
	}
	err = chromedp.Do(ctx,
		chromedp.MouseClickXY(at[0], at[1]),
		chromedp.WaitVisible(fmt.Sprintf(`#cell-panel[data-cell="%d"][data-ready="yes"]`, w.k1)),
	)
	if err != nil {
		t.Fatalf("click cell k1: %v", err)
	}
	panel, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](
		`Object.fromEntries([...document.querySelectorAll('#cell-panel [data-k]')].map((td) => [td.dataset.k, td.dataset.v]))`))
	if err != nil {
		t.Fatalf("click cell k1: %v", err)
	}
	status, body := h.as(h.token(w.users["coord"]), http.MethodGet, fmt.Sprintf("/api/v1/coverage?region=%d", w.k1), "")
	if status != http.StatusOK {
		t.Fatalf("coverage of k1: %d %s", status, body)
	}
	var rep coverage.Report
	if err := json.Unmarshal([]byte(body), &rep); err != nil {
		t.Fatal(err)
	}
	n := rep.Region.Numbers
	want := map[string]string{"premises": fmt.Sprint(n.Premises), "verified": fmt.Sprint(n.Verified),
		"flagged": fmt.Sprint(n.Flagged), "neverVisited": fmt.Sprint(n.NeverVisited), "dueAgain": fmt.Sprint(n.DueAgain),
		"shareVerified": fmt.Sprint(n.ShareVerified), "droneShare": fmt.Sprint(n.DroneShare)}
	for k, v := range want {
		if panel[k] != v {
			t.Errorf("panel %s = %q, GET /coverage says %q", k, panel[k], v)
		}
	}
	if n.Premises != 1 || n.Verified != 1 {
		t.Errorf("k1: %+v, want its one premise verified", n)
	}

	screenshot(t, ctx, "map-page.png")

	// The site: wait for its point, click it, read the site panel.
	if _, err := chromedp.Run(ctx, chromedp.Poll[int](`window.sieveMap.queryRenderedFeatures({layers: ['sites-point']}).length`,
		chromedp.WithPollingTimeout(45*time.Second))); err != nil {
		t.Fatalf("draw the sites: %v", err)
	}
	at, err = chromedp.Run(ctx, chromedp.Evaluate[[]float64](`(() => { const p = window.sieveMap.project([113.42, 34.2]);
		const r = window.sieveMap.getCanvas().getBoundingClientRect(); return [r.left + p.x, r.top + p.y]; })()`))
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.MouseClickXY(at[0], at[1]),
		chromedp.WaitVisible(`#site-panel[data-site="910001"][data-ready="yes"]`)); err != nil {
		t.Fatalf("click site 910001: %v", err)
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](`({
		name: document.getElementById('site-name').textContent,
		status: document.getElementById('site-status').dataset.v,
		statusText: document.getElementById('site-status').textContent,
		lastAction: document.getElementById('site-last-action').dataset.v,
		lastActionText: document.getElementById('site-last-action').textContent,
		overdue: document.getElementById('site-overdue').dataset.v,
		thumbs: String(document.querySelectorAll('#site-media img').length)})`))
	if err != nil {
		t.Fatal(err)
	}
	var site struct {
		FirmName       string `json:"firmName"`
		Status         string `json:"status"`
		OverdueActions int    `json:"overdueActions"`
	}
	coord := h.token(w.users["coord"])
	if status, body := h.as(coord, http.MethodGet, "/api/v1/sites/910001", ""); status != http.StatusOK || json.Unmarshal([]byte(body), &site) != nil {
		t.Fatalf("site 910001: %d %s", status, body)
	}
	var media struct {
		Items []struct {
			Thumbnail string `json:"thumbnail"`
		} `json:"items"`
	}
	if status, body := h.as(coord, http.MethodGet, "/api/v1/sites/910001/media", ""); status != http.StatusOK || json.Unmarshal([]byte(body), &media) != nil {
		t.Fatalf("media of site 910001: %d %s", status, body)
	}
	thumbs := 0
	for _, m := range media.Items {
		if m.Thumbnail != "" {
			thumbs++
		}
	}
	want = map[string]string{"name": site.FirmName, "status": site.Status, "statusText": "疑似", "lastAction": "stop_production",
		"lastActionText": "责令停止生产（乡镇，期限 ", "overdue": fmt.Sprint(site.OverdueActions), "thumbs": fmt.Sprint(thumbs)}
	for k, v := range want {
		if k == "lastActionText" {
			if !strings.HasPrefix(got[k], v) {
				t.Errorf("site panel %s = %q, want it to start with %q", k, got[k], v)
			}
			continue
		}
		if got[k] != v {
			t.Errorf("site panel %s = %q, the API says %q", k, got[k], v)
		}
	}
	if site.OverdueActions < 1 {
		t.Errorf("site 910001 has %d overdue actions, want at least the one given", site.OverdueActions)
	}
	screenshot(t, ctx, "map-site.png")
}

// screenshot saves the browser's page as name in $SIEVE_ARTIFACT_DIR (default
// $TMPDIR/sieve-artifacts), a test artifact.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	dir := os.Getenv("SIEVE_ARTIFACT_DIR")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "sieve-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, name)
	if err := os.WriteFile(file, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the map page: %s", file)
}
