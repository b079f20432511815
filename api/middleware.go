package api

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sieve-city/sieve/internal/apperr"
)

// middleware is the chain every request passes, outermost first.
func (s *Server) middleware() []echo.MiddlewareFunc {
	return []echo.MiddlewareFunc{
		middleware.RequestID(),
		s.observe,
		middleware.RecoverWithConfig(middleware.RecoverConfig{
			// The stack goes to the log via the error; the client gets a bare 500.
			LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
				s.Log.Error("panic", "request_id", c.Response().Header().Get(echo.HeaderXRequestID),
					"err", err, "stack", string(stack))
				return err
			},
		}),
		s.limitBody,
		s.checkText,
	}
}

// statusClientClosed is what the log and the metrics say of a request whose client went away
// before it was answered (nginx's 499): nothing failed on our side, and nobody reads the answer.
const statusClientClosed = 499

// observe logs each request and records its count and latency by route and status.
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		// A client that hung up while its request ran shows up as a cancelled context (and a
		// handler error saying so): it is logged as such (499, handleError logs no failure), not
		// as a server error. (A body read that timed out cancels the context too, but that
		// client waits for its 408.)
		cancelled := err != nil && !c.Response().Committed && clientGone(c, err)
		if err != nil {
			c.Error(err) // write the response now, so the status below is the real one
		}
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		status := c.Response().Status
		if cancelled {
			status = statusClientClosed
		}
		elapsed := time.Since(start)
		s.metrics.requests.WithLabelValues(c.Request().Method, route, strconv.Itoa(status)).Inc()
		s.metrics.duration.WithLabelValues(c.Request().Method, route, strconv.Itoa(status)).Observe(elapsed.Seconds())
		if route != "/healthz" && route != "/readyz" && route != "/metrics" {
			s.Log.LogAttrs(c.Request().Context(), levelFor(status), "request",
				slog.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)),
				slog.String("method", c.Request().Method),
				slog.String("route", route),
				slog.String("uri", c.Request().RequestURI),
				slog.Int("status", status),
				slog.Int64("bytes_out", c.Response().Size),
				slog.Duration("latency", elapsed),
				slog.String("remote", c.RealIP()),
			)
		}
		return nil
	}
}

// clientGone reports whether the request failed because its client went away.
func clientGone(c echo.Context, err error) bool {
	return errors.Is(c.Request().Context().Err(), context.Canceled) && !errors.Is(err, os.ErrDeadlineExceeded)
}

func levelFor(status int) slog.Level {
	switch {
	case status == statusClientClosed:
		return slog.LevelInfo
	case status == http.StatusServiceUnavailable:
		return slog.LevelWarn
	case status >= 500:
		return slog.LevelError
	case status >= 400:
		return slog.LevelInfo
	default:
		return slog.LevelDebug
	}
}

// limitBody refuses bodies over the route's limit (the JSON body limit, or what the route's
// line in routes.go gives it): at once when Content-Length says so, otherwise when reading
// passes the limit (the handler then fails with *http.MaxBytesError, which the error handler
// maps to 413).
func (s *Server) limitBody(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		limit, ok := s.limits[c.Request().Method+" "+c.Path()]
		if !ok {
			limit = s.BodyLimit
		}
		req := c.Request()
		if req.ContentLength > limit {
			return echo.NewHTTPError(http.StatusRequestEntityTooLarge)
		}
		req.Body = http.MaxBytesReader(c.Response(), req.Body, limit)
		if s.BodyIdleTimeout > 0 && req.Body != http.NoBody {
			b := &idleBody{ReadCloser: req.Body, rc: http.NewResponseController(c.Response()), idle: s.BodyIdleTimeout}
			if s.ReadTimeout > 0 {
				b.end = time.Now().Add(s.ReadTimeout)
			}
			req.Body = b
		}
		return next(c)
	}
}

// idleBody gives every read of a request body idle seconds to bring something: a client that
// declared more bytes than it sends, or stalls, gets 408 then (errRequestTimeout) instead of
// holding a handler and its buffers until the server's whole-request timeout. The deadline is
// the connection's (http.ResponseController), so a blocked read returns when it passes, and
// never later than end (the server's whole-request ReadTimeout, which it replaces); the next
// request on the connection gets the server's own deadlines again.
type idleBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	idle time.Duration
	end  time.Time // zero: none
}

func (b *idleBody) Read(p []byte) (int, error) {
	d := time.Now().Add(b.idle)
	if !b.end.IsZero() && b.end.Before(d) {
		d = b.end
	}
	// Not every ResponseWriter can set deadlines (tests' recorders): then the server's
	// ReadTimeout alone applies.
	_ = b.rc.SetReadDeadline(d)
	return b.ReadCloser.Read(p)
}

// withIdle gives one request's body a tighter idle limit, for a route whose bodies need one
// (POST /media: SIEVE_UPLOAD_IDLE_TIMEOUT), through the same idleBody: the shorter of the two
// limits holds. Zero idle leaves the body as it is.
func withIdle(c echo.Context, idle, total time.Duration) {
	if idle <= 0 {
		return
	}
	req := c.Request()
	if b, ok := req.Body.(*idleBody); ok {
		b.idle = min(b.idle, idle)
		return
	}
	b := &idleBody{ReadCloser: req.Body, rc: http.NewResponseController(c.Response()), idle: idle}
	if total > 0 {
		b.end = time.Now().Add(total)
	}
	req.Body = b
}

// errRequestTimeout answers a request whose body stopped coming (idleBody).
var errRequestTimeout = apperr.New(http.StatusRequestTimeout, "request_timeout",
	"the request body stopped arriving before it was complete", "请求内容未能按时传完，请重试")

// errBadText refuses text that PostgreSQL cannot store and no field means: NUL characters and
// bytes that are not UTF-8.
var errBadText = apperr.New(http.StatusBadRequest, "invalid_text",
	"text must be valid UTF-8 without NUL characters", "文本须为有效的UTF-8编码，且不能包含空字符(NUL)")

// checkText refuses, for every route and before any handler sees it, a path, query parameter or
// JSON string that holds a NUL character or invalid UTF-8 (400 invalid_text). Query and path
// are judged at once; a JSON body as it is read (textBody), so nothing is buffered here and a
// request refused before its body is read (401, 404) never has it read. Routes that take files
// are judged so when they send JSON (GeoJSON imports); their other formats reach PostgreSQL,
// whose refusal of such text db.MapError maps to the same answer.
func (s *Server) checkText(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if badText(req.URL.Path) {
			return errBadText
		}
		if req.URL.RawQuery != "" {
			// A malformed escape is left to the parameter parsers, which name the parameter.
			if q, err := url.ParseQuery(req.URL.RawQuery); err == nil {
				for k, vs := range q {
					if badText(k) {
						return errBadText
					}
					for _, v := range vs {
						if badText(v) {
							return errBadText.WithDetails(map[string]string{"parameter": k})
						}
					}
				}
			}
		}
		_, files := s.limits[req.Method+" "+c.Path()]
		if jsonBody(req, files) {
			req.Body = &textBody{ReadCloser: req.Body}
		}
		return next(c)
	}
}

// jsonBody reports whether req carries a body that is JSON: declared so, or (on routes that do
// not take files) undeclared, which bind reads as JSON.
func jsonBody(req *http.Request, files bool) bool {
	if req.Body == nil || req.Body == http.NoBody || req.ContentLength == 0 {
		return false
	}
	ct := strings.ToLower(req.Header.Get(echo.HeaderContentType))
	return (ct == "" && !files) || strings.HasPrefix(ct, echo.MIMEApplicationJSON) || strings.HasPrefix(ct, "application/geo+json")
}

// textBody passes a JSON body through and fails its read with errBadText at the first NUL
// character (a raw byte, or the escape \u0000 in a string) or invalid UTF-8 sequence. It keeps
// the state it needs across reads: an escape begun, the start of a UTF-8 sequence.
type textBody struct {
	io.ReadCloser
	carry []byte // the start of a UTF-8 sequence that the last read cut
	esc   bool   // the last byte was a backslash that begins an escape
	u     int    // bytes of "u0000" matched after an escape's backslash
	err   error
}

var nulEscape = []byte("u0000")

func (b *textBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.ReadCloser.Read(p)
	if bad := b.check(p[:n], errors.Is(err, io.EOF)); bad {
		b.err = errBadText
		return 0, b.err
	}
	return n, err
}

// check judges the next bytes of the body; eof says they are the last.
func (b *textBody) check(p []byte, eof bool) bool {
	for _, c := range p {
		switch {
		case c == 0:
			return true
		case b.u > 0:
			if c != nulEscape[b.u] {
				b.u = 0
				continue
			}
			if b.u++; b.u == len(nulEscape) {
				return true
			}
		case b.esc:
			b.esc = false
			if c == 'u' {
				b.u = 1
			}
		case c == '\\':
			b.esc = true
		}
	}
	buf := append(b.carry, p...)
	b.carry = nil
	// Hold back an incomplete sequence at the end for the next read.
	for i := len(buf) - 1; i >= 0 && i >= len(buf)-utf8.UTFMax; i-- {
		if utf8.RuneStart(buf[i]) {
			if !utf8.FullRune(buf[i:]) {
				b.carry = append([]byte(nil), buf[i:]...)
				buf = buf[:i]
			}
			break
		}
	}
	if eof && len(b.carry) > 0 {
		return true
	}
	return !utf8.Valid(buf)
}

func badText(s string) bool { return strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s) }

// httpMetrics are the Prometheus series of the HTTP layer.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg *prometheus.Registry) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sieve_http_requests_total",
			Help: "HTTP requests by method, route and status.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sieve_http_request_duration_seconds",
			Help:    "HTTP request latency by method, route and status.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"method", "route", "status"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}
