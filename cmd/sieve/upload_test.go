package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sieve-city/sieve/api"
	"github.com/sieve-city/sieve/imagery"
	"github.com/sieve-city/sieve/internal/accounts"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/media"
	"github.com/sieve-city/sieve/internal/testenv"
)

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
	svc := media.New(pool, store, th, media.DefaultConfig(), testenv.Logger())
	if _, err := svc.NewQueue(media.QueueOptions{}); err != nil {
		t.Fatal(err)
	}
	srv := api.New(api.Deps{Pool: pool, Accounts: acc, Media: svc, Log: testenv.Logger(), Registry: prometheus.NewRegistry(),
		BodyLimit: 1 << 20, UploadLimit: 64 << 20})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)

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
	env := func(k string) string {
		if k == "SIEVE_TOKEN" {
			return tok
		}
		return ""
	}
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
