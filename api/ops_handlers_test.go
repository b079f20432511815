package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/blob"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/testenv"
)

func TestOperations(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		name, path string
		status     int
		contains   string
	}{
		{"healthz", "/healthz", 200, `"status":"ok"`},
		{"readyz", "/readyz", 200, `"postgres":"ok"`},
		{"openapi", "/openapi.yaml", 200, "openapi: 3"},
		{"docs", "/docs", 200, "/readyz"},
		{"unknown route", "/api/v1/nowhere", 404, `"code":"route_not_found"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, _ := h.do("GET", tt.path, "")
			if status != tt.status || !strings.Contains(body, tt.contains) {
				t.Fatalf("GET %s = %d %s; want %d containing %q", tt.path, status, body, tt.status, tt.contains)
			}
		})
	}
	t.Run("metrics count requests by route and status", func(t *testing.T) {
		_, body, _ := h.do("GET", "/metrics", "")
		for _, want := range []string{
			`sieve_http_requests_total{method="GET",route="/healthz",status="200"} 1`,
			`sieve_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
			`sieve_http_request_duration_seconds_bucket{method="GET",route="/readyz",status="200",le=`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("metrics lack %s", want)
			}
		}
	})
}

func TestErrorShape(t *testing.T) {
	h := newHarness(t)
	// Extra routes on this server only, to drive the error handler.
	h.srv.Echo().GET("/test/panic", func(c echo.Context) error { panic("secret internal detail") })
	h.srv.Echo().GET("/test/plain-error", func(c echo.Context) error {
		return errors.New("pq: password authentication failed for user sieve")
	})
	h.srv.Echo().POST("/test/body", func(c echo.Context) error {
		var v map[string]any
		if err := json.NewDecoder(c.Request().Body).Decode(&v); err != nil {
			return err
		}
		return c.NoContent(204)
	})
	h.srv.Echo().GET("/test/domain", func(c echo.Context) error {
		return apperr.ErrConflict.Wrap(errors.New("duplicate key value violates unique constraint"))
	})

	big := `{"x":"` + strings.Repeat("a", 70<<10) + `"}`
	tests := []struct {
		name, method, path, body, lang string
		status                         int
		code, message                  string
	}{
		{"panic is a bare 500", "GET", "/test/panic", "", "en", 500, "internal", "internal error"},
		{"unknown error is a bare 500", "GET", "/test/plain-error", "", "en", 500, "internal", "internal error"},
		{"oversized body is 413", "POST", "/test/body", big, "en", 413, "payload_too_large", ""},
		{"domain error keeps its code", "GET", "/test/domain", "", "zh-CN,zh;q=0.9", 409, "conflict", "与现有数据冲突"},
		{"chinese by default", "GET", "/nowhere", "", "", 404, "route_not_found", "接口不存在"},
		{"english when asked", "GET", "/nowhere", "", "en-US,en;q=0.9", 404, "route_not_found", "no such route"},
		{"wrong method", "POST", "/healthz", "", "en", 405, "method_not_allowed", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, hdr := h.do(tt.method, tt.path, tt.body, "Accept-Language", tt.lang)
			if status != tt.status {
				t.Fatalf("status %d, want %d: %s", status, tt.status, body)
			}
			var e errorBody
			if err := json.Unmarshal([]byte(body), &e); err != nil {
				t.Fatalf("body is not the error shape: %s", body)
			}
			if e.Error.Code != tt.code || (tt.message != "" && e.Error.Message != tt.message) {
				t.Fatalf("got %+v, want code %s message %q", e.Error, tt.code, tt.message)
			}
			for _, leak := range []string{"secret internal detail", "password", "duplicate key"} {
				if strings.Contains(body, leak) {
					t.Fatalf("response leaks %q: %s", leak, body)
				}
			}
			if hdr.Get(echo.HeaderXRequestID) == "" {
				t.Fatal("no request id")
			}
		})
	}
}

// TestReadinessFollowsServices takes PostgreSQL and MinIO away (a proxy in front of the real
// servers is cut) and brings them back, without restarting the API.
func TestReadinessFollowsServices(t *testing.T) {
	dbURL := testenv.DatabaseURL(t)
	bcfg := testenv.BlobConfig(t)

	pgProxy := testenv.NewProxy(t, hostPort(t, dbURL))
	s3Proxy := testenv.NewProxy(t, bcfg.Endpoint)

	ctx := context.Background()
	pool, err := db.Open(ctx, strings.Replace(dbURL, hostPort(t, dbURL), pgProxy.Addr, 1), 4)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	bcfg.Endpoint = s3Proxy.Addr
	store, err := blob.New(bcfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.EnsureBuckets(ctx); err != nil {
		t.Fatal(err)
	}
	defer store.Client.RemoveBucket(ctx, bcfg.BucketMedia)   //nolint:errcheck
	defer store.Client.RemoveBucket(ctx, bcfg.BucketDerived) //nolint:errcheck

	s := New(Deps{Log: testenv.Logger(), Registry: prometheus.NewRegistry(), BodyLimit: 1 << 20, UploadLimit: 1 << 20,
		Checks: []Check{{Name: "postgres", Ping: pool.Ping}, {Name: "minio", Ping: store.Ping}}})
	ts := contractServer(t, s.Handler())

	ready := func() (int, map[string]string) {
		resp, err := http.Get(ts.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct{ Checks map[string]string }
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, body.Checks
	}
	healthy := func() int {
		resp, err := http.Get(ts.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// eventually polls readyz until want holds; recovery waits on connection retries.
	eventually := func(want int, failing string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			status, checks := ready()
			ok := status == want
			if failing != "" {
				ok = ok && checks[failing] != "ok" && countOK(checks) == len(checks)-1
			}
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("readyz = %d %v, want %d with %q failing", status, checks, want, failing)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	eventually(200, "")
	for _, tc := range []struct {
		name  string
		proxy *testenv.Proxy
	}{{"minio", s3Proxy}, {"postgres", pgProxy}} {
		t.Run(tc.name+" down and back", func(t *testing.T) {
			tc.proxy.Cut()
			eventually(503, tc.name)
			if healthy() != 200 {
				t.Fatal("healthz failed while a backing service was down")
			}
			tc.proxy.Restore()
			eventually(200, "")
		})
	}
}

func countOK(m map[string]string) int {
	n := 0
	for _, v := range m {
		if v == "ok" {
			n++
		}
	}
	return n
}

func hostPort(t *testing.T, dbURL string) string {
	t.Helper()
	rest := dbURL[strings.Index(dbURL, "@")+1:]
	return rest[:strings.IndexAny(rest, "/?")]
}

// TestReadinessHidesCauses: with PostgreSQL unreachable, /readyz (no login) answers 503 naming
// postgres as down and says nothing of where it is or who logs in to it; the driver's error
// goes to the log.
func TestReadinessHidesCauses(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	_, port, _ := net.SplitHostPort(addr)
	pool, err := pgxpool.New(context.Background(), "postgres://sieve_secret_user:pw@"+addr+"/sieve_secret_db?connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var logged bytes.Buffer
	s := New(Deps{Log: slog.New(slog.NewTextHandler(&logged, nil)), Registry: prometheus.NewRegistry(), BodyLimit: 1 << 20,
		UploadLimit: 1 << 20, Checks: []Check{{Name: "postgres", Ping: pool.Ping}, {Name: "minio", Ping: func(context.Context) error { return nil }}}})
	ts := contractServer(t, s.Handler())

	resp, err := http.Get(ts.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusServiceUnavailable ||
		string(bytes.TrimSpace(b)) != `{"checks":{"minio":"ok","postgres":"down"},"status":"unavailable"}` {
		t.Fatalf("readyz = %d %s", resp.StatusCode, b)
	}
	for _, leak := range []string{"sieve_secret_user", "sieve_secret_db", "127.0.0.1", port, "refused", "dial"} {
		if strings.Contains(string(b), leak) {
			t.Errorf("readyz leaks %q: %s", leak, b)
		}
	}
	if !strings.Contains(logged.String(), "service=postgres") || !strings.Contains(logged.String(), port) {
		t.Errorf("the cause is not in the log:\n%s", logged.String())
	}
}
