package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/sieve-city/sieve/internal/accounts"
	"github.com/sieve-city/sieve/internal/db"
)

// BenchmarkScopedRead compares GET /api/v1/users/{id} as a township coordinator (token check,
// row-level-security scoped transaction) with the same read and the same handler code path but
// no authentication and no scope (a system transaction). Issue 3 asks for the scoped read to
// reach at least 50 % of the unauthenticated requests/s. Run with:
//
//	./deploy/bench/run.sh auth   (or, with the test stack's variables set:
//	go test ./api -run '^$' -bench ScopedRead -benchtime 5s)
func BenchmarkScopedRead(b *testing.B) {
	h := newHarness(b)
	w := h.world()
	target := w.users["worker"].ID
	coordTok := h.token(w.users["coord"])

	// The baseline route: the same store call without authentication or scope.
	h.srv.Echo().GET("/bench/noauth/users/:id", func(c echo.Context) error {
		id, err := pathID(c, "id")
		if err != nil {
			return err
		}
		var u accounts.User
		err = db.ReadInScope(c.Request().Context(), h.pool, db.System("bench"), func(tx pgx.Tx) error {
			u, err = h.accounts.Get(c.Request().Context(), tx, id)
			return err
		})
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, u)
	})

	run := func(b *testing.B, path, token string) {
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				req, _ := http.NewRequestWithContext(context.Background(), "GET", h.url+path, nil)
				if token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	}
	b.Run("noauth", func(b *testing.B) { run(b, fmt.Sprintf("/bench/noauth/users/%d", target), "") })
	b.Run("auth_scoped", func(b *testing.B) { run(b, fmt.Sprintf("%s/users/%d", v1, target), coordTok) })
	// The same without the principal cache: every request looks its token up in PostgreSQL.
	cached := h.srv.Accounts
	h.srv.Accounts = accounts.NewStore(testHasher(), time.Hour, 0, time.Now)
	defer func() { h.srv.Accounts = cached }()
	b.Run("auth_scoped_nocache", func(b *testing.B) { run(b, fmt.Sprintf("%s/users/%d", v1, target), coordTok) })
}
