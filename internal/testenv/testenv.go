// Package testenv gives integration tests the real PostgreSQL + PostGIS and MinIO that
// deploy/local/test.sh starts: a fresh migrated database and fresh buckets per test, dropped at
// the end. When the services are not configured a test is skipped on a developer's machine and
// fails in CI (CI=true), so CI never passes by skipping.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/minio/minio-go/v7"

	"github.com/sieve-city/sieve/internal/blob"
	"github.com/sieve-city/sieve/internal/db"
)

// require returns the value of each variable, or skips/fails the test when one is unset.
func require(t testing.TB, names ...string) []string {
	t.Helper()
	vals := make([]string, len(names))
	var missing []string
	for i, n := range names {
		vals[i] = os.Getenv(n)
		if vals[i] == "" {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		msg := fmt.Sprintf("integration test needs %s (run ./deploy/local/test.sh)", strings.Join(missing, ", "))
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return vals
}

func randomName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// Logger is a logger that discards output unless SIEVE_TEST_LOG is set.
func Logger() *slog.Logger {
	if os.Getenv("SIEVE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// DatabaseURL creates a fresh database cloned from sieve_template (which has PostGIS), applies
// the migrations, drops it when the test ends, and returns its URL.
func DatabaseURL(t testing.TB) string {
	t.Helper()
	base := require(t, "SIEVE_DB_URL")[0]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("testenv: connect %s: %v", base, err)
	}
	defer admin.Close(ctx)
	name := randomName("sieve_t_")
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE sieve_template"); err != nil {
		t.Fatalf("testenv: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Logf("testenv: drop %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Logf("testenv: drop %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	pool, err := db.Open(ctx, u.String(), 4)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	defer pool.Close()
	if _, err := db.Migrate(ctx, pool, Logger()); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return u.String()
}

// DB returns a pool on a fresh migrated database; the pool is closed and the database dropped
// when the test ends.
func DB(t testing.TB) *pgxpool.Pool {
	t.Helper()
	url := DatabaseURL(t)
	pool, err := db.Open(context.Background(), url, 20)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// BlobConfig returns the MinIO settings from the environment with fresh bucket names.
func BlobConfig(t testing.TB) blob.Config {
	t.Helper()
	v := require(t, "SIEVE_S3_ENDPOINT", "SIEVE_S3_ACCESS_KEY", "SIEVE_S3_SECRET_KEY")
	prefix := randomName("t-")
	return blob.Config{Endpoint: v[0], AccessKey: v[1], SecretKey: v[2], Region: "us-east-1",
		BucketMedia: prefix + "-media", BucketDerived: prefix + "-derived"}
}

// Blob returns a Store on fresh buckets, emptied and removed when the test ends.
func Blob(t testing.TB) *blob.Store {
	t.Helper()
	cfg := BlobConfig(t)
	s, err := blob.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.EnsureBuckets(ctx); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() { removeBuckets(t, s.Client, cfg.BucketMedia, cfg.BucketDerived) })
	return s
}

func removeBuckets(t testing.TB, c *minio.Client, buckets ...string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, b := range buckets {
		objs := c.ListObjects(ctx, b, minio.ListObjectsOptions{Recursive: true})
		for e := range c.RemoveObjects(ctx, b, objs, minio.RemoveObjectsOptions{}) {
			t.Logf("testenv: remove object in %s: %v", b, e.Err)
		}
		if err := c.RemoveBucket(ctx, b); err != nil {
			t.Logf("testenv: remove bucket %s: %v", b, err)
		}
	}
}
