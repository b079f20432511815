package api

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/sieve-city/sieve/gis"
	"github.com/sieve-city/sieve/internal/apperr"
)

// This file owns reading what a request carries besides a JSON body: path ids, query parameters
// (pages, numbers, boxes, coordinate systems, enums, times), the Idempotency-Key header and
// uploaded files. A handler never parses a parameter by hand; a malformed one is always
// invalidParam's 400 (pages: invalid_cursor; ids in the path: 404).

// invalidParam is the one error for a malformed query parameter: 400 invalid_parameter, naming
// the parameter and what it should be (in English and in Chinese).
func invalidParam(name, want, wantZH string) *apperr.Error {
	return apperr.New(http.StatusBadRequest, "invalid_parameter", "invalid parameter "+name+": "+want,
		"参数 "+name+" 无效："+wantZH)
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

// page reads ?limit= and ?cursor=. Cursors are opaque to clients (see cursorAfter).
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

// cursorAfter is the cursor of the page after the item with this id.
func cursorAfter(id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("id:" + itoa(id)))
}

// queryInt64 reads an optional non-negative integer query parameter (0 when absent).
func queryInt64(c echo.Context, name string) (int64, error) {
	v := c.QueryParam(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, invalidParam(name, "a whole number", "应为非负整数")
	}
	return n, nil
}

// queryFloat reads an optional number strictly between lo and hi (0 when absent).
func queryFloat(c echo.Context, name string, lo, hi float64) (float64, error) {
	v := c.QueryParam(name)
	if v == "" {
		return 0, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= lo || f >= hi {
		between := "(" + strconv.FormatFloat(lo, 'f', -1, 64) + ", " + strconv.FormatFloat(hi, 'f', -1, 64) + ")"
		return 0, invalidParam(name, "a number in "+between, "应为 "+between+" 之间的数")
	}
	return f, nil
}

// queryTime reads an optional RFC 3339 time (zero when absent).
func queryTime(c echo.Context, name string) (time.Time, error) {
	v := c.QueryParam(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, invalidParam(name, "an RFC 3339 time", "应为 RFC 3339 格式的时间")
	}
	return t, nil
}

// queryParsed reads an optional parameter with a domain parser (a kind, a level); the parser's
// error says what is accepted. Absent gives the zero value.
func queryParsed[T any](c echo.Context, name string, parse func(string) (T, error)) (T, error) {
	var zero T
	v := c.QueryParam(name)
	if v == "" {
		return zero, nil
	}
	x, err := parse(v)
	if err != nil {
		return zero, invalidParam(name, err.Error(), "取值无效").Wrap(err)
	}
	return x, nil
}

// queryOneOf reads an optional parameter that must be one of the given words.
func queryOneOf(c echo.Context, name string, words ...string) (string, error) {
	v := c.QueryParam(name)
	if v == "" {
		return "", nil
	}
	for _, w := range words {
		if v == w {
			return v, nil
		}
	}
	return "", invalidParam(name, "one of "+strings.Join(words, ", "), "应为 "+strings.Join(words, "、")+" 之一")
}

// queryBBox reads an optional box minLon,minLat,maxLon,maxLat (WGS-84); nil when absent.
func queryBBox(c echo.Context, name string) (*[4]float64, error) {
	v := c.QueryParam(name)
	if v == "" {
		return nil, nil
	}
	parts := strings.Split(v, ",")
	var bb [4]float64
	ok := len(parts) == 4
	for i := 0; ok && i < 4; i++ {
		var err error
		bb[i], err = strconv.ParseFloat(strings.TrimSpace(parts[i]), 64)
		ok = err == nil
	}
	if !ok || bb[0] > bb[2] || bb[1] > bb[3] {
		return nil, invalidParam(name, "minLon,minLat,maxLon,maxLat (WGS-84 degrees)", "格式应为 最小经度,最小纬度,最大经度,最大纬度")
	}
	return &bb, nil
}

// queryCRS reads ?crs= (wgs84, cgcs2000, gcj02); empty means what the input declares. An unknown
// system is the domain's 422 unsupported_crs, as a crs member in a body is.
func queryCRS(c echo.Context) (gis.CRS, error) {
	v := c.QueryParam("crs")
	if v == "" {
		return "", nil
	}
	crs, err := gis.ParseCRS(v)
	if err != nil {
		return "", apperr.Invalidf("unsupported_crs", "不支持的坐标系（wgs84、cgcs2000 或 gcj02）", "%v", err)
	}
	return crs, nil
}

var errBadIdempotencyKey = apperr.New(http.StatusBadRequest, "invalid_idempotency_key",
	"Idempotency-Key must be 1-200 printable ASCII characters", "Idempotency-Key 应为 1-200 个可打印 ASCII 字符")

// idempotencyKey reads the Idempotency-Key header ("" when absent).
func idempotencyKey(c echo.Context) (string, error) {
	k := c.Request().Header.Get("Idempotency-Key")
	if k == "" {
		return "", nil
	}
	if len(k) > 200 {
		return "", errBadIdempotencyKey
	}
	for _, r := range k {
		if r < 0x20 || r > 0x7e {
			return "", errBadIdempotencyKey
		}
	}
	return k, nil
}

// contentType is the request's media type, lower case, without parameters.
func contentType(c echo.Context) string {
	mt, _, _ := strings.Cut(c.Request().Header.Get(echo.HeaderContentType), ";")
	return strings.TrimSpace(strings.ToLower(mt))
}

// readUpload reads a whole request body within the route's limit (past it, the error handler
// answers 413); an empty body is a 400.
func readUpload(c echo.Context) ([]byte, error) {
	data, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return nil, uploadError(err)
	}
	if len(bytes.TrimSpace(data[:min(len(data), 64)])) == 0 {
		return nil, errEmptyBody
	}
	return data, nil
}

// streamUpload is readUpload for a file that is read as a stream instead of held: it answers
// 400 empty_body at once when the body's first bytes are blank, and the stream it returns
// turns a failed read into what readUpload answers (413 past the route's limit, 400 for a
// broken connection).
func streamUpload(body io.Reader) (io.Reader, error) {
	br := bufio.NewReaderSize(body, 64<<10)
	head, err := br.Peek(64)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, uploadError(err)
	}
	if len(bytes.TrimSpace(head)) == 0 {
		return nil, errEmptyBody
	}
	return readerFunc(func(p []byte) (int, error) {
		n, err := br.Read(p)
		if err != nil && !errors.Is(err, io.EOF) {
			err = uploadError(err)
		}
		return n, err
	}), nil
}

// uploadError is what a failed read of an upload answers: *http.MaxBytesError as it is (the
// error handler's 413), anything else 400.
func uploadError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return err
	}
	if _, ok := apperr.As(err); ok {
		return err
	}
	return apperr.ErrBadRequest.Wrap(err)
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// multipartReader reads a multipart/form-data body through a large pooled buffer: the standard
// reader's own 4 KB buffer would move a photo in a thousand small reads, each a system call
// and a pass through the hashing and checking on the way to MinIO. Call release when done.
func multipartReader(r *http.Request) (mr *multipart.Reader, release func(), err error) {
	mt, params, err := mime.ParseMediaType(r.Header.Get(echo.HeaderContentType))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return nil, func() {}, errors.New("not multipart/form-data")
	}
	br := bufPool.Get().(*bufio.Reader)
	br.Reset(r.Body)
	return multipart.NewReader(br, params["boundary"]), func() { br.Reset(nil); bufPool.Put(br) }, nil
}

// bufPool recycles the 256 KB read buffers of uploads.
var bufPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 256<<10) }}
