package media

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/minio/minio-go/v7"

	"github.com/sieve-city/sieve/imagery"
	"github.com/sieve-city/sieve/internal/accounts"
	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/jobs"
	"github.com/sieve-city/sieve/internal/testenv"
)

// clock is a clock the test moves by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// env is a media service on a fresh database and buckets, with a fake clock (starting at the
// real time, so that presigned URLs are valid) and one grid worker to act as.
type env struct {
	t     *testing.T
	svc   *Service
	pool  *pgxpool.Pool
	queue *jobs.Queue
	clock *clock
	actor db.Actor
}

// newEnv builds the service with hooks; its queue only enqueues (startJobs runs the jobs).
func newEnv(t *testing.T, hooks Hooks) *env {
	t.Helper()
	ctx := context.Background()
	pool := testenv.DB(t)
	store := testenv.Blob(t)
	th, err := imagery.NewThumbnailer(imagery.DefaultThumbConfig())
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.PartSize = 5 << 20 // S3's smallest part
	c := &clock{now: time.Now()}
	q := jobs.New(pool, jobs.Options{MaxAttempts: 3}, testenv.Logger())
	svc, err := New(Deps{Pool: pool, Blob: store, Thumbs: th, Jobs: q, Hooks: hooks, Now: c.Now, Log: testenv.Logger()}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Build(svc); err != nil {
		t.Fatal(err)
	}

	acc := accounts.NewStore(accounts.NewHasher(accounts.HashParams{MemoryKiB: 1024, Time: 1, Threads: 1}, 1), time.Hour, time.Second, time.Now)
	var uid int64
	err = db.AsSystem(ctx, pool, "test", func(tx pgx.Tx) error {
		var region int64
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
	p, err := acc.Authenticate(ctx, pool, tok)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, svc: svc, pool: pool, queue: q, clock: c, actor: p.Actor("127.0.0.1", "test")}
}

// startJobs runs the media jobs with quick retries until the end of the test.
func (e *env) startJobs() {
	e.t.Helper()
	q := jobs.New(e.pool, jobs.Options{Workers: 2, MaxAttempts: 3, RetryBase: 10 * time.Millisecond}, testenv.Logger())
	if err := q.Build(e.svc); err != nil {
		e.t.Fatal(err)
	}
	if err := q.Start(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = q.Stop(ctx)
	})
}

// slot declares one photo (name, size, SHA-256 of sum) and returns its slot.
func (e *env) slot(name string, size int64, sum []byte) Slot {
	e.t.Helper()
	sl, err := e.svc.Slots(context.Background(), e.actor, nil, []FileDecl{{Name: name, Size: size, SHA256: hex.EncodeToString(sum)}})
	if err != nil {
		e.t.Fatal(err)
	}
	return sl[0]
}

// put sends data to a presigned URL as a phone would.
func (e *env) put(url string, data []byte) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPut, url, bytes.NewReader(data))
	if err != nil {
		e.t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		e.t.Fatalf("PUT: %s", res.Status)
	}
}

// sessionRow is what the database holds of an upload session.
func (e *env) sessionRow(id int64) (status, code string) {
	e.t.Helper()
	ctx := context.Background()
	err := db.AsSystem(ctx, e.pool, "test", func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT status, reason_code FROM upload_sessions WHERE id = $1`, id).Scan(&status, &code)
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return status, code
}

// objectExists reports whether the media bucket holds key.
func (e *env) objectExists(key string) bool {
	e.t.Helper()
	b := e.svc.Blob()
	_, err := b.Client.StatObject(context.Background(), b.BucketMedia, key, minio.StatObjectOptions{})
	if err == nil {
		return true
	}
	if minio.ToErrorResponse(err).Code != "NoSuchKey" {
		e.t.Fatal(err)
	}
	return false
}

func photo(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "imagery", "testdata", "DSCN0010.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sha(b []byte) []byte { s := sha256.Sum256(b); return s[:] }

// wantCode fails unless err is the public error code.
func wantCode(t *testing.T, what string, err error, code string) *apperr.Error {
	t.Helper()
	ae, ok := apperr.As(err)
	if !ok || ae.Code != code {
		t.Fatalf("%s: %v, want %s", what, err, code)
	}
	return ae
}

// TestSessionCompleted: pending → completed; completing again returns the same medium, and
// declaring the file again answers that it exists.
func TestSessionCompleted(t *testing.T) {
	e := newEnv(t, Hooks{})
	ctx := context.Background()
	data := photo(t)
	sl := e.slot("DSCN0010.jpg", int64(len(data)), sha(data))
	if sl.Status != "upload" || sl.URL == "" || sl.UploadID == 0 {
		t.Fatalf("slot %+v", sl)
	}
	if status, _ := e.sessionRow(sl.UploadID); status != "pending" {
		t.Fatalf("new session %s, want pending", status)
	}
	e.put(sl.URL, data)
	m, err := e.svc.Complete(ctx, e.actor, nil, sl.UploadID)
	if err != nil {
		t.Fatal(err)
	}
	if m.Kind != "photo" || m.Size != int64(len(data)) || m.SHA256 != hex.EncodeToString(sha(data)) || m.Status != "received" {
		t.Fatalf("medium %+v", m)
	}
	if status, _ := e.sessionRow(sl.UploadID); status != "completed" {
		t.Fatalf("session %s, want completed", status)
	}
	again, err := e.svc.Complete(ctx, e.actor, nil, sl.UploadID)
	if err != nil || again.ID != m.ID {
		t.Fatalf("complete again: %d %v, want %d", again.ID, err, m.ID)
	}
	if sl := e.slot("copy.jpg", int64(len(data)), sha(data)); sl.Status != "exists" || sl.MediaID == nil || *sl.MediaID != m.ID {
		t.Fatalf("declared again: %+v", sl)
	}
}

// TestSessionRejected: a stored file whose length or content is not the declared one is
// removed and its session rejected; completing it again answers upload_rejected with why.
func TestSessionRejected(t *testing.T) {
	e := newEnv(t, Hooks{})
	ctx := context.Background()
	data := photo(t)
	other := append([]byte(nil), data...)
	other[len(other)/2] ^= 0xff
	cases := []struct {
		name string
		size int64
		sum  []byte
		code string
	}{
		{"long.jpg", int64(len(data)) + 10, sha(data), "size_mismatch"},
		{"damaged.jpg", int64(len(data)), sha(other), "hash_mismatch"},
	}
	for _, c := range cases {
		t.Run(c.code, func(t *testing.T) {
			sl := e.slot(c.name, c.size, c.sum)
			var key string
			if err := db.AsSystem(ctx, e.pool, "test", func(tx pgx.Tx) error {
				return tx.QueryRow(ctx, `SELECT object_key FROM upload_sessions WHERE id = $1`, sl.UploadID).Scan(&key)
			}); err != nil {
				t.Fatal(err)
			}
			if c.size != int64(len(data)) {
				// The presigned URL is bound to the declared size (MinIO refuses another
				// length: TestPresignedPutBoundToSize); a store that did not would hold it.
				b := e.svc.Blob()
				if _, err := b.Client.PutObject(ctx, b.BucketMedia, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
					t.Fatal(err)
				}
			} else {
				e.put(sl.URL, data)
			}
			_, err := e.svc.Complete(ctx, e.actor, nil, sl.UploadID)
			wantCode(t, "complete", err, c.code)
			if status, code := e.sessionRow(sl.UploadID); status != "rejected" || code != c.code {
				t.Fatalf("session %s %s, want rejected %s", status, code, c.code)
			}
			if e.objectExists(key) {
				t.Fatal("the rejected object is still stored")
			}
			_, err = e.svc.Complete(ctx, e.actor, nil, sl.UploadID)
			ae := wantCode(t, "complete again", err, "upload_rejected")
			if d, ok := ae.Details.(map[string]string); !ok || d["code"] != c.code {
				t.Fatalf("details %v, want code %s", ae.Details, c.code)
			}
		})
	}
}

// TestSessionExpired: a pending session outlives its time only by the service's clock; the
// cleanup then expires it, and completing it answers upload_expired.
func TestSessionExpired(t *testing.T) {
	e := newEnv(t, Hooks{})
	ctx := context.Background()
	data := photo(t)
	sl := e.slot("late.jpg", int64(len(data)), sha(data))
	e.put(sl.URL, data)
	if res, err := e.svc.Cleanup(ctx); err != nil || res.Sessions != 0 {
		t.Fatalf("cleanup before the time: %+v %v", res, err)
	}
	e.clock.advance(e.svc.Config().SessionTTL + time.Minute)
	res, err := e.svc.Cleanup(ctx)
	if err != nil || res.Sessions != 1 {
		t.Fatalf("cleanup after the time: %+v %v", res, err)
	}
	if status, code := e.sessionRow(sl.UploadID); status != "expired" || code != "upload_expired" {
		t.Fatalf("session %s %s, want expired upload_expired", status, code)
	}
	_, err = e.svc.Complete(ctx, e.actor, nil, sl.UploadID)
	wantCode(t, "complete", err, "upload_expired")
	if !errors.Is(err, ErrUploadExpired) {
		t.Fatalf("%v is not ErrUploadExpired", err)
	}
	// Declaring it again starts afresh.
	if again := e.slot("late.jpg", int64(len(data)), sha(data)); again.Status != "upload" || again.UploadID == sl.UploadID {
		t.Fatalf("after expiry: %+v", again)
	}
}

// TestSessionSuperseded: declaring the same content with another size ends the pending
// session (expired, superseded) and starts a new one.
func TestSessionSuperseded(t *testing.T) {
	e := newEnv(t, Hooks{})
	ctx := context.Background()
	data := photo(t)
	first := e.slot("a.jpg", int64(len(data))+1, sha(data))
	second := e.slot("a.jpg", int64(len(data)), sha(data))
	if second.Status != "upload" || second.UploadID == first.UploadID {
		t.Fatalf("second slot %+v, first %d", second, first.UploadID)
	}
	if status, code := e.sessionRow(first.UploadID); status != "expired" || code != "superseded" {
		t.Fatalf("first session %s %s, want expired superseded", status, code)
	}
	_, err := e.svc.Complete(ctx, e.actor, nil, first.UploadID)
	wantCode(t, "complete the superseded session", err, "upload_expired")
	e.put(second.URL, data)
	if _, err := e.svc.Complete(ctx, e.actor, nil, second.UploadID); err != nil {
		t.Fatal(err)
	}
}

// TestSessionResume: declaring a pending file again returns the same session, a while longer
// by the clock; a multipart upload's answer lists the parts already received and presigns only
// the others.
func TestSessionResume(t *testing.T) {
	e := newEnv(t, Hooks{})
	big := make([]byte, 6<<20) // two parts of 5 MiB; the content is never checked here
	if _, err := rand.Read(big); err != nil {
		t.Fatal(err)
	}
	first := e.slot("big.jpg", int64(len(big)), sha(big))
	if first.Status != "upload" || len(first.Parts) != 2 || len(first.PartsDone) != 0 || first.PartSize != 5<<20 {
		t.Fatalf("first slot %+v", first)
	}
	e.put(first.Parts[0].URL, big[:5<<20])
	e.clock.advance(time.Hour)
	again := e.slot("big.jpg", int64(len(big)), sha(big))
	if again.UploadID != first.UploadID {
		t.Fatalf("resumed as upload %d, want %d", again.UploadID, first.UploadID)
	}
	if len(again.PartsDone) != 1 || again.PartsDone[0] != 1 || len(again.Parts) != 1 || again.Parts[0].Number != 2 {
		t.Fatalf("resumed: parts done %v, to send %+v; want [1], [2]", again.PartsDone, again.Parts)
	}
	if want := first.ExpiresAt.Add(time.Hour); again.ExpiresAt == nil || !again.ExpiresAt.Equal(want) {
		t.Fatalf("expires %v, want %v (an hour later, by the clock)", again.ExpiresAt, want)
	}
	if status, _ := e.sessionRow(first.UploadID); status != "pending" {
		t.Fatalf("session %s, want pending", status)
	}
}
