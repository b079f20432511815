package api

import (
	"context"
	"net/http"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/sieve-city/sieve/internal/audit"
)

// listAudit shows the audit log of the caller's area, newest first.
func (s *Server) listAudit(c echo.Context) error {
	p, err := page(c)
	if err != nil {
		return err
	}
	uid, err := queryInt64(c, "user")
	if err != nil {
		return err
	}
	f := audit.Filter{Entity: c.QueryParam("entity"), EntityID: c.QueryParam("entityId"), UserID: uid,
		Before: p.After, Limit: p.Limit}
	if f.Since, err = queryTime(c, "since"); err != nil {
		return err
	}
	entries, err := read(s, c, func(ctx context.Context, tx pgx.Tx) ([]audit.Entry, error) {
		return audit.List(ctx, tx, f)
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, newList(entries, p, func(e audit.Entry) int64 { return e.ID }))
}
