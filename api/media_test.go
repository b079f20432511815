package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/minio/minio-go/v7"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sieve-city/sieve/imagery"
	"github.com/sieve-city/sieve/internal/blob"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/jobs"
	"github.com/sieve-city/sieve/internal/media"
	"github.com/sieve-city/sieve/internal/testenv"
)

// testMediaConfig is the production configuration with limits the tests can reach.
func testMediaConfig() media.Config {
	cfg := media.DefaultConfig()
	cfg.Limits.MaxBytes = 32 << 20
	cfg.PartSize = 5 << 20       // S3's smallest part, so that a test file spans several
	cfg.CleanupEvery = time.Hour // the tests run it themselves; once at start is enough
	return cfg
}

// testMaxAttempts is how often the harness's jobs are tried: the harness's queue enqueues
// them, so its setting is recorded on each job (see jobs.Options.MaxAttempts).
const testMaxAttempts = 3

// testMedia is the media service of the harness; its queue only enqueues (see startWorkers).
func testMedia(t testing.TB, pool *pgxpool.Pool, store *blob.Store) *media.Service {
	t.Helper()
	th, err := imagery.NewThumbnailer(imagery.DefaultThumbConfig())
	if err != nil {
		t.Fatal(err)
	}
	q := jobs.New(pool, jobs.Options{MaxAttempts: testMaxAttempts}, testenv.Logger())
	svc, err := media.New(media.Deps{Pool: pool, Blob: store, Thumbs: th, Jobs: q, Now: time.Now, Log: testenv.Logger()},
		testMediaConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Build(svc); err != nil {
		t.Fatal(err)
	}
	return svc
}

// startWorkers runs the media jobs in the test, with quick retries: a queue with workers in
// the test process, as a `sieve worker` beside the API.
func startWorkers(t testing.TB, pool *pgxpool.Pool, svc *media.Service) {
	t.Helper()
	q := jobs.New(pool, jobs.Options{Workers: 4, MaxAttempts: testMaxAttempts, RetryBase: 10 * time.Millisecond}, testenv.Logger())
	if err := q.Build(svc); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		_ = q.Stop(sctx)
		cancel()
	})
}

// mediaWorld adds to the world, for TestAccessMatrix: a survey, a photo and an upload session
// in k1 (the t1 users' area, and the worker's cell) and the same in k2. A survey's upload
// session has the survey's id, since the matrix puts one id in every path parameter.
func (h *harness) mediaWorld(w *world) map[string][2]int64 {
	h.t.Helper()
	ctx := context.Background()
	fx := map[string][2]int64{}
	err := db.AsSystem(ctx, h.pool, "test", func(tx pgx.Tx) error {
		var n int64
		sum := func() []byte { n++; s := sha256.Sum256([]byte(fmt.Sprint("fixture", n))); return s[:] }
		survey := func(id, region, operator int64) {
			if _, err := tx.Exec(ctx, `INSERT INTO surveys (id, region_id, operator_id, flight_date)
				OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, '2024-04-20')`, id, region, operator); err != nil {
				h.t.Fatal(err)
			}
		}
		session := func(id int64, survey *int64, region, user int64) {
			if _, err := tx.Exec(ctx, `INSERT INTO upload_sessions (id, kind, survey_id, user_id, region_path, file_name,
					size, sha256, object_key, part_size, expires_at)
				OVERRIDING SYSTEM VALUE
				SELECT $1::bigint, 'single', $2, $3, path, 'DJI_0001.JPG', 1000, $4, 'fixture/' || $1::text, 1000, now() + interval '1 day'
				FROM regions WHERE id = $5`, id, survey, user, sum(), region); err != nil {
				h.t.Fatal(err)
			}
		}
		photo := func(region, user int64) int64 {
			var id int64
			if err := tx.QueryRow(ctx, `INSERT INTO media (kind, uploaded_by, region_path, sha256, size, format,
					content_type, object_key)
				SELECT 'photo', $1, path, $2, 1000, 'jpeg', 'image/jpeg', $4 FROM regions WHERE id = $3
				RETURNING id`, user, sum(), region, fmt.Sprint("fixture/photo-", region)).Scan(&id); err != nil {
				h.t.Fatal(err)
			}
			return id
		}
		in, out := int64(900001), int64(900002)
		survey(in, w.k1, w.users["drone"].ID)
		survey(out, w.k2, w.users["coord2"].ID)
		session(in, &in, w.k1, w.users["drone"].ID)
		session(out, &out, w.k2, w.users["coord2"].ID)
		session(900101, nil, w.k1, w.users["drone"].ID)
		session(900102, nil, w.k2, w.users["worker2"].ID)
		fx["surveys"] = [2]int64{in, out}
		fx["uploads"] = [2]int64{900101, 900102}
		fx["media"] = [2]int64{photo(w.k1, w.users["worker"].ID), photo(w.k2, w.users["worker2"].ID)}
		return nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return fx
}

func fixtureBytes(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "imagery", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// multipartBody builds a POST /media body: the size field (when size >= 0), then the file.
func multipartBody(t testing.TB, name string, data []byte, withSize bool) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if withSize {
		if err := mw.WriteField("size", fmt.Sprint(len(data))); err != nil {
			t.Fatal(err)
		}
	}
	fw, err := mw.CreateFormFile("file", name)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data)
	mw.Close()
	return mw.FormDataContentType(), buf.Bytes()
}

type uploadResult struct {
	status int
	body   string
	medium media.Medium
	code   string
}

// upload sends one file to POST /media.
func (h *harness) upload(tok, name string, data []byte, headers ...string) uploadResult {
	h.t.Helper()
	ct, body := multipartBody(h.t, name, data, true)
	status, b, _ := h.request(http.MethodPost, v1+"/media", bytes.NewReader(body),
		append([]string{"Content-Type", ct, "Authorization", "Bearer " + tok, "Accept-Language", "en"}, headers...)...)
	r := uploadResult{status: status, body: b}
	if status < 300 {
		if err := json.Unmarshal([]byte(b), &r.medium); err != nil {
			h.t.Fatalf("decode %s: %v", b, err)
		}
	} else {
		var e errorBody
		_ = json.Unmarshal([]byte(b), &e)
		r.code = e.Error.Code
	}
	return r
}

// stored counts media rows, upload intents and objects in the media bucket.
func (h *harness) stored() (rows, intents, objects int) {
	h.t.Helper()
	ctx := context.Background()
	err := db.AsSystem(ctx, h.pool, "test", func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM media WHERE object_key NOT LIKE 'fixture/%'),
			(SELECT count(*) FROM upload_intents)`).Scan(&rows, &intents)
	})
	if err != nil {
		h.t.Fatal(err)
	}
	b := h.srv.Media.Blob()
	for o := range b.Client.ListObjects(ctx, b.BucketMedia, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			h.t.Fatal(o.Err)
		}
		objects++
	}
	return rows, intents, objects
}

// waitProcessed polls a medium until its jobs are done (or it failed).
func (h *harness) waitProcessed(tok string, id int64) media.Medium {
	h.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		status, body := h.as(tok, http.MethodGet, fmt.Sprintf("%s/media/%d", v1, id), "")
		if status != http.StatusOK {
			h.t.Fatalf("get media %d: %d %s", id, status, body)
		}
		var m media.Medium
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			h.t.Fatal(err)
		}
		if m.Status != "received" {
			return m
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("media %d not processed in time: %s", id, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestMediaUploadRefused: every bad input answers its status and code and leaves nothing in
// MinIO or the database.
func TestMediaUploadRefused(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	tok := h.token(w.users["worker"])
	cases := []struct {
		name   string
		data   []byte
		status int
		code   string
	}{
		{"truncated.jpg", fixtureBytes(t, "truncated.jpg"), 422, "corrupt_image"},
		{"corrupted.jpg", fixtureBytes(t, "corrupted.jpg"), 422, "corrupt_image"},
		{"empty.jpg", fixtureBytes(t, "empty.jpg"), 415, "empty_file"},
		{"bomb.jpg", fixtureBytes(t, "bomb.jpg"), 413, "too_many_pixels"},
		{"notes.jpg", []byte("this is a text file, not a photo\n"), 415, "unsupported_format"},
		{"big.jpg", append(fixtureBytes(t, "DSCN0010.jpg"), make([]byte, 33<<20)...), 413, "payload_too_large"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := h.upload(tok, tc.name, tc.data)
			if r.status != tc.status || r.code != tc.code {
				t.Fatalf("got %d %s, want %d %s", r.status, r.body, tc.status, tc.code)
			}
			if rows, intents, objects := h.stored(); rows+intents+objects != 0 {
				t.Fatalf("left behind: %d rows, %d intents, %d objects", rows, intents, objects)
			}
		})
	}
	t.Run("not multipart", func(t *testing.T) {
		status, body := h.as(tok, http.MethodPost, v1+"/media", `{"file":"x"}`)
		if status != 415 || !strings.Contains(body, "multipart_required") {
			t.Fatalf("got %d %s", status, body)
		}
	})
	t.Run("no file part", func(t *testing.T) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		mw.WriteField("note", "x")
		mw.Close()
		status, body, _ := h.do(http.MethodPost, v1+"/media", buf.String(), "Authorization", "Bearer "+tok,
			"Content-Type", mw.FormDataContentType())
		if status != 400 || !strings.Contains(body, "file_required") {
			t.Fatalf("got %d %s", status, body)
		}
	})
	t.Run("declared size over the limit", func(t *testing.T) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		mw.WriteField("size", fmt.Sprint(40<<20))
		fw, _ := mw.CreateFormFile("file", "x.jpg")
		fw.Write(fixtureBytes(t, "DSCN0010.jpg"))
		mw.Close()
		status, body, _ := h.do(http.MethodPost, v1+"/media", buf.String(), "Authorization", "Bearer "+tok,
			"Content-Type", mw.FormDataContentType())
		if status != 413 || !strings.Contains(body, "file_too_large") {
			t.Fatalf("got %d %s", status, body)
		}
	})
	t.Run("size field says more", func(t *testing.T) {
		data := fixtureBytes(t, "iphone_hdr_NO.jpg") // larger than the head the server reads first
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		mw.WriteField("size", fmt.Sprint(len(data)+100))
		fw, _ := mw.CreateFormFile("file", "x.jpg")
		fw.Write(data)
		mw.Close()
		status, body, _ := h.do(http.MethodPost, v1+"/media", buf.String(), "Authorization", "Bearer "+tok,
			"Content-Type", mw.FormDataContentType())
		if status != 422 || !strings.Contains(body, "size_mismatch") {
			t.Fatalf("got %d %s", status, body)
		}
		deadline := time.Now().Add(10 * time.Second)
		for rows, intents, objects := h.stored(); rows+intents+objects != 0; rows, intents, objects = h.stored() {
			if time.Now().After(deadline) {
				t.Fatalf("left behind: %d rows, %d intents, %d objects", rows, intents, objects)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	t.Run("size field lies", func(t *testing.T) {
		data := fixtureBytes(t, "DSCN0010.jpg")
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		mw.WriteField("size", fmt.Sprint(len(data)-100))
		fw, _ := mw.CreateFormFile("file", "x.jpg")
		fw.Write(data)
		mw.Close()
		status, body, _ := h.do(http.MethodPost, v1+"/media", buf.String(), "Authorization", "Bearer "+tok,
			"Content-Type", mw.FormDataContentType())
		if status != 422 || !strings.Contains(body, "size_mismatch") {
			t.Fatalf("got %d %s", status, body)
		}
		if rows, intents, objects := h.stored(); rows+intents+objects != 0 {
			t.Fatalf("left behind: %d rows, %d intents, %d objects", rows, intents, objects)
		}
	})
}

// TestMediaUploadAccepted: odd but valid files are stored; the jobs record what their
// metadata says and does not say.
func TestMediaUploadAccepted(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	startWorkers(t, h.pool, h.srv.Media)
	tok := h.token(w.users["worker"])
	cases := []struct {
		file    string
		format  string
		point   bool
		warning string // in metadata.warnings
		noThumb bool
	}{
		{"png_named.jpg", "png", false, "", false}, // a PNG named .jpg is stored as the PNG it is
		{"exif_wrong_types.jpg", "jpeg", false, "", false},
		{"gps_empty.jpg", "jpeg", false, "", false},
		{"gps_lat250.jpg", "jpeg", false, "GPS", false},
		{"jolla.jpg", "jpeg", false, "", false}, // no GPS at all
		{"DSCN0010.jpg", "jpeg", true, "", false},
		{"heic_header.heic", "heic", true, "", true}, // stored and flagged: no thumbnail
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			r := h.upload(tok, tc.file, fixtureBytes(t, tc.file))
			if r.status != http.StatusCreated {
				t.Fatalf("got %d %s", r.status, r.body)
			}
			if r.medium.Format != tc.format {
				t.Fatalf("format %q, want %q", r.medium.Format, tc.format)
			}
			m := h.waitProcessed(tok, r.medium.ID)
			if m.Status != "processed" {
				t.Fatalf("status %s (%s %s)", m.Status, m.ErrorCode, m.Error)
			}
			if (m.Point != nil) != tc.point {
				t.Fatalf("point %s, want present=%v", m.Point, tc.point)
			}
			if tc.warning != "" && !strings.Contains(string(m.Metadata), tc.warning) {
				t.Fatalf("metadata %s lacks a warning about %s", m.Metadata, tc.warning)
			}
			if m.NoThumbnail != tc.noThumb {
				t.Fatalf("noThumbnail %v, want %v", m.NoThumbnail, tc.noThumb)
			}
			if !tc.noThumb && (len(m.Thumbnails) != 2 || m.PHash == "") {
				t.Fatalf("thumbnails %v, phash %q", m.Thumbnails, m.PHash)
			}
		})
	}
}

// TestMediaSameFileTwice: a retry with the same Idempotency-Key, or the same bytes again, finds
// the first record; one object is stored.
func TestMediaSameFileTwice(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	tok := h.token(w.users["worker"])
	data := fixtureBytes(t, "DSCN0010.jpg")
	first := h.upload(tok, "a.jpg", data, "Idempotency-Key", "phone-42")
	if first.status != http.StatusCreated {
		t.Fatalf("first: %d %s", first.status, first.body)
	}
	sum := sha256.Sum256(data)
	if first.medium.SHA256 != hex.EncodeToString(sum[:]) || first.medium.Size != int64(len(data)) {
		t.Fatalf("sha256 %s size %d", first.medium.SHA256, first.medium.Size)
	}
	retry := h.upload(tok, "a.jpg", data, "Idempotency-Key", "phone-42")
	again := h.upload(tok, "b.jpg", data)
	for _, r := range []uploadResult{retry, again} {
		if r.status != http.StatusOK || r.medium.ID != first.medium.ID {
			t.Fatalf("got %d %s, want 200 with id %d", r.status, r.body, first.medium.ID)
		}
	}
	// Another file under the same key is refused (issue 16: it used to answer the first
	// upload, telling the phone that its new photo was stored), and stores nothing.
	other := h.upload(tok, "c.jpg", fixtureBytes(t, "Kodak_CX7530.jpg"), "Idempotency-Key", "phone-42")
	if other.status != http.StatusUnprocessableEntity || !strings.Contains(other.body, `"idempotency_key_reused"`) {
		t.Fatalf("another file under the key: got %d %s, want 422 idempotency_key_reused", other.status, other.body)
	}
	if rows, intents, objects := h.stored(); rows != 1 || intents != 0 || objects != 1 {
		t.Fatalf("stored %d rows, %d intents, %d objects; want 1, 0, 1", rows, intents, objects)
	}
	// Another uploader's out-of-scope photo stays invisible.
	status, _ := h.as(h.token(w.users["worker2"]), http.MethodGet, fmt.Sprintf("%s/media/%d", v1, first.medium.ID), "")
	if status != http.StatusNotFound {
		t.Fatalf("worker2 got %d, want 404", status)
	}
}

// TestMediaUploadCutOff: a client that drops the connection half-way leaves nothing behind.
func TestMediaUploadCutOff(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	tok := h.token(w.users["worker"])
	data := fixtureBytes(t, "iphone_hdr_NO.jpg")
	for _, withSize := range []bool{true, false} {
		t.Run(fmt.Sprintf("size=%v", withSize), func(t *testing.T) {
			ct, body := multipartBody(t, "a.jpg", data, withSize)
			u, _ := url.Parse(h.url)
			conn, err := net.Dial("tcp", u.Host)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(conn, "POST %s/media HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n",
				v1, u.Host, tok, ct, len(body))
			conn.Write(body[:len(body)/2])
			time.Sleep(200 * time.Millisecond)
			conn.Close()
			deadline := time.Now().Add(10 * time.Second)
			for {
				rows, intents, objects := h.stored()
				if rows+intents+objects == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("left behind: %d rows, %d intents, %d objects", rows, intents, objects)
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
}

// TestMediaStorageDown: with MinIO unreachable an upload answers 503 storage_unavailable and
// records nothing.
func TestMediaStorageDown(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	real := h.srv.Media.Blob()
	proxy := testenv.NewProxy(t, os.Getenv("SIEVE_S3_ENDPOINT"))
	cut, err := blob.New(blob.Config{Endpoint: proxy.Addr, AccessKey: os.Getenv("SIEVE_S3_ACCESS_KEY"),
		SecretKey: os.Getenv("SIEVE_S3_SECRET_KEY"), Region: "us-east-1",
		BucketMedia: real.BucketMedia, BucketDerived: real.BucketDerived})
	if err != nil {
		t.Fatal(err)
	}
	s := New(Deps{Pool: h.pool, Accounts: h.accounts, Media: testMedia(t, h.pool, cut), Log: testenv.Logger(),
		Registry: prometheus.NewRegistry(), BodyLimit: 64 << 10, UploadLimit: 32 << 20})
	ts := contractServer(t, s.Handler())
	hc := *h
	hc.url = ts.URL
	tok := h.token(w.users["worker"])
	data := fixtureBytes(t, "iphone_hdr_NO.jpg")

	proxy.Cut()
	start := time.Now()
	r := hc.upload(tok, "a.jpg", data)
	if r.status != http.StatusServiceUnavailable || r.code != "storage_unavailable" {
		t.Fatalf("got %d %s, want 503 storage_unavailable", r.status, r.body)
	}
	t.Logf("503 after %s", time.Since(start))
	if rows, _, _ := h.stored(); rows != 0 {
		t.Fatalf("%d media recorded while the store was down", rows)
	}
	proxy.Restore()
	// The failed upload's intent (the note that an object may need removing) goes once the
	// store answers again.
	deadline := time.Now().Add(15 * time.Second)
	for {
		rows, intents, objects := h.stored()
		if rows+intents+objects == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("left behind: %d rows, %d intents, %d objects", rows, intents, objects)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Back up: the same upload goes through.
	if r := hc.upload(tok, "a.jpg", data); r.status != http.StatusCreated {
		t.Fatalf("after restore: %d %s", r.status, r.body)
	}
}

// addCell adds a grid cell with a square boundary around lon, lat (half-side d degrees).
func (h *harness) addCell(parent int64, code string, lon, lat, d float64) int64 {
	h.t.Helper()
	ctx := context.Background()
	var id int64
	err := db.AsSystem(ctx, h.pool, "test", func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `INSERT INTO regions (parent_id, level, code, name, geom)
			VALUES ($1, 'cell', $2, $2, ST_Multi(ST_MakeEnvelope($3, $4, $5, $6, 4326))) RETURNING id`,
			parent, code, lon-d, lat-d, lon+d, lat+d).Scan(&id)
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return id
}

// TestPhotoThumbnailUpright: a portrait phone photo (EXIF orientation 6) gets upright
// thumbnails, served by redirect with an ETag, and lands in its cell.
func TestPhotoThumbnailUpright(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	cell := h.addCell(w.v1, "411081100201-09", 113.4721, 34.1512, 0.001)
	startWorkers(t, h.pool, h.srv.Media)
	tok := h.token(w.users["coord"])
	r := h.upload(tok, "IMG_0001.JPG", fixtureBytes(t, "marker_6.jpg"))
	if r.status != http.StatusCreated {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	m := h.waitProcessed(tok, r.medium.ID)
	if m.Status != "processed" || len(m.CellIDs) != 1 || m.CellIDs[0] != cell || m.TakenAt == nil {
		t.Fatalf("medium %+v", m)
	}
	if got := m.TakenAt.UTC().Format(time.RFC3339); got != "2024-05-06T02:11:12Z" {
		t.Fatalf("takenAt %s", got)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, size := range []string{"list", "detail"} {
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s%s/media/%d/thumbnail?size=%s", h.url, v1, m.ID, size), nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		etag := resp.Header.Get("ETag")
		if resp.StatusCode != http.StatusFound || etag == "" {
			t.Fatalf("%s: %d etag %q", size, resp.StatusCode, etag)
		}
		req.Header.Set("If-None-Match", etag)
		if resp, err := noRedirect.Do(req); err != nil || resp.StatusCode != http.StatusNotModified {
			t.Fatalf("%s with If-None-Match: %v %v", size, resp, err)
		}
		img := fetchJPEG(t, resp.Header.Get("Location"))
		b := img.Bounds()
		if b.Dx() >= b.Dy() {
			t.Fatalf("%s thumbnail is %dx%d: not upright (portrait)", size, b.Dx(), b.Dy())
		}
		// The red square of the stored top-left shows at the top-right.
		r, g, bl, _ := img.At(b.Dx()*9/10, b.Dy()/10).RGBA()
		if r>>8 < 180 || g>>8 > 80 || bl>>8 > 80 {
			t.Fatalf("%s: not red at the top-right: %d %d %d", size, r>>8, g>>8, bl>>8)
		}
	}
	// The original, by redirect too.
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s%s/media/%d/original", h.url, v1, m.ID), nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := noRedirect.Do(req)
	if err != nil || resp.StatusCode != http.StatusFound {
		t.Fatalf("original: %v %v", resp, err)
	}
	orig, err := http.Get(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(orig.Body)
	orig.Body.Close()
	if !bytes.Equal(got, fixtureBytes(t, "marker_6.jpg")) {
		t.Fatal("original differs from the upload")
	}
	if status, body := h.as(tok, http.MethodGet, fmt.Sprintf("%s/media/%d/thumbnail?size=huge", v1, m.ID), ""); status != 400 {
		t.Fatalf("size=huge: %d %s", status, body)
	}
}

func fetchJPEG(t *testing.T, u string) image.Image {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", u, resp.StatusCode)
	}
	img, err := jpeg.Decode(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// slotsFor announces files to POST path and returns the slots.
func (h *harness) slotsFor(tok, path string, files map[string][]byte, order ...string) []media.Slot {
	h.t.Helper()
	var decl []media.FileDecl
	for _, name := range order {
		sum := sha256.Sum256(files[name])
		decl = append(decl, media.FileDecl{Name: name, Size: int64(len(files[name])), SHA256: hex.EncodeToString(sum[:])})
	}
	body, _ := json.Marshal(map[string]any{"files": decl})
	status, resp := h.as(tok, http.MethodPost, path, string(body))
	if status != http.StatusOK {
		h.t.Fatalf("POST %s: %d %s", path, status, resp)
	}
	var out List[media.Slot]
	if err := json.Unmarshal([]byte(resp), &out); err != nil {
		h.t.Fatal(err)
	}
	if len(out.Items) != len(order) {
		h.t.Fatalf("%d slots for %d files", len(out.Items), len(order))
	}
	return out.Items
}

// putSlot sends a file's bytes to its slot's presigned URLs (only the parts listed, or the
// first n of them when n >= 0).
func putSlot(t *testing.T, sl media.Slot, data []byte, n int) {
	t.Helper()
	put := func(u string, b []byte) {
		req, _ := http.NewRequest(http.MethodPut, u, bytes.NewReader(b))
		req.ContentLength = int64(len(b))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("PUT: %d %s", resp.StatusCode, msg)
		}
	}
	if sl.URL != "" {
		put(sl.URL, data)
		return
	}
	for i, p := range sl.Parts {
		if n >= 0 && i >= n {
			return
		}
		from := int64(p.Number-1) * sl.PartSize
		put(p.URL, data[from:min(from+sl.PartSize, int64(len(data)))])
	}
}

// noiseJPEG is a JPEG of random pixels, w×h, that compresses badly: a large test file.
func noiseJPEG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	seed := uint32(1)
	for i := range img.Pix {
		seed = seed*1664525 + 1013904223
		img.Pix[i] = byte(seed >> 24)
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 100}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestSurveyUpload is a drone operator's card: presigned uploads, one of them multipart and
// resumed after an interruption, one refused file; the DJI images get footprints and cells;
// the progress tells what happened; a re-run skips what arrived.
func TestSurveyUpload(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	cell := h.addCell(w.v1, "411081100201-09", 113.4721, 34.1512, 0.002)
	startWorkers(t, h.pool, h.srv.Media)
	tok := h.token(w.users["drone"])

	status, body := h.as(tok, http.MethodPost, v1+"/surveys",
		fmt.Sprintf(`{"regionId": %d, "name": "火龙镇 4月航测", "flightDate": "2024-04-20", "drone": "DJI Mavic 3E", "camera": "L2D-20c"}`, w.t1))
	if status != http.StatusCreated {
		t.Fatalf("create survey: %d %s", status, body)
	}
	var sv media.Survey
	json.Unmarshal([]byte(body), &sv)
	if status, body := h.as(h.token(w.users["coord2"]), http.MethodGet, fmt.Sprintf("%s/surveys/%d", v1, sv.ID), ""); status != 404 {
		t.Fatalf("other township sees the survey: %d %s", status, body)
	}
	if status, body := h.as(tok, http.MethodPost, v1+"/surveys",
		fmt.Sprintf(`{"regionId": %d, "flightDate": "2024-04-20"}`, w.t2)); status != 404 {
		t.Fatalf("survey over another township: %d %s", status, body)
	}

	big := noiseJPEG(t, 3000, 2000) // several 5 MiB parts
	if len(big) <= 10<<20 {
		t.Fatalf("noise JPEG is only %d bytes", len(big))
	}
	files := map[string][]byte{
		"DJI_0001.JPG": fixtureBytes(t, "dji_attr.jpg"),
		"DJI_0002.JPG": fixtureBytes(t, "dji_elem.jpg"),
		"DJI_0003.JPG": big,
		"DJI_0004.JPG": []byte("not an image at all, but named like one"),
	}
	order := []string{"DJI_0001.JPG", "DJI_0002.JPG", "DJI_0003.JPG", "DJI_0004.JPG"}
	uploads := fmt.Sprintf("%s/surveys/%d/uploads", v1, sv.ID)
	slots := h.slotsFor(tok, uploads, files, order...)
	for i, sl := range slots {
		if sl.Status != "upload" || sl.UploadID == 0 {
			t.Fatalf("slot %d: %+v", i, sl)
		}
	}
	if slots[2].URL != "" || len(slots[2].Parts) < 3 {
		t.Fatalf("the large file should be multipart: %+v", slots[2])
	}
	complete := func(sl media.Slot) (int, string) {
		return h.as(tok, http.MethodPost, fmt.Sprintf("%s/%d/complete", uploads, sl.UploadID), "")
	}
	// The first file, and one part of the large one; then the connection "drops".
	putSlot(t, slots[0], files["DJI_0001.JPG"], -1)
	putSlot(t, slots[2], big, 1)
	if status, body := complete(slots[0]); status != http.StatusOK {
		t.Fatalf("complete 1: %d %s", status, body)
	}
	if status, body := complete(slots[2]); status != http.StatusConflict || !strings.Contains(body, "upload_incomplete") {
		t.Fatalf("complete of a half-sent file: %d %s", status, body)
	}

	// Run again: the first is there, the large one continues from its second part.
	again := h.slotsFor(tok, uploads, files, order...)
	if again[0].Status != "exists" || again[0].MediaID == nil {
		t.Fatalf("re-run: first file %+v", again[0])
	}
	if again[2].UploadID != slots[2].UploadID || len(again[2].PartsDone) != 1 || len(again[2].Parts) != len(slots[2].Parts)-1 {
		t.Fatalf("re-run: large file %+v", again[2])
	}
	putSlot(t, again[1], files["DJI_0002.JPG"], -1)
	putSlot(t, again[2], big, -1)
	putSlot(t, again[3], files["DJI_0004.JPG"], -1)
	var ids []int64
	for _, i := range []int{1, 2} {
		status, body := complete(again[i])
		if status != http.StatusOK {
			t.Fatalf("complete %s: %d %s", order[i], status, body)
		}
		var m media.Medium
		json.Unmarshal([]byte(body), &m)
		ids = append(ids, m.ID)
		// Completing twice is harmless.
		if status, body := complete(again[i]); status != http.StatusOK || !strings.Contains(body, fmt.Sprintf(`"id":%d`, m.ID)) {
			t.Fatalf("complete again: %d %s", status, body)
		}
	}
	if status, body := complete(again[3]); status != http.StatusUnsupportedMediaType || !strings.Contains(body, "unsupported_format") {
		t.Fatalf("complete of a text file: %d %s", status, body)
	}

	// Wait for the jobs, then look at the images.
	deadline := time.Now().Add(60 * time.Second)
	var sv2 media.Survey
	for {
		_, body := h.as(tok, http.MethodGet, fmt.Sprintf("%s/surveys/%d", v1, sv.ID), "")
		json.Unmarshal([]byte(body), &sv2)
		if sv2.Progress.Processed+sv2.Progress.Failed >= 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("survey not processed: %s", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	p := sv2.Progress
	if p.Declared != 4 || p.Received != 3 || p.Processed != 3 || p.Failed != 1 || p.Pending != 0 ||
		len(p.Failures) != 1 || p.Failures[0].Code != "unsupported_format" || p.Failures[0].Name != "DJI_0004.JPG" {
		t.Fatalf("progress %+v", p)
	}
	status, body = h.as(tok, http.MethodGet, fmt.Sprintf("%s/surveys/%d/images", v1, sv.ID), "")
	var imgs List[media.Medium]
	json.Unmarshal([]byte(body), &imgs)
	if status != 200 || len(imgs.Items) != 3 {
		t.Fatalf("images: %d %s", status, body)
	}
	byName := map[string]media.Medium{}
	for _, m := range imgs.Items {
		byName[m.OriginalName] = m
	}
	nadir := byName["DJI_0001.JPG"]
	if nadir.Kind != "drone" || nadir.Footprint == nil || len(nadir.CellIDs) != 1 || nadir.CellIDs[0] != cell {
		t.Fatalf("nadir DJI image: footprint %s cells %v", nadir.Footprint, nadir.CellIDs)
	}
	var fp struct {
		Coordinates [][][2]float64 `json:"coordinates"`
	}
	json.Unmarshal(nadir.Footprint, &fp)
	if len(fp.Coordinates) != 1 || len(fp.Coordinates[0]) != 5 {
		t.Fatalf("footprint %s: want a quadrilateral", nadir.Footprint)
	}
	if oblique := byName["DJI_0002.JPG"]; oblique.Footprint == nil || oblique.Point == nil {
		t.Fatalf("oblique DJI image (XMP position, Sydney): %+v", oblique)
	}
	if b := byName["DJI_0003.JPG"]; b.Size != int64(len(big)) || len(b.Thumbnails) != 2 || b.Point != nil {
		t.Fatalf("large image: %+v", b)
	}

	// The same card once more: everything that arrived is skipped.
	last := h.slotsFor(tok, uploads, files, order...)
	for i := 0; i < 3; i++ {
		if last[i].Status != "exists" {
			t.Fatalf("third run, %s: %+v", order[i], last[i])
		}
	}
	if rows, intents, objects := h.stored(); rows != 3 || intents != 0 || objects != 3 {
		t.Fatalf("stored %d rows, %d intents, %d objects", rows, intents, objects)
	}
	if len(ids) != 2 {
		t.Fatal("ids")
	}
	// The list shows the survey with its images.
	status, body = h.as(tok, http.MethodGet, fmt.Sprintf("%s/surveys?region=%d", v1, w.t1), "")
	var list List[media.Survey]
	json.Unmarshal([]byte(body), &list)
	found := false
	for _, v := range list.Items {
		found = found || (v.ID == sv.ID && v.Images != nil && *v.Images == 3)
	}
	if status != 200 || !found {
		t.Fatalf("survey list: %d %s", status, body)
	}
}

// TestSurveyList: each caller lists the surveys over their own area, newest first, page by
// page, by region and by operator.
func TestSurveyList(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	admin, drone := h.token(w.users["admin"]), h.token(w.users["drone"])
	mk := func(tok string, region int64, name string) int64 {
		status, body := h.as(tok, http.MethodPost, v1+"/surveys", fmt.Sprintf(`{"regionId": %d, "name": %q, "flightDate": "2024-05-01"}`, region, name))
		if status != http.StatusCreated {
			t.Fatalf("create %s: %d %s", name, status, body)
		}
		var v media.Survey
		json.Unmarshal([]byte(body), &v)
		return v.ID
	}
	a := mk(drone, w.t1, "火龙镇 A")
	b := mk(admin, w.v1, "火龙镇某村 B")
	c := mk(admin, w.t2, "顺店镇 C")
	// The world's own two surveys (the access matrix's fixtures) are left out of the comparisons.
	fixture := map[int64]bool{w.media["surveys"][0]: true, w.media["surveys"][1]: true}
	list := func(tok, query string) ([]int64, string) {
		status, body := h.as(tok, http.MethodGet, v1+"/surveys"+query, "")
		if status != 200 {
			t.Fatalf("list %s: %d %s", query, status, body)
		}
		var l List[media.Survey]
		json.Unmarshal([]byte(body), &l)
		var ids []int64
		for _, v := range l.Items {
			ids = append(ids, v.ID)
		}
		return ids, l.NextCursor
	}
	names := func(tok, query string) ([]int64, string) {
		all, next := list(tok, query)
		var ids []int64
		for _, id := range all {
			if !fixture[id] {
				ids = append(ids, id)
			}
		}
		return ids, next
	}
	cases := []struct {
		who, query string
		want       []int64
	}{
		{"admin", "", []int64{c, b, a}},
		{"coord", "", []int64{b, a}},
		{"coord2", "", []int64{c}},
		{"admin", fmt.Sprintf("?region=%d", w.t1), []int64{b, a}},
		{"admin", fmt.Sprintf("?region=%d", w.v1), []int64{b}},
		{"coord", fmt.Sprintf("?region=%d", w.t2), nil}, // another township: nothing, not an error
		{"admin", fmt.Sprintf("?operator=%d", w.users["drone"].ID), []int64{a}},
	}
	for _, cs := range cases {
		if got, _ := names(h.token(w.users[cs.who]), cs.query); fmt.Sprint(got) != fmt.Sprint(cs.want) {
			t.Errorf("%s %q: %v, want %v", cs.who, cs.query, got, cs.want)
		}
	}
	whole, _ := list(admin, "")
	var paged []int64
	pages := 0
	for cursor := ""; pages == 0 || cursor != ""; pages++ {
		q := "?limit=2"
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		var ids []int64
		ids, cursor = list(admin, q)
		paged = append(paged, ids...)
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
	}
	if pages != 3 || fmt.Sprint(paged) != fmt.Sprint(whole) {
		t.Fatalf("%d pages of 2 gave %v, want %v", pages, paged, whole)
	}
	if status, _ := h.as(admin, http.MethodGet, v1+"/surveys?region=x", ""); status != http.StatusBadRequest {
		t.Fatalf("bad region parameter: %d", status)
	}
}

// TestSurveyUploadDamaged: a presigned upload whose bytes differ from the declared SHA-256
// (damaged on the way), or whose JPEG structure is broken, is refused when it is completed —
// 422 with a stable code, its object removed, its session rejected — and the same file can
// then be sent again.
func TestSurveyUploadDamaged(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	tok := h.token(w.users["drone"])
	status, body := h.as(tok, http.MethodPost, v1+"/surveys", fmt.Sprintf(`{"regionId": %d, "flightDate": "2024-04-20"}`, w.t1))
	if status != http.StatusCreated {
		t.Fatalf("create survey: %d %s", status, body)
	}
	var sv media.Survey
	json.Unmarshal([]byte(body), &sv)
	uploads := fmt.Sprintf("%s/surveys/%d/uploads", v1, sv.ID)
	complete := func(sl media.Slot) (int, string) {
		return h.as(tok, http.MethodPost, fmt.Sprintf("%s/%d/complete", uploads, sl.UploadID), "")
	}

	good := fixtureBytes(t, "dji_attr.jpg")
	damaged := append([]byte(nil), good...)
	damaged[len(damaged)/2] ^= 0x01 // one bit flipped in the compressed data: structure intact
	files := map[string][]byte{"DJI_0001.JPG": good, "DJI_0002.JPG": fixtureBytes(t, "corrupted.jpg")}
	slots := h.slotsFor(tok, uploads, files, "DJI_0001.JPG", "DJI_0002.JPG")
	putSlot(t, slots[0], damaged, -1)
	putSlot(t, slots[1], files["DJI_0002.JPG"], -1)
	if status, body := complete(slots[0]); status != http.StatusUnprocessableEntity || !strings.Contains(body, `"hash_mismatch"`) {
		t.Fatalf("complete of damaged bytes: %d %s", status, body)
	}
	if status, body := complete(slots[0]); status != http.StatusConflict || !strings.Contains(body, `"upload_rejected"`) {
		t.Fatalf("complete again: %d %s", status, body)
	}
	if status, body := complete(slots[1]); status != http.StatusUnprocessableEntity || !strings.Contains(body, `"corrupt_image"`) {
		t.Fatalf("complete of a broken JPEG: %d %s", status, body)
	}
	if rows, _, objects := h.stored(); rows != 0 || objects != 0 {
		t.Fatalf("after two refusals: %d media rows, %d objects", rows, objects)
	}

	// The operator sends the first file again, intact.
	again := h.slotsFor(tok, uploads, files, "DJI_0001.JPG")
	if again[0].Status != "upload" || again[0].UploadID == slots[0].UploadID {
		t.Fatalf("new slot after a refusal: %+v", again[0])
	}
	putSlot(t, again[0], good, -1)
	if status, body := complete(again[0]); status != http.StatusOK {
		t.Fatalf("complete of the resent file: %d %s", status, body)
	}
	_, body = h.as(tok, http.MethodGet, fmt.Sprintf("%s/surveys/%d", v1, sv.ID), "")
	var sv2 media.Survey
	json.Unmarshal([]byte(body), &sv2)
	if p := sv2.Progress; p.Received != 1 || p.Failed != 1 || len(p.Failures) != 1 || p.Failures[0].Code != "corrupt_image" {
		t.Fatalf("progress after the resend: %+v", p)
	}
}

// TestUploadSessionCleanup: expired sessions are aborted and their objects removed.
func TestUploadSessionCleanup(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	tok := h.token(w.users["worker"])
	big := noiseJPEG(t, 2600, 1800)
	small := fixtureBytes(t, "DSCN0010.jpg")
	files := map[string][]byte{"big.jpg": big, "small.jpg": small}
	slots := h.slotsFor(tok, v1+"/uploads", files, "big.jpg", "small.jpg")
	putSlot(t, slots[0], big, 1)
	putSlot(t, slots[1], small, -1)
	ctx := context.Background()
	if err := db.AsSystem(ctx, h.pool, "test", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE upload_sessions SET expires_at = now() - interval '1 minute' WHERE object_key NOT LIKE 'fixture/%'`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	res, err := h.srv.Media.Cleanup(ctx)
	if err != nil || res.Sessions != 2 {
		t.Fatalf("cleanup: %+v %v", res, err)
	}
	if _, _, objects := h.stored(); objects != 0 {
		t.Fatalf("%d objects left", objects)
	}
	b := h.srv.Media.Blob()
	for u := range b.Client.ListIncompleteUploads(ctx, b.BucketMedia, "", true) {
		t.Fatalf("multipart upload left: %+v", u)
	}
	status, body := h.as(tok, http.MethodPost, fmt.Sprintf("%s/uploads/%d/complete", v1, slots[1].UploadID), "")
	if status != http.StatusGone || !strings.Contains(body, "upload_expired") {
		t.Fatalf("complete after expiry: %d %s", status, body)
	}
	// Asking again starts afresh.
	if again := h.slotsFor(tok, v1+"/uploads", files, "small.jpg"); again[0].Status != "upload" || again[0].UploadID == slots[1].UploadID {
		t.Fatalf("after expiry: %+v", again[0])
	}

	// A multipart upload that no session holds (its session's transaction failed) is aborted;
	// one that a pending session holds is kept.
	held := h.slotsFor(tok, v1+"/uploads", files, "big.jpg")[0]
	core := minio.Core{Client: b.Client}
	orphanKey := "originals/orphan-test"
	orphanID, err := core.NewMultipartUpload(ctx, b.BucketMedia, orphanKey, minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := core.PutObjectPart(ctx, b.BucketMedia, orphanKey, orphanID, 1, bytes.NewReader(big[:5<<20]), 5<<20, minio.PutObjectPartOptions{}); err != nil {
		t.Fatal(err)
	}
	if n, err := h.srv.Media.AbortOrphanUploads(ctx, time.Hour); err != nil || n != 0 {
		t.Fatalf("young uploads aborted: %d %v", n, err)
	}
	if n, err := h.srv.Media.AbortOrphanUploads(ctx, 0); err != nil || n != 1 {
		t.Fatalf("orphans aborted: %d %v, want 1", n, err)
	}
	var left []string
	for u := range b.Client.ListIncompleteUploads(ctx, b.BucketMedia, "", true) {
		left = append(left, u.UploadID)
	}
	if len(held.Parts) == 0 || len(left) != 1 {
		t.Fatalf("after aborting orphans: %v left, want only the held session's upload", left)
	}
	putSlot(t, held, big, -1)
	if status, body := h.as(tok, http.MethodPost, fmt.Sprintf("%s/uploads/%d/complete", v1, held.UploadID), ""); status != http.StatusOK {
		t.Fatalf("complete the held upload: %d %s", status, body)
	}
}

// TestJobDeadLetter: a job that keeps failing is retried, then discarded, and the image shows
// as failed (job_failed) in its survey's progress.
func TestJobDeadLetter(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	tok := h.token(w.users["drone"])
	_, body := h.as(tok, http.MethodPost, v1+"/surveys", fmt.Sprintf(`{"regionId": %d, "flightDate": "2024-04-20"}`, w.t1))
	var sv media.Survey
	json.Unmarshal([]byte(body), &sv)
	files := map[string][]byte{"DJI_0001.JPG": fixtureBytes(t, "dji_attr.jpg")}
	uploads := fmt.Sprintf("%s/surveys/%d/uploads", v1, sv.ID)
	sl := h.slotsFor(tok, uploads, files, "DJI_0001.JPG")[0]
	putSlot(t, sl, files["DJI_0001.JPG"], -1)
	// Thumbnails cannot be stored: the derived bucket is gone.
	b := h.srv.Media.Blob()
	if err := b.Client.RemoveBucket(context.Background(), b.BucketDerived); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Client.MakeBucket(context.Background(), b.BucketDerived, minio.MakeBucketOptions{}) })
	if status, body := h.as(tok, http.MethodPost, fmt.Sprintf("%s/%d/complete", uploads, sl.UploadID), ""); status != 200 {
		t.Fatalf("complete: %d %s", status, body)
	}
	startWorkers(t, h.pool, h.srv.Media)
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, body := h.as(tok, http.MethodGet, fmt.Sprintf("%s/surveys/%d", v1, sv.ID), "")
		var got media.Survey
		json.Unmarshal([]byte(body), &got)
		if got.Progress.Failed == 1 {
			if f := got.Progress.Failures; len(f) != 1 || f[0].Code != "job_failed" || f[0].MediaID == nil {
				t.Fatalf("failures %+v", f)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no dead letter: %s", body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// River records the discard (its dead letter) as the job returns.
	var state string
	ctx := context.Background()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		err := h.pool.QueryRow(ctx, `SELECT state FROM river_job WHERE kind = 'media_thumbnail'`).Scan(&state)
		if err == nil && state == "discarded" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("thumbnail job state %q %v, want discarded", state, err)
		}
	}
}

// TestLinkMediaToSites runs the image↔site linking against the sites table (migration 0022): a
// photo links to a site within 30 m, a drone image to a site its footprint covers, and
// re-running for a new site links the images already stored.
func TestLinkMediaToSites(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	startWorkers(t, h.pool, h.srv.Media)
	tok := h.token(w.users["coord"])
	photo := h.upload(tok, "IMG_0001.JPG", fixtureBytes(t, "marker_6.jpg")) // at 113.4721, 34.1512
	_, body := h.as(h.token(w.users["drone"]), http.MethodPost, v1+"/surveys", fmt.Sprintf(`{"regionId": %d, "flightDate": "2024-04-20"}`, w.t1))
	var sv media.Survey
	json.Unmarshal([]byte(body), &sv)
	dtok := h.token(w.users["drone"])
	files := map[string][]byte{"DJI_0001.JPG": fixtureBytes(t, "dji_attr.jpg")} // nadir over 113.4721, 34.1512
	uploads := fmt.Sprintf("%s/surveys/%d/uploads", v1, sv.ID)
	sl := h.slotsFor(dtok, uploads, files, "DJI_0001.JPG")[0]
	putSlot(t, sl, files["DJI_0001.JPG"], -1)
	status, body := h.as(dtok, http.MethodPost, fmt.Sprintf("%s/%d/complete", uploads, sl.UploadID), "")
	var drone media.Medium
	json.Unmarshal([]byte(body), &drone)
	if status != 200 {
		t.Fatalf("complete: %d %s", status, body)
	}
	h.waitProcessed(tok, photo.medium.ID)
	h.waitProcessed(dtok, drone.ID)

	ctx := context.Background()
	links := map[[2]int64]string{}
	err := db.AsSystem(ctx, h.pool, "test", func(tx pgx.Tx) error {
		// 1: ~2 m from the photo, under the (small: a downscaled fixture) drone footprint; 2: 2 km away.
		if _, err := tx.Exec(ctx, `INSERT INTO sites (id, point, source) OVERRIDING SYSTEM VALUE VALUES
			(1, ST_SetSRID(ST_MakePoint(113.47212, 34.15121), 4326), 'manual'),
			(2, ST_SetSRID(ST_MakePoint(113.4921, 34.1512), 4326), 'manual')`); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT link_media_to_sites(NULL, ARRAY[1, 2]::bigint[])`).Scan(&n); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT media_id, site_id, how FROM media_site_links WHERE site_id IN (1, 2)`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var m, s int64
			var how string
			if err := rows.Scan(&m, &s, &how); err != nil {
				return err
			}
			links[[2]int64{m, s}] = how
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if n != len(links) {
			t.Errorf("returned %d, %d links", n, len(links))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[[2]int64]string{{photo.medium.ID, 1}: "near", {drone.ID, 1}: "footprint"}
	if len(links) != len(want) {
		t.Fatalf("links %v, want %v", links, want)
	}
	for k, v := range want {
		if links[k] != v {
			t.Fatalf("links %v, want %v", links, want)
		}
	}
}
