package api

import (
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

// errEmptyBody answers a request whose body is empty or blank.
var errEmptyBody = apperr.New(http.StatusBadRequest, "empty_body", "request body is empty", "请求内容为空")

// words is a list of a domain's named values as the strings a query parameter may take.
func words[T ~string](xs []T) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = string(x)
	}
	return out
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// createdOrSame answers v with 201 when the request made it, and 200 when it was there already
// (the same request again: an Idempotency-Key, or the same content).
func createdOrSame(c echo.Context, created bool, v any) error {
	if created {
		return c.JSON(http.StatusCreated, v)
	}
	return c.JSON(http.StatusOK, v)
}

// bind decodes a JSON body strictly: unknown fields and trailing data are errors (a typo in a
// field name should not be silently ignored). A body past the route's limit comes back as the
// reader's *http.MaxBytesError, which the error handler answers with 413.
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
			return err
		}
		if errors.Is(err, io.EOF) {
			return errEmptyBody
		}
		return apperr.New(http.StatusBadRequest, "malformed_json", "malformed JSON: "+err.Error(), "JSON 格式错误").Wrap(err)
	}
	if dec.More() {
		return apperr.New(http.StatusBadRequest, "malformed_json", "trailing data after JSON body", "JSON 格式错误")
	}
	return nil
}

// List is the JSON shape of every list response (components/schemas/List in the spec); GeoJSON
// lists are a featureCollection instead.
type List[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"nextCursor,omitempty"`
}

// newList builds a list response; when it is full, the cursor points after the last item.
func newList[T any](items []T, p Page, id func(T) int64) List[T] {
	if items == nil {
		items = []T{}
	}
	l := List[T]{Items: items}
	if len(items) == p.Limit && len(items) > 0 {
		l.NextCursor = cursorAfter(id(items[len(items)-1]))
	}
	return l
}
