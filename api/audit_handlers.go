package api

import (
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/sieve-city/sieve/internal/apperr"
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
	if v := c.QueryParam("since"); v != "" {
		if f.Since, err = time.Parse(time.RFC3339, v); err != nil {
			return apperr.New(http.StatusBadRequest, "invalid_parameter", "since must be RFC 3339", "since 参数格式错误")
		}
	}
	var entries []audit.Entry
	err = s.readInScope(c, func(tx pgx.Tx) error {
		entries, err = audit.List(c.Request().Context(), tx, f)
		return err
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, newList(entries, p, func(e audit.Entry) int64 { return e.ID }))
}
