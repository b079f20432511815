package api

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// gzipped wraps a handler in Echo's gzip middleware, for the answers phones fetch on weak 4G
// (sync pages of hundreds of premises shrink several times). Short answers (errors, empty
// deltas) stay plain.
func gzipped(h echo.HandlerFunc) echo.HandlerFunc {
	return middleware.GzipWithConfig(middleware.GzipConfig{Level: 5, MinLength: 1024})(h)
}

// sync answers one page of phone sync for the caller's cells: without ?cursor= a full snapshot
// (paged, the first page has reset), with one the changes since. 410 cursor_expired when the
// cursor is older than the feed's retention.
func (s *Server) sync(c echo.Context) error {
	cursor := c.QueryParam("cursor")
	english := prefersEnglish(c.Request().Header.Get("Accept-Language"))
	// Sync runs its own read-only scoped transactions (one round trip for a delta), not read's.
	page, err := s.Changes.Sync(c.Request().Context(), s.Pool, s.actor(c), cursor, english)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, page)
}
