package api

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sieve-city/sieve/imagery"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/jobs"
	"github.com/sieve-city/sieve/internal/media"
	"github.com/sieve-city/sieve/internal/testenv"
)

// TestMediaOriginalAltered: an original is served while its stored bytes have the recorded
// SHA-256, and refused with 409 original_altered once they were replaced in the store.
func TestMediaOriginalAltered(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	tok := h.token(w.users["worker"])
	data := fixtureBytes(t, "DSCN0010.jpg")
	up := h.upload(tok, "a.jpg", data)
	if up.status != http.StatusCreated {
		t.Fatalf("upload: %d %s", up.status, up.body)
	}
	path := fmt.Sprintf("%s/media/%d/original", v1, up.medium.ID)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest(http.MethodGet, h.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := noFollow.Do(req)
	if err != nil || res.StatusCode != http.StatusFound {
		t.Fatalf("original: %v %v, want 302", res, err)
	}
	res.Body.Close()
	if res, err = http.Get(res.Header.Get("Location")); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("presigned original: %v %v", res, err)
	}
	got, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !bytes.Equal(got, data) {
		t.Fatalf("original: %d bytes, not the upload", len(got))
	}
	ctx := context.Background()
	var key string
	if err := db.AsSystem(ctx, h.pool, "test", func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT object_key FROM media WHERE id = $1`, up.medium.ID).Scan(&key)
	}); err != nil {
		t.Fatal(err)
	}
	b := h.srv.Media.Blob()
	swap := bytes.Repeat([]byte{1}, len(data))
	if _, err := b.Client.PutObject(ctx, b.BucketMedia, key, bytes.NewReader(swap), int64(len(swap)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	status, body := h.as(tok, http.MethodGet, path, "")
	if status != http.StatusConflict || !strings.Contains(body, `"original_altered"`) {
		t.Fatalf("altered original: %d %s, want 409 original_altered", status, body)
	}
}

// TestUploadCompletedByOtherUser: a coordinator of the same township sees a drone operator's
// upload session but cannot complete it (404); the operator's completion then stores it once,
// as its uploader.
func TestUploadCompletedByOtherUser(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	drone, coord := h.token(w.users["drone"]), h.token(w.users["coord"])
	data := fixtureBytes(t, "DSCN0010.jpg")
	sum := sha(data)
	status, body := h.as(drone, http.MethodPost, v1+"/uploads",
		fmt.Sprintf(`{"files": [{"name": "a.jpg", "size": %d, "sha256": %q}]}`, len(data), hex.EncodeToString(sum)))
	if status != http.StatusOK {
		t.Fatalf("slots: %d %s", status, body)
	}
	var slots List[media.Slot]
	json.Unmarshal([]byte(body), &slots)
	sl := slots.Items[0]
	req, _ := http.NewRequest(http.MethodPut, sl.URL, bytes.NewReader(data))
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("PUT: %v %v", res, err)
	}
	complete := fmt.Sprintf("%s/uploads/%d/complete", v1, sl.UploadID)
	if status, body := h.as(coord, http.MethodPost, complete, ""); status != http.StatusNotFound {
		t.Fatalf("the coordinator completed the operator's upload: %d %s", status, body)
	}
	status, body = h.as(drone, http.MethodPost, complete, "")
	if status != http.StatusOK {
		t.Fatalf("the operator's completion: %d %s", status, body)
	}
	var m media.Medium
	json.Unmarshal([]byte(body), &m)
	if m.UploadedBy == nil || *m.UploadedBy != w.users["drone"].ID {
		t.Fatalf("uploaded by %d, want the operator %d", m.UploadedBy, w.users["drone"].ID)
	}
	if rows, _, _ := h.stored(); rows != 1 {
		t.Fatalf("%d media stored, want 1", rows)
	}
}

func sha(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

// TestSurveyOperatorMustFly: a survey named as flown by a grid worker is refused (422
// operator_not_drone_operator); by a drone operator it is recorded.
func TestSurveyOperatorMustFly(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	coord := h.token(w.users["coord"])
	status, body := h.as(coord, http.MethodPost, v1+"/surveys",
		fmt.Sprintf(`{"regionId": %d, "operatorId": %d, "flightDate": "2024-04-20"}`, w.t1, w.users["worker"].ID))
	if status != http.StatusUnprocessableEntity || !strings.Contains(body, `"operator_not_drone_operator"`) {
		t.Fatalf("grid worker as operator: %d %s", status, body)
	}
	status, body = h.as(coord, http.MethodPost, v1+"/surveys",
		fmt.Sprintf(`{"regionId": %d, "operatorId": %d, "flightDate": "2024-04-20"}`, w.t1, w.users["drone"].ID))
	if status != http.StatusCreated {
		t.Fatalf("drone operator: %d %s", status, body)
	}
}

// TestUploadStalledBody: a POST /media body that stops arriving is cut off after the idle
// timeout (408 request_timeout), not held for the whole read timeout; and a user sending
// more bodies at once than allowed gets 429 too_many_open_uploads at once.
func TestUploadStalledBody(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	th, err := imagery.NewThumbnailer(imagery.DefaultThumbConfig())
	if err != nil {
		t.Fatal(err)
	}
	cfg := testMediaConfig()
	cfg.BodyIdleTimeout, cfg.BodyTotalTimeout = 500*time.Millisecond, time.Minute
	cfg.Quota.MaxOpenUploads = 1
	q := jobs.New(h.pool, jobs.Options{MaxAttempts: testMaxAttempts}, testenv.Logger())
	svc, err := media.New(media.Deps{Pool: h.pool, Blob: h.srv.Media.Blob(), Thumbs: th, Jobs: q, Now: time.Now, Log: testenv.Logger()}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Build(svc); err != nil {
		t.Fatal(err)
	}
	s := New(Deps{Pool: h.pool, Accounts: h.accounts, Media: svc, Log: testenv.Logger(), Registry: prometheus.NewRegistry(),
		BodyLimit: 64 << 10, UploadLimit: 32 << 20})
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	tok := h.token(w.users["worker"])

	// A client that sends the start of its form and then nothing.
	conn, err := net.Dial("tcp", strings.TrimPrefix(ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n\xff\xd8\xff"
	fmt.Fprintf(conn, "POST %s/media HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: multipart/form-data; boundary=B\r\nContent-Length: 100000\r\n\r\n%s",
		v1, tok, start)
	time.Sleep(100 * time.Millisecond)
	// Meanwhile the same user's second upload is refused at once.
	ct, body := multipartBody(t, "b.jpg", fixtureBytes(t, "DSCN0010.jpg"), true)
	req, _ := http.NewRequest(http.MethodPost, ts.URL+v1+"/media", bytes.NewReader(body))
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
		t.Fatalf("second upload while one is open: %d (Retry-After %q), want 429", res.StatusCode, res.Header.Get("Retry-After"))
	}
	t0 := time.Now()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to the stalled upload within 5 s: %v", err)
	}
	resp.Body.Close()
	// A stalled body is 408 request_timeout on every route (the error handler's one rule for
	// a body read past its deadline), POST /media included.
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("stalled upload: %d, want 408 request_timeout", resp.StatusCode)
	}
	if el := time.Since(t0); el > 3*time.Second {
		t.Fatalf("answered after %s", el)
	}
	// Its place is free again.
	req, _ = http.NewRequest(http.MethodPost, ts.URL+v1+"/media", bytes.NewReader(body))
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Authorization", "Bearer "+tok)
	if res, err = http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusCreated {
		t.Fatalf("after the stalled one: %v %v", res, err)
	}
	res.Body.Close()
}

// TestScreenedLimitWithoutUploadLimit: a caller's byte limit (a tip photo's) bounds what is
// read also when the media uploads have none (SIEVE_UPLOAD_MAX_BYTES 0): the spool once put
// the media limit in its place and copied the whole stream to disk before refusing it.
func TestScreenedLimitWithoutUploadLimit(t *testing.T) {
	h := newHarness(t)
	th, err := imagery.NewThumbnailer(imagery.DefaultThumbConfig())
	if err != nil {
		t.Fatal(err)
	}
	cfg := testMediaConfig()
	cfg.Limits.MaxBytes = 0
	q := jobs.New(h.pool, jobs.Options{MaxAttempts: testMaxAttempts}, testenv.Logger())
	svc, err := media.New(media.Deps{Pool: h.pool, Blob: h.srv.Media.Blob(), Thumbs: th, Jobs: q, Now: time.Now, Log: testenv.Logger()}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	jpeg := fixtureBytes(t, "DSCN0010.jpg")
	ctx := context.Background()
	// The photo followed by 64 MB more: refused, and read no further than the limit.
	r := &countingReader{r: io.MultiReader(bytes.NewReader(jpeg), io.LimitReader(zeros{}, 64<<20))}
	if _, err := svc.StoreScreened(ctx, r, "tips/test", int64(len(jpeg))); !errors.Is(err, media.ErrFileTooLarge) {
		t.Fatalf("a file over the caller's limit: %v, want ErrFileTooLarge", err)
	}
	if r.n > int64(len(jpeg))+64<<10 {
		t.Fatalf("read %d bytes of a file refused at %d", r.n, len(jpeg))
	}
	s, err := svc.StoreScreened(ctx, bytes.NewReader(jpeg), "tips/test", int64(len(jpeg)))
	if err != nil {
		t.Fatalf("a file at the caller's limit: %v", err)
	}
	svc.RemoveScreened(ctx, s.Key)
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.n += int64(k)
	return k, err
}

// zeros is an endless stream of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
