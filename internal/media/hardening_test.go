package media

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"

	"github.com/sieve-city/sieve/internal/accounts"
	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/db"
)

// otherActor creates another user with role in the env's city and returns it as an actor.
func (e *env) otherActor(username string, role accounts.Role) db.Actor {
	e.t.Helper()
	ctx := context.Background()
	acc := accounts.NewStore(accounts.NewHasher(accounts.HashParams{MemoryKiB: 1024, Time: 1, Threads: 1}, 1), time.Hour, time.Second, time.Now)
	var uid int64
	err := db.AsSystem(ctx, e.pool, "test", func(tx pgx.Tx) error {
		var region int64
		if err := tx.QueryRow(ctx, `SELECT id FROM regions WHERE code = '411081'`).Scan(&region); err != nil {
			return err
		}
		u, err := acc.Create(ctx, tx, accounts.CityAdmin, accounts.NewUser{Username: username, Password: "correct horse battery",
			Role: role, RegionID: &region})
		uid = u.ID
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	tok, err := acc.CreateSession(ctx, e.pool, uid)
	if err != nil {
		e.t.Fatal(err)
	}
	p, err := acc.Authenticate(ctx, e.pool, tok)
	if err != nil {
		e.t.Fatal(err)
	}
	return p.Actor("127.0.0.1", "test")
}

// putStatus sends data to a presigned URL and returns the status.
func putStatus(t *testing.T, url string, data []byte) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, url, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// countMedia counts the media rows.
func (e *env) countMedia() int {
	e.t.Helper()
	ctx := context.Background()
	var n int
	if err := db.AsSystem(ctx, e.pool, "test", func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) FROM media`).Scan(&n)
	}); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// stagingKey is the object key a session's URLs name.
func (e *env) stagingKey(id int64) string {
	e.t.Helper()
	ctx := context.Background()
	var key string
	if err := db.AsSystem(ctx, e.pool, "test", func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT object_key FROM upload_sessions WHERE id = $1`, id).Scan(&key)
	}); err != nil {
		e.t.Fatal(err)
	}
	return key
}

// TestCompleteOnlyByUploader: another user of the same city (a coordinator, another drone
// operator) who sees the session cannot complete it (404) nor become its uploader; the real
// uploader's completion then stores it once.
func TestCompleteOnlyByUploader(t *testing.T) {
	e := newEnv(t, Hooks{})
	ctx := context.Background()
	data := photo(t)
	sl := e.slot("DSCN0010.jpg", int64(len(data)), sha(data))
	e.put(sl.URL, data)
	for _, other := range []db.Actor{e.otherActor("coord", accounts.TownshipCoordinator), e.otherActor("pilot2", accounts.DroneOperator)} {
		_, err := e.svc.Complete(ctx, other, nil, sl.UploadID)
		if !errors.Is(err, apperr.ErrNotFound) {
			t.Fatalf("user %d completed another's upload: %v, want not found", other.UserID, err)
		}
	}
	if status, _ := e.sessionRow(sl.UploadID); status != "pending" {
		t.Fatalf("session %s after others tried, want pending", status)
	}
	m, err := e.svc.Complete(ctx, e.actor, nil, sl.UploadID)
	if err != nil {
		t.Fatal(err)
	}
	if m.UploadedBy == nil || *m.UploadedBy != e.actor.UserID {
		t.Fatalf("uploaded by %d, want %d", m.UploadedBy, e.actor.UserID)
	}
	if n := e.countMedia(); n != 1 {
		t.Fatalf("%d media stored, want 1", n)
	}
}

// TestSealedOriginal: a completed upload's bytes are under a key no URL named, the staging
// object is gone, a second PUT through the old URL changes nothing that is served, and an
// original whose stored bytes were replaced anyway is refused (original_altered).
func TestSealedOriginal(t *testing.T) {
	e := newEnv(t, Hooks{})
	ctx := context.Background()
	data := photo(t)
	sl := e.slot("DSCN0010.jpg", int64(len(data)), sha(data))
	e.put(sl.URL, data)
	staging := e.stagingKey(sl.UploadID)
	m, err := e.svc.Complete(ctx, e.actor, nil, sl.UploadID)
	if err != nil {
		t.Fatal(err)
	}
	if m.objectKey == staging {
		t.Fatalf("the medium is stored under the key its presigned URL names (%s)", staging)
	}
	if e.objectExists(staging) {
		t.Fatal("the staging object is still there")
	}
	// Another file of the same length through the old URL (still valid until it expires).
	swap := bytes.Repeat([]byte{0xAB}, len(data))
	if st := putStatus(t, sl.URL, swap); st != http.StatusOK {
		t.Fatalf("second PUT: %d (the URL is expected to stay valid)", st)
	}
	if _, err := e.svc.OriginalURL(ctx, m); err != nil {
		t.Fatalf("original after a PUT through the old URL: %v", err)
	}
	// Once the URLs are dead, the cleanup removes what that PUT left, once.
	if !e.objectExists(staging) {
		t.Fatal("the second PUT left no staging object (was it refused?)")
	}
	e.clock.advance(e.svc.Config().SessionTTL + time.Minute)
	if res, err := e.svc.Cleanup(ctx); err != nil || res.Staging != 1 {
		t.Fatalf("cleanup: %+v %v, want one staging object cleared", res, err)
	}
	if e.objectExists(staging) {
		t.Fatal("the cleanup left the staging object")
	}
	if res, err := e.svc.Cleanup(ctx); err != nil || res.Staging != 0 {
		t.Fatalf("second cleanup: %+v %v, want nothing to clear", res, err)
	}
	got, err := e.svc.hashObject(ctx, m.objectKey)
	if err != nil || got != hex.EncodeToString(sha(data)) {
		t.Fatalf("stored original %s %v, want the first file's SHA-256", got, err)
	}
	// Somebody with the store's keys replaces the original itself: it is withheld.
	b := e.svc.Blob()
	for name, opts := range map[string]minio.PutObjectOptions{
		"with checksum":    {Checksum: minio.ChecksumSHA256},
		"without checksum": {},
	} {
		if _, err := b.Client.PutObject(ctx, b.BucketMedia, m.objectKey, bytes.NewReader(swap), int64(len(swap)), opts); err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.OriginalURL(ctx, m)
		wantCode(t, "altered original "+name, err, "original_altered")
	}
}

// TestIngestStoresChecksum: a photo streamed through POST /media, with or without its size, is
// stored with its SHA-256, which OriginalURL checks.
func TestIngestStoresChecksum(t *testing.T) {
	e := newEnv(t, Hooks{})
	ctx := context.Background()
	data := photo(t)
	for i, size := range []int64{int64(len(data)), -1} {
		body := append(append([]byte(nil), data...), []byte(fmt.Sprint(i))...) // other content each time
		if size > 0 {
			size = int64(len(body))
		}
		m, created, err := e.svc.Ingest(ctx, e.actor, Upload{Body: bytes.NewReader(body), Size: size, Name: "a.jpg"})
		if err != nil || !created {
			t.Fatalf("size %d: %v %v", size, created, err)
		}
		b := e.svc.Blob()
		st, err := b.Client.StatObject(ctx, b.BucketMedia, m.objectKey, minio.StatObjectOptions{Checksum: true})
		if err != nil || st.ChecksumSHA256 == "" {
			t.Fatalf("size %d: stored without a SHA-256 (%q, %v)", size, st.ChecksumSHA256, err)
		}
		if _, err := e.svc.OriginalURL(ctx, m); err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
	}
}

// TestPresignedPutBoundToSize: MinIO refuses a PUT longer (or shorter) than the declared size
// through a slot's URL, and a part longer than the part size through a part URL.
func TestPresignedPutBoundToSize(t *testing.T) {
	e := newEnv(t, Hooks{})
	small := e.slot("small.jpg", 100, sha([]byte("small")))
	if st := putStatus(t, small.URL, make([]byte, 3<<20)); st == http.StatusOK {
		t.Fatal("a 3 MB PUT into a slot declared 100 bytes was stored")
	}
	if st := putStatus(t, small.URL, make([]byte, 99)); st == http.StatusOK {
		t.Fatal("a 99-byte PUT into a slot declared 100 bytes was stored")
	}
	if st := putStatus(t, small.URL, make([]byte, 100)); st != http.StatusOK {
		t.Fatalf("the declared 100 bytes: %d", st)
	}
	big := make([]byte, 6<<20)
	_, _ = rand.Read(big)
	sl := e.slot("big.jpg", int64(len(big)), sha(big))
	if len(sl.Parts) != 2 {
		t.Fatalf("parts %+v", sl.Parts)
	}
	if st := putStatus(t, sl.Parts[1].URL, big); st == http.StatusOK {
		t.Fatal("a 6 MB part 2 was stored where 1 MB was declared")
	}
	if st := putStatus(t, sl.Parts[1].URL, big[5<<20:]); st != http.StatusOK {
		t.Fatalf("the declared last part: %d", st)
	}
}

// TestUploadQuota: past the pending sessions or declared bytes a user may hold, Slots answers
// 429 upload_quota_exceeded and opens nothing; completing one frees its place.
func TestUploadQuota(t *testing.T) {
	e := newEnv(t, Hooks{})
	ctx := context.Background()
	e.svc.cfg.Quota = Quota{MaxPendingSessions: 3, MaxPendingBytes: 10 << 20}
	decl := func(names ...string) []FileDecl {
		var out []FileDecl
		for _, n := range names {
			out = append(out, FileDecl{Name: n, Size: 1000, SHA256: hex.EncodeToString(sha([]byte(n)))})
		}
		return out
	}
	if _, err := e.svc.Slots(ctx, e.actor, nil, decl("a", "b")); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.Slots(ctx, e.actor, nil, decl("c", "d"))
	if ae := wantCode(t, "past the sessions", err, "upload_quota_exceeded"); ae.Status != http.StatusTooManyRequests {
		t.Fatalf("status %d, want 429", ae.Status)
	}
	// Asking again for the pending ones is no new session.
	if _, err := e.svc.Slots(ctx, e.actor, nil, decl("a", "b", "c")); err != nil {
		t.Fatalf("a, b again and c: %v", err)
	}
	other := e.otherActor("pilot2", accounts.DroneOperator)
	_, err = e.svc.Slots(ctx, other, nil, []FileDecl{{Name: "huge", Size: 11 << 20, SHA256: hex.EncodeToString(sha([]byte("huge")))}})
	wantCode(t, "past the bytes", err, "upload_quota_exceeded")
	var n int
	if err := db.AsSystem(ctx, e.pool, "test", func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) FROM upload_sessions`).Scan(&n)
	}); err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Fatalf("%d sessions, want 3", n)
	}
}

// TestAdmitUpload: a user sends at most MaxOpenUploads bodies at once; releasing one admits
// the next; other users are not held back.
func TestAdmitUpload(t *testing.T) {
	s := &Service{cfg: Config{Quota: Quota{MaxOpenUploads: 2}}}
	r1, err1 := s.AdmitUpload(1)
	r2, err2 := s.AdmitUpload(1)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if _, err := s.AdmitUpload(1); !errors.Is(err, ErrTooManyOpenUploads) {
		t.Fatalf("third: %v, want too_many_open_uploads", err)
	}
	if _, err := s.AdmitUpload(2); err != nil {
		t.Fatalf("another user: %v", err)
	}
	r1()
	r1() // twice is once
	if _, err := s.AdmitUpload(1); err != nil {
		t.Fatalf("after a release: %v", err)
	}
	if _, err := s.AdmitUpload(1); !errors.Is(err, ErrTooManyOpenUploads) {
		t.Fatalf("a double release freed two places: %v", err)
	}
	r2()
}

// TestIdempotencyKeyReused: another file under a used key is refused (and not stored), the
// same file is the first record; SameUpload tells them apart without storing.
func TestIdempotencyKeyReused(t *testing.T) {
	e := newEnv(t, Hooks{})
	ctx := context.Background()
	data := photo(t)
	first, created, err := e.svc.Ingest(ctx, e.actor, Upload{Body: bytes.NewReader(data), Size: -1, Name: "a.jpg", IdempotencyKey: "k1"})
	if err != nil || !created {
		t.Fatal(created, err)
	}
	other := append(append([]byte(nil), data...), 0)
	_, _, err = e.svc.Ingest(ctx, e.actor, Upload{Body: bytes.NewReader(other), Size: int64(len(other)), Name: "b.jpg", IdempotencyKey: "k1"})
	wantCode(t, "another file under k1", err, "idempotency_key_reused")
	if n := e.countMedia(); n != 1 {
		t.Fatalf("%d media, want 1", n)
	}
	again, created, err := e.svc.Ingest(ctx, e.actor, Upload{Body: bytes.NewReader(data), Size: -1, Name: "a.jpg", IdempotencyKey: "k1"})
	if err != nil || created || again.ID != first.ID {
		t.Fatalf("the same file again: %d %v %v", again.ID, created, err)
	}
	if err := e.svc.SameUpload(first, -1, bytes.NewReader(data)); err != nil {
		t.Fatalf("same file: %v", err)
	}
	wantCode(t, "other size", e.svc.SameUpload(first, int64(len(other)), bytes.NewReader(other)), "idempotency_key_reused")
	wantCode(t, "other bytes", e.svc.SameUpload(first, -1, bytes.NewReader(other[1:])), "idempotency_key_reused")
}

// TestSurveyOperatorRole: a survey named as flown by someone else names a drone operator.
func TestSurveyOperatorRole(t *testing.T) {
	e := newEnv(t, Hooks{})
	ctx := context.Background()
	worker := e.otherActor("worker", accounts.GridWorker)
	pilot2 := e.otherActor("pilot2", accounts.DroneOperator)
	create := func(operator int64) error {
		return db.InScope(ctx, e.pool, e.actor, func(tx pgx.Tx) error {
			var region int64
			if err := tx.QueryRow(ctx, `SELECT id FROM regions WHERE code = '411081'`).Scan(&region); err != nil {
				return err
			}
			_, err := e.svc.CreateSurvey(ctx, tx, e.actor.UserID, NewSurvey{RegionID: region, OperatorID: &operator, FlightDate: "2024-04-20"})
			return err
		})
	}
	wantCode(t, "a grid worker as operator", create(worker.UserID), "operator_not_drone_operator")
	if err := create(pilot2.UserID); err != nil {
		t.Fatalf("a drone operator: %v", err)
	}
	if err := create(e.actor.UserID); err != nil {
		t.Fatalf("the caller: %v", err)
	}
}

// TestSurveyProgressStuck: a survey image whose job has been running past its timeout (its
// process died) shows as stuck in the progress.
func TestSurveyProgressStuck(t *testing.T) {
	e := newEnv(t, Hooks{})
	ctx := context.Background()
	var region, survey int64
	err := db.InScope(ctx, e.pool, e.actor, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT id FROM regions WHERE code = '411081'`).Scan(&region); err != nil {
			return err
		}
		v, err := e.svc.CreateSurvey(ctx, tx, e.actor.UserID, NewSurvey{RegionID: region, FlightDate: "2024-04-20"})
		survey = v.ID
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	data := photo(t)
	sl, err := e.svc.Slots(ctx, e.actor, &survey, []FileDecl{{Name: "DJI_0001.JPG", Size: int64(len(data)), SHA256: hex.EncodeToString(sha(data))}})
	if err != nil {
		t.Fatal(err)
	}
	e.put(sl[0].URL, data)
	m, err := e.svc.Complete(ctx, e.actor, &survey, sl[0].UploadID)
	if err != nil {
		t.Fatal(err)
	}
	progress := func() Progress {
		var p Progress
		err := db.ReadInScope(ctx, e.pool, e.actor, func(tx pgx.Tx) error {
			var err error
			p, err = e.svc.SurveyProgress(ctx, tx, survey)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if p := progress(); p.Stuck != 0 || p.Received != 1 {
		t.Fatalf("fresh: %+v", p)
	}
	// The process that took the thumbnail job was killed ten minutes ago.
	if err := db.AsSystem(ctx, e.pool, "test", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = now() - interval '10 minutes'
			WHERE kind = 'media_thumbnail' AND (args->>'media_id')::bigint = $1`, m.ID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if p := progress(); p.Stuck != 1 {
		t.Fatalf("after the crash: stuck %d, want 1 (%+v)", p.Stuck, p)
	}
}

// TestSealedMultipart: a resumable (multipart) upload is sealed too: its parts' URLs die with
// the multipart upload, its bytes are copied to a key no URL named, and the copy carries a
// whole-object SHA-256, so serving the original needs no read of it.
func TestSealedMultipart(t *testing.T) {
	e := newEnv(t, Hooks{})
	ctx := context.Background()
	img := image.NewRGBA(image.Rect(0, 0, 2600, 1800))
	_, _ = rand.Read(img.Pix)
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	if len(data) <= 5<<20 {
		t.Fatalf("noise JPEG of %d bytes is one part", len(data))
	}
	sl := e.slot("big.jpg", int64(len(data)), sha(data))
	if len(sl.Parts) < 2 {
		t.Fatalf("slot %+v", sl)
	}
	for i, p := range sl.Parts {
		end := min((i+1)*(5<<20), len(data))
		e.put(p.URL, data[i*(5<<20):end])
	}
	m, err := e.svc.Complete(ctx, e.actor, nil, sl.UploadID)
	if err != nil {
		t.Fatal(err)
	}
	b := e.svc.Blob()
	st, err := b.Client.StatObject(ctx, b.BucketMedia, m.objectKey, minio.StatObjectOptions{Checksum: true})
	if err != nil {
		t.Fatal(err)
	}
	if want := base64.StdEncoding.EncodeToString(sha(data)); st.ChecksumSHA256 != want {
		t.Fatalf("sealed copy's stored SHA-256 %q, want %q", st.ChecksumSHA256, want)
	}
	if st := putStatus(t, sl.Parts[0].URL, data[:5<<20]); st == http.StatusOK {
		t.Fatal("a part URL still takes bytes after completion")
	}
	if _, err := e.svc.OriginalURL(ctx, m); err != nil {
		t.Fatal(err)
	}
}
