package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/sieve-city/sieve/internal/ledgers"
	"github.com/sieve-city/sieve/internal/reports"
)

// getLedger answers one of the seed's forms as a download (issue 13): 附件2 (illegal), 附件3
// (exited) or 附件1 (exited_list) of ?township= (absent: the caller's own township, or the whole
// city for the city office; 0: the whole city) for ?month=YYYY-MM (absent: this month) as
// ?format=xlsx (default) or csv. Another township is 404, like any object out of scope.
// ?photos=true (附件2 only) asks for the photo appendix (照片附件): always a background export,
// answered 202 with the export as POST /exports answers it (poll GET /exports/{id}).
func (s *Server) getLedger(kind ledgers.Kind) echo.HandlerFunc {
	return func(c echo.Context) error {
		township, err := queryInt64(c, "township")
		if err != nil {
			return err
		}
		month := c.QueryParam("month")
		if month == "" {
			month = s.Ledgers.ThisMonth()
		}
		photos, err := queryOneOf(c, "photos", "true", "false")
		if err != nil {
			return err
		}
		if photos == "true" {
			return s.ledgerExport(c, kind, township, month)
		}
		f, err := read(s, c, func(ctx context.Context, tx pgx.Tx) (ledgers.File, error) {
			svc := s.Ledgers.In(tx)
			if c.QueryParam("township") == "" {
				if township, err = svc.Home(ctx); err != nil {
					return ledgers.File{}, err
				}
			}
			return svc.Render(ctx, ledgers.Request{Kind: kind, TownshipID: township, Month: month,
				Format: c.QueryParam("format")})
		})
		if err != nil {
			return err
		}
		c.Response().Header().Set(echo.HeaderContentDisposition, attachment(f.Name, fmt.Sprintf("ledger-%s-%s%s",
			strings.ReplaceAll(string(kind), "_", "-"), month, f.Name[strings.LastIndexByte(f.Name, '.'):])))
		c.Response().Header().Set(echo.HeaderCacheControl, "private, no-store")
		return c.Blob(http.StatusOK, f.ContentType, f.Body)
	}
}

// ledgerExport starts the background export of a ledger with its photo appendix: of ?township=
// (absent: the caller's own, or the whole city for the city office). The same request again
// while that export is being made answers it (reports.Service.RequestExport).
func (s *Server) ledgerExport(c echo.Context, kind ledgers.Kind, township int64, month string) error {
	svc, err := s.reports()
	if err != nil {
		return err
	}
	key, err := idempotencyKey(c)
	if err != nil {
		return err
	}
	if c.QueryParam("township") == "" {
		if township, err = read(s, c, func(ctx context.Context, tx pgx.Tx) (int64, error) {
			return s.Ledgers.In(tx).Home(ctx)
		}); err != nil {
			return err
		}
	}
	e, _, err := svc.RequestExport(c.Request().Context(), s.actor(c), reports.ExportRequest{Kind: string(kind),
		TownshipID: township, Month: month, Format: c.QueryParam("format"), Photos: true}, key)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, v1+"/exports/"+itoa(e.ID))
	c.Response().Header().Set(echo.HeaderCacheControl, "private, no-store")
	return c.JSON(http.StatusAccepted, e)
}

// attachment is a Content-Disposition naming a download: the UTF-8 name in RFC 5987's
// filename* (every browser since 2011 reads it) and an ASCII name for older clients.
func attachment(name, ascii string) string {
	var b strings.Builder
	for _, c := range []byte(name) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.IndexByte("!#$&+-.^_`|~", c) >= 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return fmt.Sprintf(`attachment; filename="%s"; filename*=UTF-8''%s`, ascii, b.String())
}

// The three forms' handlers (routes.go names them).
func (s *Server) getIllegalLedger(c echo.Context) error { return s.getLedger(ledgers.Illegal)(c) }
func (s *Server) getExitedLedger(c echo.Context) error  { return s.getLedger(ledgers.Exited)(c) }
func (s *Server) getExitedList(c echo.Context) error    { return s.getLedger(ledgers.ExitedList)(c) }
