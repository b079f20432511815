package api

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/sieve-city/sieve/internal/apperr"
)

const timeFormat = "2006-01-02T15:04:05Z07:00"

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// bind decodes a JSON body strictly: unknown fields and trailing data are errors (a typo in a
// field name should not be silently ignored).
func bind(c echo.Context, v any) error {
	ct := c.Request().Header.Get(echo.HeaderContentType)
	if ct != "" && !strings.HasPrefix(ct, echo.MIMEApplicationJSON) {
		return apperr.ErrUnsupportedMedia
	}
	dec := json.NewDecoder(c.Request().Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return apperr.ErrTooLarge.Wrap(err)
		}
		if errors.Is(err, io.EOF) {
			return apperr.New(http.StatusBadRequest, "empty_body", "request body is empty", "请求内容为空")
		}
		return apperr.New(http.StatusBadRequest, "malformed_json", "malformed JSON: "+err.Error(), "JSON 格式错误").Wrap(err)
	}
	if dec.More() {
		return apperr.New(http.StatusBadRequest, "malformed_json", "trailing data after JSON body", "JSON 格式错误")
	}
	return nil
}

// pathID parses an integer path parameter; a malformed id is simply not found.
func pathID(c echo.Context, name string) (int64, error) {
	id, err := strconv.ParseInt(c.Param(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, apperr.ErrNotFound
	}
	return id, nil
}

// Page is the pagination of a list: after the cursor, at most limit items.
type Page struct {
	After int64
	Limit int
}

const (
	defaultLimit = 50
	maxLimit     = 500
)

var errBadCursor = apperr.New(http.StatusBadRequest, "invalid_cursor", "invalid cursor or limit", "分页参数无效")

// page reads ?limit= and ?cursor=. Cursors are opaque to clients.
func page(c echo.Context) (Page, error) {
	p := Page{Limit: defaultLimit}
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			return p, errBadCursor
		}
		p.Limit = n
	}
	if v := c.QueryParam("cursor"); v != "" {
		b, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil {
			return p, errBadCursor
		}
		n, err := strconv.ParseInt(strings.TrimPrefix(string(b), "id:"), 10, 64)
		if err != nil || n < 0 || !strings.HasPrefix(string(b), "id:") {
			return p, errBadCursor
		}
		p.After = n
	}
	return p, nil
}

// List is the JSON shape of every list response.
type List[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"nextCursor,omitempty"`
}

// newList builds a list response; when it is full, the cursor points after the last item.
func newList[T any](items []T, p Page, id func(T) int64) List[T] {
	l := List[T]{Items: items}
	if len(items) == p.Limit && len(items) > 0 {
		l.NextCursor = base64.RawURLEncoding.EncodeToString([]byte("id:" + itoa(id(items[len(items)-1]))))
	}
	return l
}

// queryInt64 reads an optional integer query parameter.
func queryInt64(c echo.Context, name string) (int64, error) {
	v := c.QueryParam(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, apperr.Newf(http.StatusBadRequest, "invalid_parameter", "参数无效", "invalid %s", name)
	}
	return n, nil
}
