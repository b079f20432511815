package api

import (
	"context"
	"hash/fnv"
	"net/http"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/tiles"
)

// tilePath is the route of the vector tiles, outside /api/v1 (map clients ask for
// {z}/{x}/{y}.mvt). Echo names the last parameter "y.mvt" (a parameter runs to the next slash).
const tilePath = "/tiles/:layer/:z/:x/:y.mvt"

// mimeMVT is the media type of a Mapbox vector tile.
const mimeMVT = "application/vnd.mapbox-vector-tile"

// tileCoords reads z, x and y of a tile request.
func tileCoords(c echo.Context) (z, x, y int, err error) {
	parse := func(name, v string) (int, error) {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, invalidParam(name, "a whole number", "应为非负整数")
		}
		return n, nil
	}
	if z, err = parse("z", c.Param("z")); err != nil {
		return
	}
	if x, err = parse("x", c.Param("x")); err != nil {
		return
	}
	if y, err = parse("y", strings.TrimSuffix(c.Param("y.mvt"), ".mvt")); err != nil {
		return
	}
	if !tiles.ValidTile(z, x, y) {
		err = apperr.ErrNotFound
	}
	return
}

// tileETag is the tile's entity tag: a hash of the tile's change state (its layer's states in
// the cells the tile meets, see tiles.Registry.State) and the caller's area (two callers of the
// same area share tiles, of different areas never do). An edit in another township leaves it
// as it was.
func tileETag(c echo.Context, layer, state string) string {
	p := principal(c)
	h := fnv.New64a()
	h.Write([]byte(state + "|" + string(p.Role) + "|" + strings.Join(p.Scope, ",")))
	return `W/"` + layer + "-" + strconv.FormatUint(h.Sum64(), 36) + `"`
}

// getTile answers a vector tile of a layer in the caller's area: 204 when empty, 304 when the
// caller's ETag is current. Cache-Control is private: a shared cache must never hand one
// area's tile to another caller. A request without If-None-Match reads the tile and its state
// in one round trip (db.ReadBatch, the state with the caller's settings: tiles.StateLead); one
// with it reads the state first (alone, it needs no scope: tiles.StateSQL), and the tile only
// when the tag is stale.
func (s *Server) getTile(c echo.Context) error {
	layer := c.Param("layer")
	if _, err := s.Tiles.Layer(layer); err != nil {
		return err
	}
	z, x, y, err := tileCoords(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	h := c.Response().Header()
	h.Set("Cache-Control", "private, no-cache")
	h.Set("Vary", "Authorization")
	var (
		state string
		tile  []byte
		lead  *db.Lead
		b     pgx.Batch
	)
	if match := c.Request().Header.Get("If-None-Match"); match != "" {
		if state, err = s.Tiles.State(ctx, s.Pool, layer, z, x, y); err != nil {
			return err
		}
		if etag := tileETag(c, layer, state); etagMatches(match, etag) {
			h.Set("ETag", etag)
			return c.NoContent(http.StatusNotModified)
		}
	} else if lead, err = s.Tiles.StateLead(layer, z, x, y, &state); err != nil {
		return err
	}
	if err := s.Tiles.QueueTile(&b, layer, z, x, y, &tile); err != nil {
		return err
	}
	if b.Len() > 0 || lead != nil {
		if err := db.ReadBatch(ctx, s.Pool, s.actor(c), lead, &b); err != nil {
			return err
		}
	}
	h.Set("ETag", tileETag(c, layer, state))
	if len(tile) == 0 {
		return c.NoContent(http.StatusNoContent)
	}
	// With its length the tile goes out in one piece, not chunked (it is mostly over the 2 KB
	// net/http buffers before it chooses).
	h.Set(echo.HeaderContentLength, strconv.Itoa(len(tile)))
	return c.Blob(http.StatusOK, mimeMVT, tile)
}

// etagMatches reports whether an If-None-Match header names etag (or is *).
func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == strings.TrimPrefix(etag, "W/") {
			return true
		}
	}
	return false
}

// getLayer answers a layer's features in a box as GeoJSON, for GIS staff.
func (s *Server) getLayer(c echo.Context) error {
	layer := c.Param("layer")
	if _, err := s.Tiles.Layer(layer); err != nil {
		return err
	}
	bbox, err := queryBBox(c, "bbox")
	if err != nil {
		return err
	}
	if bbox == nil {
		return invalidParam("bbox", "minLon,minLat,maxLon,maxLat", "应为 最小经度,最小纬度,最大经度,最大纬度")
	}
	out, err := read(s, c, func(ctx context.Context, tx pgx.Tx) ([]byte, error) {
		return s.Tiles.GeoJSON(ctx, tx, layer, *bbox)
	})
	if err != nil {
		return err
	}
	return c.Blob(http.StatusOK, mimeGeoJSON, out)
}

// mapPage serves the map page; it logs in through the login page (the token stays in the
// browser), so the page itself needs none.
func (s *Server) mapPage(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-cache")
	return c.HTMLBlob(http.StatusOK, s.pages.Map())
}

// loginPage serves the map's login page.
func (s *Server) loginPage(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-cache")
	return c.HTMLBlob(http.StatusOK, s.pages.Login())
}

// mapAsset serves an embedded asset of the map page.
func (s *Server) mapAsset(c echo.Context) error { return s.asset(c, c.Param("file")) }

// mapVendor serves a vendored library of the map page (MapLibre GL JS).
func (s *Server) mapVendor(c echo.Context) error { return s.asset(c, "vendor/"+c.Param("file")) }

func (s *Server) asset(c echo.Context, name string) error {
	data, ct, ok := s.pages.Asset(name)
	if !ok {
		return apperr.ErrNotFound
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=3600")
	return c.Blob(http.StatusOK, ct, data)
}

// mapGlyphs answers MapLibre's glyph requests with an empty glyph set (a valid, empty
// protobuf): Chinese labels are drawn from the browser's local font (localIdeographFontFamily),
// and the page needs no other characters, so no glyph server is needed.
func (s *Server) mapGlyphs(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "public, max-age=86400")
	return c.Blob(http.StatusOK, "application/x-protobuf", nil)
}
