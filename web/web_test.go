package web

import (
	"bytes"
	"strings"
	"testing"
)

// TestPagesAndAssets checks that the pages render with their config, that every asset they
// load is embedded (nothing comes from another host) and that pages are not served as assets.
func TestPagesAndAssets(t *testing.T) {
	p, err := New(Config{TiandituKey: "k123"})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(p.Map(), []byte(`"tiandituKey":"k123"`)) || !bytes.Contains(p.Map(), []byte("lang=\"zh-CN\"")) {
		t.Errorf("map page without its config or language:\n%s", p.Map())
	}
	for _, page := range [][]byte{p.Map(), p.Login()} {
		if bytes.Contains(page, []byte("http://")) || bytes.Contains(page, []byte("https://")) {
			t.Errorf("a page loads something from another host:\n%s", page)
		}
	}
	for _, a := range []string{"app.js", "app.css", "login.js", "vendor/maplibre-gl.js", "vendor/maplibre-gl.css"} {
		data, ct, ok := p.Asset(a)
		if !ok || len(data) == 0 {
			t.Errorf("asset %s missing", a)
		}
		if strings.HasSuffix(a, ".js") && !strings.Contains(ct, "javascript") {
			t.Errorf("asset %s served as %s", a, ct)
		}
	}
	if _, _, ok := p.Asset("map.html"); ok {
		t.Error("a page is served as an asset")
	}
	if _, _, ok := p.Asset("../web.go"); ok {
		t.Error("a path outside the assets is served")
	}
}
