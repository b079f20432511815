package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/sieve-city/sieve/imagery"
	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/media"
	"github.com/sieve-city/sieve/internal/sites"
	"github.com/sieve-city/sieve/internal/throttle"
	"github.com/sieve-city/sieve/internal/tips"
)

// Public tips (举报), their handling and rewards, and the credit listing (issue 14). The public
// routes (POST /tips, GET /tips/{code}) take no login; the handlers' routes live under
// /tip-cases and /credit-listings.

// tipBody gives POST /tips the tips' body limit (fields and photos) instead of the JSON limit.
func tipBody(s *Server, key string) { s.limits[key] = s.Tips.Config().BodyLimit }

// deviceHeader and deviceCookie carry a client's device id for the tips' rate limits: an app
// sends the header (a stable id of 8-128 printable characters); a browser gets the cookie on
// its first tip and sends it back. Without either, only the client address is limited.
const (
	deviceHeader = "X-Device-Id"
	deviceCookie = "sieve_device"
)

// deviceID reads the client's device id, or gives a browser a new one in a cookie.
func deviceID(c echo.Context) string {
	if d := strings.TrimSpace(c.Request().Header.Get(deviceHeader)); printable(d, 8, 128) {
		return d
	}
	if ck, err := c.Cookie(deviceCookie); err == nil && printable(ck.Value, 8, 128) {
		return ck.Value
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	c.SetCookie(&http.Cookie{Name: deviceCookie, Value: id, Path: v1 + "/tips", MaxAge: 365 * 24 * 3600,
		HttpOnly: true, SameSite: http.SameSiteLaxMode})
	return id
}

func printable(s string, lo, hi int) bool {
	if len(s) < lo || len(s) > hi {
		return false
	}
	for _, r := range s {
		if r < 0x21 || r > 0x7e {
			return false
		}
	}
	return true
}

// retryAfter sets Retry-After for a refusal of the one throttle (internal/throttle): logins
// and tips.
func retryAfter(c echo.Context, th throttle.ErrThrottled) {
	c.Response().Header().Set("Retry-After", itoa(th.RetrySeconds()))
}

type tipReceipt struct {
	TrackingCode string    `json:"trackingCode"`
	Status       string    `json:"status"`
	ReceivedAt   time.Time `json:"receivedAt"`
}

// postTip takes a tip from the public, without login: JSON, or multipart/form-data with the
// same fields as form fields and up to MaxPhotos parts named photo. It is rate-limited per
// client address and device (429 too_many_tips with Retry-After) before any byte of the body
// is read. The answer (201) holds the tracking code, shown this once.
func (s *Server) postTip(c echo.Context) error {
	ctx := c.Request().Context()
	in, err := s.Tips.Begin(ctx, tips.Client{Addr: c.RealIP(), Device: deviceID(c)})
	var th tips.Throttled
	if errors.As(err, &th) {
		retryAfter(c, th.ErrThrottled)
		return err
	}
	if err != nil {
		return err
	}
	done := false
	defer func() {
		if !done {
			in.Abort(serverFault(err))
		}
	}()
	var sub tips.Submission
	switch contentType(c) {
	case "multipart/form-data":
		sub, err = s.readTipForm(ctx, c, in)
	default:
		// A JSON tip is fields only: the JSON body limit, not the photos' (memory stays bounded).
		c.Request().Body = http.MaxBytesReader(c.Response(), c.Request().Body, s.BodyLimit)
		err = bind(c, &sub)
	}
	if err != nil {
		return err
	}
	code, t, err := in.Submit(ctx, sub, c.Response().Header().Get(echo.HeaderXRequestID))
	if err != nil {
		return err
	}
	done = true
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusCreated, tipReceipt{TrackingCode: code, Status: t.Status.Public(), ReceivedAt: t.CreatedAt})
}

// serverFault reports whether err is the server's failure rather than the client's.
func serverFault(err error) bool {
	if err == nil {
		return false
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return false
	}
	e, ok := apperr.As(err)
	return !ok || e.Status >= 500
}

var errTipField = apperr.New(http.StatusBadRequest, "invalid_field", "a form field is too long or unknown", "表单字段过长或无法识别")

// readTipForm reads a multipart tip: its text fields and its photos, each photo checked and
// stored as it streams (Intake.AddPhoto).
func (s *Server) readTipForm(ctx context.Context, c echo.Context, in *tips.Intake) (tips.Submission, error) {
	var sub tips.Submission
	mr, release, err := multipartReader(c.Request())
	defer release()
	if err != nil {
		return sub, media.ErrNotMultipart.Wrap(err)
	}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return sub, nil
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return sub, err
			}
			return sub, media.ErrUploadInterrupted.Wrap(err)
		}
		name := part.FormName()
		if name == "photo" {
			if err := in.AddPhoto(ctx, part); err != nil {
				return sub, err
			}
			continue
		}
		b, err := io.ReadAll(io.LimitReader(part, 8<<10+1))
		if err != nil {
			return sub, media.ErrUploadInterrupted.Wrap(err)
		}
		if len(b) > 8<<10 {
			return sub, errTipField
		}
		v := string(b)
		num := func(dst **float64) error {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return invalidParam(name, "a number of degrees", "应为经纬度数值")
			}
			*dst = &f
			return nil
		}
		switch name {
		case "description":
			sub.Description = v
		case "address":
			sub.Address = v
		case "crs":
			sub.CRS = v
		case "name":
			sub.Name = v
		case "phone":
			sub.Phone = v
		case "lon":
			err = num(&sub.Lon)
		case "lat":
			err = num(&sub.Lat)
		default:
			err = errTipField
		}
		if err != nil {
			return sub, err
		}
	}
}

// getTipStatus answers the public status of a tip by its tracking code: status and public
// note only. A wrong code is 404 after the same single lookup as a right one.
func (s *Server) getTipStatus(c echo.Context) error {
	out, err := s.Tips.Status(c.Request().Context(), c.Param("code"))
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, out)
}

// listTips answers a page of the tips in the caller's area (never contact details).
func (s *Server) listTips(c echo.Context) error {
	p, err := page(c)
	if err != nil {
		return err
	}
	st, err := queryOneOf(c, "status", words(tips.Statuses)...)
	if err != nil {
		return err
	}
	list, err := read(s, c, func(ctx context.Context, tx pgx.Tx) ([]tips.Tip, error) {
		return s.Tips.Store.List(ctx, tx, tips.Filter{Status: tips.Status(st), After: p.After, Limit: p.Limit})
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, newList(list, p, func(x tips.Tip) int64 { return x.ID }))
}

// tipFound looks tip id up in the caller's scope.
func (s *Server) tipFound(id int64) found {
	return func(ctx context.Context, tx pgx.Tx) error {
		_, err := s.Tips.Store.Get(ctx, tx, id)
		return err
	}
}

// getTip answers a tip with its photos and history.
func (s *Server) getTip(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	out, err := read(s, c, func(ctx context.Context, tx pgx.Tx) (tips.Detail, error) { return s.Tips.Detail(ctx, tx, id) })
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

// moveTip moves a tip by its workflow: verify (valid / invalid / duplicate), propose the
// reward with the fine, and the city's approval and payment (each move's permission is in
// internal/tips transitions.go).
func (s *Server) moveTip(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	p := principal(c)
	out, err := writeFound(s, c, s.tipFound(id), func(ctx context.Context, tx pgx.Tx, m tips.Move) (tips.Tip, error) {
		return s.Tips.Move(ctx, tx, id, m, tips.Caller{UserID: p.UserID, Role: p.Role})
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

// tipToSite opens a suspected site from a valid tip (source tip).
func (s *Server) tipToSite(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	by := principal(c).UserID
	out, err := writeFound(s, c, s.tipFound(id), func(ctx context.Context, tx pgx.Tx, n sites.NewSite) (sites.Site, error) {
		return s.Tips.ToSite(ctx, tx, id, n, by)
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, out)
}

// getTipContact answers the reporter's name and phone, for those handling rewards only
// (route permission and row-level security both).
func (s *Server) getTipContact(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	out, err := read(s, c, func(ctx context.Context, tx pgx.Tx) (tips.Contact, error) { return s.Tips.Store.Contact(ctx, tx, id) })
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "private, no-store")
	return c.JSON(http.StatusOK, out)
}

// getTipPhoto streams a tip's photo (tips' photos are not media: no presigned URL).
func (s *Server) getTipPhoto(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	photoID, err := pathID(c, "photoId")
	if err != nil {
		return err
	}
	type opened struct {
		p tips.Photo
		r io.ReadCloser
	}
	o, err := read(s, c, func(ctx context.Context, tx pgx.Tx) (opened, error) {
		p, r, err := s.Tips.Photo(ctx, tx, id, photoID)
		return opened{p, r}, err
	})
	if err != nil {
		return err
	}
	defer o.r.Close()
	c.Response().Header().Set("Cache-Control", "private, no-store")
	c.Response().Header().Set(echo.HeaderContentLength, itoa(o.p.Size))
	return c.Stream(http.StatusOK, imagery.Format(o.p.Format).MIMEType(), o.r)
}

// listCreditListings answers a page of the credit-listing proposals in the caller's area.
func (s *Server) listCreditListings(c echo.Context) error {
	p, err := page(c)
	if err != nil {
		return err
	}
	st, err := queryOneOf(c, "status", words(tips.ListingStatuses)...)
	if err != nil {
		return err
	}
	list, err := read(s, c, func(ctx context.Context, tx pgx.Tx) ([]tips.Listing, error) {
		return s.Tips.Store.Listings(ctx, tx, tips.ListingFilter{Status: tips.ListingStatus(st), After: p.After, Limit: p.Limit})
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, newList(list, p, func(x tips.Listing) int64 { return x.ID }))
}

// proposeCreditListing proposes a closed case's responsible person for listing.
func (s *Server) proposeCreditListing(c echo.Context) error {
	var req tips.NewListing
	if err := bind(c, &req); err != nil {
		return err
	}
	by := principal(c).UserID
	out, err := write(s, c, func(ctx context.Context, tx pgx.Tx) (tips.Listing, error) {
		return s.Tips.ProposeListing(ctx, tx, req, by)
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, out)
}

// decideCreditListing is the city's decision on a proposal.
func (s *Server) decideCreditListing(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	p := principal(c)
	lookup := func(ctx context.Context, tx pgx.Tx) error { _, err := s.Tips.Store.Listing(ctx, tx, id); return err }
	out, err := writeFound(s, c, lookup, func(ctx context.Context, tx pgx.Tx, d tips.Decision) (tips.Listing, error) {
		return s.Tips.DecideListing(ctx, tx, id, d, tips.Caller{UserID: p.UserID, Role: p.Role})
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

// exportCreditRegister answers the register of approved listings as CSV (UTF-8 with BOM) or
// XLSX, for the credit system.
func (s *Server) exportCreditRegister(c echo.Context) error {
	format, err := queryOneOf(c, "format", "csv", "xlsx")
	if err != nil {
		return err
	}
	if format == "" {
		format = "xlsx"
	}
	data, err := read(s, c, func(ctx context.Context, tx pgx.Tx) ([]byte, error) {
		var b bytes.Buffer
		if format == "csv" {
			err := s.Tips.ExportCSV(ctx, tx, &b)
			return b.Bytes(), err
		}
		err := s.Tips.ExportXLSX(ctx, tx, &b)
		return b.Bytes(), err
	})
	if err != nil {
		return err
	}
	name, ct := "credit-register.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	if format == "csv" {
		name, ct = "credit-register.csv", "text/csv; charset=utf-8"
	}
	c.Response().Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	c.Response().Header().Set("Cache-Control", "private, no-store")
	return c.Blob(http.StatusOK, ct, data)
}
