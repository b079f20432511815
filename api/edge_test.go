package api

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
)

// syncBuffer is a log sink that tests read while the server writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// edgeHarness is newHarness with changed dependencies (mod edits them before the server is
// built) and its log captured; served without the contract checker when raw is set (tests that
// send what no client built from the spec could).
func edgeHarness(t *testing.T, raw bool, mod func(d *Deps)) (*harness, *syncBuffer) {
	t.Helper()
	h := newHarness(t)
	logs := &syncBuffer{}
	d := h.srv.Deps
	d.Log = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	d.Registry = prometheus.NewRegistry()
	if mod != nil {
		mod(&d)
	}
	h.srv = New(d)
	var ts *httptest.Server
	if raw {
		ts = httptest.NewServer(h.srv.Handler())
		t.Cleanup(ts.Close)
	} else {
		ts = contractServer(t, h.srv.Handler())
	}
	h.url = ts.URL
	return h, logs
}

func TestBearerSchemeIsCaseInsensitive(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	tok := h.token(w.users["viewer"])
	for _, scheme := range []string{"Bearer", "bearer", "BEARER", "bEaReR"} {
		status, body, _ := h.do("GET", v1+"/me", "", "Authorization", scheme+" "+tok)
		if status != http.StatusOK {
			t.Errorf("%s: %d %s", scheme, status, body)
		}
	}
	for _, hdr := range []string{"Basic " + tok, "Bearer", "Bearer ", tok, "Bearertok " + tok} {
		if status, _, _ := h.do("GET", v1+"/me", "", "Authorization", hdr); status != http.StatusUnauthorized {
			t.Errorf("%q: %d, want 401", hdr, status)
		}
	}
}

// TestBadText: a NUL character or invalid UTF-8 in a query parameter or a JSON string is 400
// invalid_text on every route, before the handler (and the database) sees it.
func TestBadText(t *testing.T) {
	h, _ := edgeHarness(t, true, nil)
	w := h.world()
	tok := h.token(w.users["admin"])
	auth := []string{"Authorization", "Bearer " + tok, "Accept-Language", "en"}
	cases := []struct {
		name, method, path, body string
	}{
		{"NUL in a search", "GET", v1 + "/premises?q=a%00b", ""},
		{"invalid UTF-8 in a search", "GET", v1 + "/premises?q=%ff%fe", ""},
		{"NUL in a parameter name", "GET", v1 + "/regions?a%00=1", ""},
		{"NUL in a role filter", "GET", v1 + "/users?role=viewer%00", ""},
		{"NUL in a cursor", "GET", v1 + "/regions?cursor=%00", ""},
		{"NUL escaped in a JSON string", "POST", v1 + "/premises", `{"name":"a\u0000b","lon":113.5,"lat":34.2}`},
		{"NUL escaped in a JSON key", "PATCH", fmt.Sprintf("%s/users/%d", v1, w.users["viewer"].ID), `{"display\u0000Name":"x"}`},
		{"invalid UTF-8 in a JSON string", "POST", v1 + "/auth/login", "{\"username\":\"a\xff\",\"password\":\"xxxxxxxx\"}"},
		{"raw NUL in JSON", "PATCH", fmt.Sprintf("%s/users/%d", v1, w.users["viewer"].ID), "{\"displayName\":\"a\x00\"}"},
		{"NUL in an upload slot's name", "POST", v1 + "/uploads", `{"files":[{"name":"a\u0000.jpg","size":100}]}`},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader
			headers := auth
			if tt.body != "" {
				body = strings.NewReader(tt.body)
				headers = append([]string{"Content-Type", "application/json"}, auth...)
			}
			status, b, _ := h.request(tt.method, tt.path, body, headers...)
			if status != http.StatusBadRequest || !strings.Contains(b, `"code":"invalid_text"`) {
				t.Fatalf("got %d %s, want 400 invalid_text", status, b)
			}
		})
	}
	// An escaped backslash before "u0000" is ordinary text.
	status, b, _ := h.request("PATCH", fmt.Sprintf("%s/users/%d", v1, w.users["viewer"].ID),
		strings.NewReader(`{"displayName":"a\\u0000"}`), append([]string{"Content-Type", "application/json"}, auth...)...)
	if status != http.StatusOK {
		t.Fatalf("literal backslash-u0000: %d %s", status, b)
	}
	// The body is judged as the handler reads it: a request refused before (no token) is 401.
	status, b, _ = h.request("PATCH", fmt.Sprintf("%s/users/%d", v1, w.users["viewer"].ID),
		strings.NewReader(`{"displayName":"a\u0000"}`), "Content-Type", "application/json")
	if status != http.StatusUnauthorized {
		t.Fatalf("without a token: %d %s, want 401", status, b)
	}
}

// TestDatabaseDown: with PostgreSQL unreachable, API routes answer 503 database_unavailable
// with Retry-After, not 500.
func TestDatabaseDown(t *testing.T) {
	// A port nobody listens on: every connect is refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dead, err := pgxpool.New(context.Background(), "postgres://sieve:x@"+addr+"/sieve?connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dead.Close)
	h, logs := edgeHarness(t, false, func(d *Deps) { d.Pool = dead })
	for _, tt := range []struct{ method, path, body string }{
		{"POST", v1 + "/auth/login", `{"username":"coord","password":"correct horse battery"}`},
		{"GET", v1 + "/me", ""},
		{"GET", v1 + "/premises?limit=5", ""},
	} {
		status, body, hdr := h.do(tt.method, tt.path, tt.body, "Authorization", "Bearer sv_"+strings.Repeat("a", 43), "Accept-Language", "en")
		if status != http.StatusServiceUnavailable || !strings.Contains(body, `"code":"database_unavailable"`) {
			t.Errorf("%s %s: %d %s, want 503 database_unavailable", tt.method, tt.path, status, body)
		}
		if hdr.Get("Retry-After") == "" {
			t.Errorf("%s %s: no Retry-After", tt.method, tt.path)
		}
	}
	if strings.Contains(logs.String(), `"status":500`) {
		t.Errorf("a 500 was logged:\n%s", logs.String())
	}
}

// TestClientCancelled: a request whose client hangs up is logged with status 499 at info
// level, not as a failed (500) request.
func TestClientCancelled(t *testing.T) {
	h, logs := edgeHarness(t, true, nil)
	entered := make(chan struct{})
	h.srv.Echo().GET("/test/slow", func(c echo.Context) error {
		close(entered)
		<-c.Request().Context().Done()
		return fmt.Errorf("test: waiting: %w", c.Request().Context().Err())
	})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", h.url+"/test/slow", nil)
	done := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	<-entered
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("client: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), `"status":499`) {
		if time.Now().After(deadline) {
			t.Fatalf("no 499 in the log:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	out := logs.String()
	if strings.Contains(out, `"status":500`) || strings.Contains(out, `"level":"ERROR"`) {
		t.Fatalf("a cancelled request was logged as an error:\n%s", out)
	}
}

// TestShortBody: a request that declares more bytes than it sends is answered 408 when the
// body's idle timeout passes, instead of holding the handler until the client gives up.
func TestShortBody(t *testing.T) {
	h, _ := edgeHarness(t, true, func(d *Deps) { d.BodyIdleTimeout = 300 * time.Millisecond })
	tok := h.token(h.world().users["admin"])
	for _, path := range []string{v1 + "/auth/login", v1 + "/media"} {
		t.Run(path, func(t *testing.T) {
			conn, err := net.Dial("tcp", strings.TrimPrefix(h.url, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			ct := "application/json"
			if strings.HasSuffix(path, "/media") {
				ct = "multipart/form-data; boundary=x"
			}
			fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nAuthorization: Bearer %s\r\nContent-Length: 1000\r\n\r\n{\"user",
				path, ct, tok)
			start := time.Now()
			_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("no answer after %s: %v", time.Since(start), err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(b), "request_timeout") {
				t.Fatalf("got %d %s, want 408 request_timeout", resp.StatusCode, b)
			}
			if el := time.Since(start); el > 5*time.Second {
				t.Fatalf("answered after %s", el)
			}
		})
	}
}

// TestTextBodyAcrossReads: the JSON text check holds when a NUL escape or a UTF-8 sequence is
// cut between two reads, and passes good text, a literal backslash before "u0000" included.
func TestTextBodyAcrossReads(t *testing.T) {
	cases := []struct {
		body string
		bad  bool
	}{
		{`{"a":"x\u0000y"}`, true},
		{`{"a":"x\\u0000y"}`, false},
		{`{"a":"x\\\u0000y"}`, true},
		{`{"a":"\u0041\u00e9"}`, false},
		{`{"a":"火龙村"}`, false},
		{"{\"a\":\"\xe7\x81\"}", true},
		{"{\"a\":\"\xff\"}", true},
		{"{\"a\":\"\x00\"}", true},
	}
	for _, tt := range cases {
		for cut := 1; cut < len(tt.body); cut++ {
			r := &textBody{ReadCloser: io.NopCloser(&chunked{parts: []string{tt.body[:cut], tt.body[cut:]}})}
			_, err := io.ReadAll(r)
			if got := errors.Is(err, errBadText); got != tt.bad {
				t.Errorf("%q cut at %d: bad=%v, want %v (%v)", tt.body, cut, got, tt.bad, err)
			}
		}
	}
}

// chunked reads its parts one per Read.
type chunked struct{ parts []string }

func (c *chunked) Read(p []byte) (int, error) {
	if len(c.parts) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.parts[0])
	if c.parts[0] = c.parts[0][n:]; c.parts[0] == "" {
		c.parts = c.parts[1:]
	}
	return n, nil
}
