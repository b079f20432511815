package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sieve-city/sieve/api"
	"github.com/sieve-city/sieve/imagery"
	"github.com/sieve-city/sieve/internal/accounts"
	"github.com/sieve-city/sieve/internal/blob"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/media"
	"github.com/sieve-city/sieve/internal/testenv"
	"github.com/sieve-city/sieve/openapi/contract"
)

// contractServer serves the API for a test with every exchange the command makes checked
// against openapi.yaml.
func contractServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	ch, err := contract.New()
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(ch.Handler(h, func(err error) { t.Error(err) }))
	t.Cleanup(ts.Close)
	return ts
}

// TestUploadCommand uploads a card twice: the first run stores every image and reports the
// file that is not one; the second continues the same survey and skips everything.
func TestUploadCommand(t *testing.T) {
	pool := testenv.DB(t)
	store := testenv.Blob(t)
	ctx := context.Background()
	acc := accounts.NewStore(accounts.NewHasher(accounts.HashParams{MemoryKiB: 1024, Time: 1, Threads: 1}, 2), time.Hour, time.Second, time.Now)
	var region int64
	var tok string
	var uid int64
	err := db.AsSystem(ctx, pool, "test", func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO regions (level, code, name) VALUES ('city', '411081', '禹州市') RETURNING id`).Scan(&region); err != nil {
			return err
		}
		u, err := acc.Create(ctx, tx, accounts.CityAdmin, accounts.NewUser{Username: "pilot", Password: "correct horse battery",
			Role: accounts.DroneOperator, RegionID: &region})
		uid = u.ID
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if tok, err = acc.CreateSession(ctx, pool, uid); err != nil {
		t.Fatal(err)
	}
	th, err := imagery.NewThumbnailer(imagery.DefaultThumbConfig())
	if err != nil {
		t.Fatal(err)
	}
	svc := testMediaService(t, pool, store, th, media.DefaultConfig())
	srv := api.New(api.Deps{Pool: pool, Accounts: acc, Media: svc, Log: testenv.Logger(), Registry: prometheus.NewRegistry(),
		BodyLimit: 1 << 20, UploadLimit: 64 << 20})
	ts := contractServer(t, srv.Handler())

	card := t.TempDir()
	copyFixture := func(name, to string) {
		b, err := os.ReadFile(filepath.Join("..", "..", "imagery", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Dir(filepath.Join(card, to)), 0o755)
		if err := os.WriteFile(filepath.Join(card, to), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	copyFixture("dji_attr.jpg", "DCIM/100MEDIA/DJI_0001.JPG")
	copyFixture("dji_elem.jpg", "DCIM/100MEDIA/DJI_0002.JPG")
	copyFixture("marker_6.jpg", "DCIM/100MEDIA/DJI_0003.JPG")
	copyFixture("dji_attr.jpg", ".Trashes/DJI_0001.JPG") // hidden: ignored
	os.WriteFile(filepath.Join(card, "DCIM/100MEDIA/DJI_0004.JPG"), []byte("not an image"), 0o644)
	os.WriteFile(filepath.Join(card, "readme.txt"), []byte("ignored"), 0o644)
	// A large image, sent as a multipart upload.
	img := image.NewRGBA(image.Rect(0, 0, 3000, 2000))
	seed := uint32(7)
	for i := range img.Pix {
		seed = seed*1664525 + 1013904223
		img.Pix[i] = byte(seed >> 24)
	}
	var big bytes.Buffer
	jpeg.Encode(&big, img, &jpeg.Options{Quality: 100})
	os.MkdirAll(filepath.Join(card, "DCIM/101MEDIA"), 0o755)
	if err := os.WriteFile(filepath.Join(card, "DCIM/101MEDIA/DJI_0100.JPG"), big.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	env := envOf("SIEVE_TOKEN", tok)
	sieve := func(args ...string) (string, error) {
		var out, errb bytes.Buffer
		err := run(ctx, append([]string{"upload", "--server", ts.URL}, args...), env, strings.NewReader(""), &out, &errb)
		return out.String(), err
	}
	if _, err := sieve(card); err == nil {
		t.Fatal("first run without --region succeeded")
	}
	out, err := sieve("--region", fmt.Sprint(region), "--flight-date", "2024-04-20", "--drone", "M3E", card)
	if err != nil {
		t.Fatalf("first run: %v\n%s", err, out)
	}
	for _, want := range []string{"created survey", "uploaded 4, already there 0, rejected 1", "DCIM/100MEDIA/DJI_0004.JPG", "unsupported_format"} {
		if !strings.Contains(out, want) {
			t.Fatalf("first run output lacks %q:\n%s", want, out)
		}
	}
	out, err = sieve(card)
	if err != nil {
		t.Fatalf("second run: %v\n%s", err, out)
	}
	for _, want := range []string{"continuing survey", "uploaded 0, already there 4, rejected 1"} {
		if !strings.Contains(out, want) {
			t.Fatalf("second run output lacks %q:\n%s", want, out)
		}
	}
	var n int
	if err := db.AsSystem(ctx, pool, "test", func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) FROM media WHERE kind = 'drone'`).Scan(&n)
	}); err != nil || n != 4 {
		t.Fatalf("%d drone images recorded (%v), want 4", n, err)
	}
}

// TestUploadCommandResumes interrupts a run (as Ctrl-C does) while a large file is half sent;
// the next run sends only the parts that were missing.
func TestUploadCommandResumes(t *testing.T) {
	pool := testenv.DB(t)
	real := testenv.Blob(t)
	ctx := context.Background()
	acc := accounts.NewStore(accounts.NewHasher(accounts.HashParams{MemoryKiB: 1024, Time: 1, Threads: 1}, 2), time.Hour, time.Second, time.Now)
	var region, uid int64
	err := db.AsSystem(ctx, pool, "test", func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO regions (level, code, name) VALUES ('city', '411081', '禹州市') RETURNING id`).Scan(&region); err != nil {
			return err
		}
		u, err := acc.Create(ctx, tx, accounts.CityAdmin, accounts.NewUser{Username: "pilot", Password: "correct horse battery",
			Role: accounts.DroneOperator, RegionID: &region})
		uid = u.ID
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := acc.CreateSession(ctx, pool, uid)
	if err != nil {
		t.Fatal(err)
	}

	// MinIO behind a reverse proxy that counts part uploads and, in the first run, interrupts
	// the command when the second part of the large file is on its way.
	runCtx, interrupt := context.WithCancel(ctx)
	var mu sync.Mutex
	parts := map[string]int{}
	target, _ := url.Parse("http://" + os.Getenv("SIEVE_S3_ENDPOINT"))
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Director = func(r *http.Request) { r.URL.Scheme, r.URL.Host = target.Scheme, target.Host } // keep Host: it is signed
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n := r.URL.Query().Get("partNumber"); n != "" && r.Method == http.MethodPut {
			mu.Lock()
			parts[n]++
			mu.Unlock()
			if n == "2" && runCtx.Err() == nil {
				interrupt()
				http.Error(w, "connection dropped", http.StatusBadGateway)
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	viaProxy, err := blob.New(blob.Config{Endpoint: strings.TrimPrefix(proxy.URL, "http://"), AccessKey: os.Getenv("SIEVE_S3_ACCESS_KEY"),
		SecretKey: os.Getenv("SIEVE_S3_SECRET_KEY"), Region: "us-east-1", BucketMedia: real.BucketMedia, BucketDerived: real.BucketDerived})
	if err != nil {
		t.Fatal(err)
	}
	th, _ := imagery.NewThumbnailer(imagery.DefaultThumbConfig())
	cfg := media.DefaultConfig()
	cfg.PartSize = 5 << 20
	svc := testMediaService(t, pool, viaProxy, th, cfg)
	srv := api.New(api.Deps{Pool: pool, Accounts: acc, Media: svc, Log: testenv.Logger(), Registry: prometheus.NewRegistry(),
		BodyLimit: 1 << 20, UploadLimit: 64 << 20})
	ts := contractServer(t, srv.Handler())

	card := t.TempDir()
	img := image.NewRGBA(image.Rect(0, 0, 3000, 2000))
	seed := uint32(11)
	for i := range img.Pix {
		seed = seed*1664525 + 1013904223
		img.Pix[i] = byte(seed >> 24)
	}
	var big bytes.Buffer
	jpeg.Encode(&big, img, &jpeg.Options{Quality: 100})
	if err := os.WriteFile(filepath.Join(card, "DJI_0100.JPG"), big.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	nparts := (big.Len() + 5<<20 - 1) / (5 << 20)

	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	env := envOf("SIEVE_TOKEN", tok)
	sieve := func(ctx context.Context, args ...string) (string, error) {
		var out, errb bytes.Buffer
		err := run(ctx, append([]string{"upload", "--server", ts.URL, "--parallel", "1"}, args...), env, strings.NewReader(""), &out, &errb)
		return out.String(), err
	}
	out, err := sieve(runCtx, "--region", fmt.Sprint(region), card)
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("first run: %v\n%s", err, out)
	}
	out, err = sieve(ctx, card)
	if err != nil || !strings.Contains(out, "uploaded 1, already there 0") {
		t.Fatalf("second run: %v\n%s", err, out)
	}
	mu.Lock()
	defer mu.Unlock()
	if parts["1"] != 1 || parts["2"] != 2 || len(parts) != nparts {
		t.Fatalf("part uploads %v: part 1 should be sent once, part 2 twice, %d parts in all", parts, nparts)
	}
}
