package api

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sieve-city/sieve/internal/testenv"
)

// harness is a Sieve API on real PostGIS and MinIO (fresh database and buckets) behind an
// httptest server.
type harness struct {
	t   *testing.T
	srv *Server
	url string
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	pool := testenv.DB(t)
	store := testenv.Blob(t)
	s := New(Deps{
		Log:         testenv.Logger(),
		Registry:    prometheus.NewRegistry(),
		Checks:      []Check{{Name: "postgres", Ping: pool.Ping}, {Name: "minio", Ping: store.Ping}},
		BodyLimit:   64 << 10,
		UploadLimit: 32 << 20,
	})
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return &harness{t: t, srv: s, url: ts.URL}
}

// do sends a request and returns the status and body.
func (h *harness) do(method, path, body string, headers ...string) (int, string, http.Header) {
	h.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, h.url+path, r)
	if err != nil {
		h.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Header
}
