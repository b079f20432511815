package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
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
// cell; it saves a screenshot (the path is in the log).
func TestMapPageInBrowser(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	h.mapWorld(w)
	h.coverageWorld(w)
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
	file := filepath.Join(dir, "map-page.png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the map page: %s", file)
}
