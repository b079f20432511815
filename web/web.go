// Package web holds the coordinators' map page (地图) and its login page, with every asset
// embedded in the binary: the page's HTML, script and style, and MapLibre GL JS vendored from
// the npm registry by build.sh at the version package-lock.json pins (static/vendor). Nothing is
// loaded from a CDN, so the page works without internet; Chinese labels are drawn by the
// browser from a local font (MapLibre's localIdeographFontFamily), so no glyph server is needed.
// A 天地图 base map is optional (Config.TiandituKey).
package web

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"path"
)

//go:embed static
var static embed.FS

// Config is what the page is told by the server.
type Config struct {
	// TiandituKey is the 天地图 (map.tianditu.gov.cn) browser key; empty: no base map, the page
	// shows outlines and cells on a plain background. Its Web Mercator WMTS (vec_w, cva_w) is
	// CGCS2000, which overlays WGS-84 without a shift at map scale.
	TiandituKey string `json:"tiandituKey"`
}

// Pages renders the pages and serves the assets.
type Pages struct {
	mapPage, loginPage []byte
	assets             fs.FS
}

// New renders the pages with cfg.
func New(cfg Config) (*Pages, error) {
	assets, err := fs.Sub(static, "static")
	if err != nil {
		return nil, fmt.Errorf("web: assets: %w", err)
	}
	conf, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("web: config: %w", err)
	}
	p := &Pages{assets: assets}
	for _, pg := range []struct {
		file string
		out  *[]byte
	}{{"map.html", &p.mapPage}, {"login.html", &p.loginPage}} {
		t, err := template.ParseFS(static, "static/"+pg.file)
		if err != nil {
			return nil, fmt.Errorf("web: %s: %w", pg.file, err)
		}
		var b bytes.Buffer
		if err := t.Execute(&b, map[string]any{"Config": template.JS(conf)}); err != nil {
			return nil, fmt.Errorf("web: %s: %w", pg.file, err)
		}
		*pg.out = b.Bytes()
	}
	return p, nil
}

// Map is the map page's HTML.
func (p *Pages) Map() []byte { return p.mapPage }

// Login is the login page's HTML.
func (p *Pages) Login() []byte { return p.loginPage }

// Asset returns an embedded asset by file name (app.js, vendor/maplibre-gl.js ...) and its
// content type; ok is false for a name that is not an asset.
func (p *Pages) Asset(name string) (data []byte, contentType string, ok bool) {
	name = path.Clean("/" + name)[1:]
	if name == "" || path.Ext(name) == ".html" {
		return nil, "", false
	}
	data, err := fs.ReadFile(p.assets, name)
	if err != nil {
		return nil, "", false
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	return data, ct, true
}
