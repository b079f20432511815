package main

import (
	"bytes"
	"context"
	"image/jpeg"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/minio/minio-go/v7"

	"github.com/sieve-city/sieve/imagery"
	"github.com/sieve-city/sieve/internal/chinatime"
	"github.com/sieve-city/sieve/internal/config"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/testenv"
)

// TestDemoPhotoFile: a demo photo is a JPEG whose EXIF the media jobs read back as written: the
// GPS position (to a few centimetres) and the capture time in the campaign's zone.
func TestDemoPhotoFile(t *testing.T) {
	taken := time.Date(2026, 11, 20, 9, 7, 31, 0, chinatime.Zone)
	jpg, err := demoJPEG(demoScene(7), 82, 113.54304, 34.23618, taken)
	if err != nil {
		t.Fatal(err)
	}
	md, err := imagery.ReadMetadata(bytes.NewReader(jpg), int64(len(jpg)))
	if err != nil {
		t.Fatal(err)
	}
	md.AssumeZone(chinatime.Zone)
	switch {
	case md.GPS == nil || abs(md.GPS.Lat-34.23618) > 1e-6 || abs(md.GPS.Lon-113.54304) > 1e-6:
		t.Errorf("GPS %+v, want 34.23618, 113.54304", md.GPS)
	case md.TakenAt == nil || !md.TakenAt.Equal(taken):
		t.Errorf("taken at %v, want %v", md.TakenAt, taken)
	}
	if len(jpg) > 40<<10 {
		t.Errorf("a demo photo takes %d bytes, want a small one", len(jpg))
	}
	// Scenes are far apart by pHash, and a re-encoded copy is near its original.
	h := func(seed uint64, q int) uint64 {
		t.Helper()
		b, err := demoJPEG(demoScene(seed), q, 113.5, 34.2, taken)
		if err != nil {
			t.Fatal(err)
		}
		img, err := jpeg.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		return imagery.PerceptualHash(img)
	}
	if d := imagery.HammingDistance(h(7, 82), h(7, 60)); d > 6 {
		t.Errorf("a re-encoded copy is %d bits from its original, want at most 6 (photo_reused)", d)
	}
	for s := uint64(8); s < 14; s++ {
		if d := imagery.HammingDistance(h(7, 82), h(s, 82)); d <= 10 {
			t.Errorf("scenes 7 and %d are %d bits apart, want more than 10", s, d)
		}
	}
}

// system scans one row of sql, read as the system.
func system(ctx context.Context, pool *pgxpool.Pool, sql string, dest ...any) error {
	return db.AsSystem(ctx, pool, "test", func(tx pgx.Tx) error { return tx.QueryRow(ctx, sql).Scan(dest...) })
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}

// TestDemoPhotos: the demo's photos go the real media path: each is its grid worker's upload in
// MinIO, cited by the worker's inspection; once the media jobs have run (a worker process, as
// `sieve serve` runs them) each has its EXIF position a few metres from the visit's fix, its
// capture time minutes before the visit, thumbnails and a pHash, and the evidence check has
// judged the inspections citing them: no photo flag on a genuine visit, and the worker who
// re-used a photo at other premises flagged photo_reused.
func TestDemoPhotos(t *testing.T) {
	url := testenv.DatabaseURL(t)
	bs := testenv.Blob(t)
	bc := testenv.BlobConfig(t)
	env := envOf("SIEVE_DB_URL", url, "SIEVE_LOG_LEVEL", "error", "SIEVE_S3_ENDPOINT", bc.Endpoint,
		"SIEVE_S3_ACCESS_KEY", bc.AccessKey, "SIEVE_S3_SECRET_KEY", bc.SecretKey,
		"SIEVE_S3_BUCKET_MEDIA", bs.BucketMedia, "SIEVE_S3_BUCKET_DERIVED", bs.BucketDerived)
	ctx := context.Background()
	var out, errb bytes.Buffer
	if err := run(ctx, []string{"demo", "--premises", "3000", "--photos", "40"}, env, strings.NewReader(""), &out, &errb); err != nil {
		t.Fatalf("demo: %v\n%s%s", err, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), " photos, 6 tips\n") || strings.Contains(out.String(), " 0 photos") {
		t.Fatalf("demo output: %s", out.String())
	}
	pool, err := db.Open(ctx, url, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	a := &app{cfg: config.Default(), log: testenv.Logger(), pool: pool, blob: bs}
	worker, err := a.wire(2)
	if err != nil {
		t.Fatal(err)
	}
	if err := worker.queue.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer worker.queue.Stop(ctx)
	// The media jobs run in the worker; the demo's 3,000-odd evidence checks queue beside them,
	// so the checks of the visits with photos are run here once the photos are processed.
	type state struct{ media, processed, visits int }
	var s state
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		err := system(ctx, pool, `SELECT
			(SELECT count(*) FROM media), (SELECT count(*) FROM media WHERE status = 'processed' AND phash IS NOT NULL),
			(SELECT count(DISTINCT inspection_id) FROM inspection_media)`, &s.media, &s.processed, &s.visits)
		if err != nil {
			t.Fatal(err)
		}
		if s.media > 0 && s.processed == s.media {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 3 minutes: %+v", s)
		}
	}
	if s.visits != 40 || s.media < 40 {
		t.Fatalf("%+v: want 40 inspections with photos", s)
	}
	var ids []string
	err = db.AsSystem(ctx, pool, "test", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT DISTINCT inspection_id::text FROM inspection_media`)
		if err != nil {
			return err
		}
		ids, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if v, err := worker.inspections.Check(ctx, id); err != nil || v.Status == "pending" {
			t.Fatalf("check of %s: %v, %v", id, v.Status, err)
		}
	}

	var c struct {
		notTheirs, noThumbs, far, early, late, genuine, genuineFlagged, reusedFlagged, objects int
	}
	err = system(ctx, pool, `WITH p AS (
			SELECT i.id, i.inspector_id, i.visited_at, i.device_point, i.device_accuracy_m, i.evidence, i.evidence_flags,
			  m.uploaded_by, m.thumbs, m.point, m.taken_at, m.original_name
			FROM inspections i JOIN inspection_media im ON im.inspection_id = i.id JOIN media m ON m.id = im.media_id),
		own AS (SELECT * FROM p WHERE original_name <> 'IMG_reused.jpg')
		SELECT
			(SELECT count(*) FROM p WHERE uploaded_by <> inspector_id),
			(SELECT count(*) FROM p WHERE thumbs IS NULL OR thumbs = '{}'::jsonb),
			(SELECT count(*) FROM own WHERE ST_Distance(point::geography, device_point::geography) > 10),
			(SELECT count(*) FROM own WHERE taken_at < visited_at - interval '10 minutes'),
			(SELECT count(*) FROM own WHERE taken_at > visited_at),
			(SELECT count(DISTINCT id) FROM own WHERE device_accuracy_m BETWEEN 3 AND 30
			   AND id NOT IN (SELECT id FROM p WHERE original_name = 'IMG_reused.jpg')),
			(SELECT count(DISTINCT id) FROM own WHERE device_accuracy_m BETWEEN 3 AND 30
			   AND id NOT IN (SELECT id FROM p WHERE original_name = 'IMG_reused.jpg')
			   AND EXISTS (SELECT 1 FROM unnest(evidence_flags) f WHERE f LIKE 'photo%' OR f = 'no_photo')),
			(SELECT count(DISTINCT id) FROM p WHERE original_name = 'IMG_reused.jpg' AND 'photo_reused' = ANY (evidence_flags)),
			(SELECT count(*) FROM media WHERE object_key <> '')`,
		&c.notTheirs, &c.noThumbs, &c.far, &c.early, &c.late, &c.genuine, &c.genuineFlagged, &c.reusedFlagged, &c.objects)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v %+v", s, c)
	switch {
	case c.notTheirs != 0 || c.noThumbs != 0:
		t.Errorf("%d photos not their inspector's upload, %d without thumbnails", c.notTheirs, c.noThumbs)
	case c.far != 0 || c.early != 0 || c.late != 0:
		t.Errorf("photos read back: %d more than 10 m from the fix, %d taken over 10 minutes before the visit, %d after it", c.far, c.early, c.late)
	case c.genuine < 20 || c.genuineFlagged != 0:
		t.Errorf("%d genuine visits with photos, %d of them with a photo flag", c.genuine, c.genuineFlagged)
	case c.reusedFlagged != demoReuses:
		t.Errorf("%d visits citing a re-used photo flagged photo_reused, want %d", c.reusedFlagged, demoReuses)
	}
	// The demo's received tip carries a photo: a medium of source tip without an uploader, in
	// the tip's cell's path, processed like the others (thumbnails, pHash, EXIF position).
	var tipMedia, tipProcessed int
	if err := system(ctx, pool, `SELECT count(*), count(*) FILTER (WHERE m.status = 'processed' AND m.thumbs ? 'list'
			AND m.phash IS NOT NULL AND m.point IS NOT NULL AND m.uploaded_by IS NULL AND m.region_path = t.region_path)
		FROM media m JOIN tip_photos p ON p.media_id = m.id JOIN tips t ON t.id = p.tip_id WHERE m.source = 'tip'`,
		&tipMedia, &tipProcessed); err != nil {
		t.Fatal(err)
	}
	if tipMedia != 1 || tipProcessed != 1 {
		t.Errorf("tip photos: %d media, %d processed in the tip's path; want 1, 1", tipMedia, tipProcessed)
	}
	// The objects are in MinIO, where GET /media/{id}/original reads them.
	var key string
	if err := system(ctx, pool, `SELECT object_key FROM media ORDER BY id LIMIT 1`, &key); err != nil {
		t.Fatal(err)
	}
	if _, err := bs.Client.StatObject(ctx, bs.BucketMedia, key, minio.StatObjectOptions{}); err != nil {
		t.Errorf("the first photo's object %s: %v", key, err)
	}
}
