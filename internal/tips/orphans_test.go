package tips

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"

	"github.com/sieve-city/sieve/imagery"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/jobs"
	"github.com/sieve-city/sieve/internal/media"
	"github.com/sieve-city/sieve/internal/testenv"
)

// TestRemoveOrphans: on a real MinIO, the sweep deletes an old photo object under tips/ that no
// row names, keeps an old one a tip photo names and a young one no row names yet (an intake may
// be about to record it), and leaves objects outside tips/ alone.
func TestRemoveOrphans(t *testing.T) {
	ctx := context.Background()
	pool := testenv.DB(t)
	bl := testenv.Blob(t)
	th, err := imagery.NewThumbnailer(imagery.DefaultThumbConfig())
	if err != nil {
		t.Fatal(err)
	}
	q := jobs.New(pool, jobs.Options{}, testenv.Logger())
	ms, err := media.New(media.Deps{Pool: pool, Blob: bl, Thumbs: th, Jobs: q, Now: time.Now, Log: testenv.Logger()}, media.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Build(ms); err != nil {
		t.Fatal(err)
	}
	jpeg, err := os.ReadFile("../../imagery/testdata/DSCN0010.jpg")
	if err != nil {
		t.Fatal(err)
	}
	put := func(key string) time.Time {
		t.Helper()
		if _, err := bl.Client.PutObject(ctx, bl.BucketMedia, key, bytes.NewReader(jpeg), int64(len(jpeg)),
			minio.PutObjectOptions{ContentType: "image/jpeg"}); err != nil {
			t.Fatal(err)
		}
		st, err := bl.Client.StatObject(ctx, bl.BucketMedia, key, minio.StatObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return st.LastModified
	}
	orphan, named, other := "tips/2026/01/01/orphan.jpg", "tips/2026/01/01/named.jpg", "media/2026/01/01/other.jpg"
	old := put(orphan)
	put(named)
	put(other)
	// The young object must be stored strictly after the old ones (MinIO's times may be whole
	// seconds): the sweep's cut-off is set to its time.
	young := "tips/2026/01/01/young.jpg"
	var youngAt time.Time
	for youngAt = put(young); !youngAt.After(old); youngAt = put(young) {
		time.Sleep(200 * time.Millisecond)
	}
	// A tip whose photo row names the second object.
	if err := db.AsSystem(ctx, pool, "test", func(tx pgx.Tx) error {
		var id int64
		if err := tx.QueryRow(ctx, `INSERT INTO tips (code_hash, description, address, photos)
			VALUES (sha256('orphans'), '有照片', '某村', 1) RETURNING id`).Scan(&id); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO tip_photos (tip_id, object_key, sha256, size, format, width, height)
			VALUES ($1, $2, sha256('x'), 1, 'jpeg', 1, 1)`, id, named)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.OrphanGrace = time.Hour
	s, err := New(Deps{Pool: pool, Media: ms, Now: func() time.Time { return youngAt.Add(time.Hour) }}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.RemoveOrphans(ctx)
	if err != nil {
		t.Fatal(err)
	}
	exists := func(key string) bool {
		_, err := bl.Client.StatObject(ctx, bl.BucketMedia, key, minio.StatObjectOptions{})
		return err == nil
	}
	if n != 1 || exists(orphan) || !exists(named) || !exists(young) || !exists(other) {
		t.Fatalf("removed %d; orphan there %v, named %v, young %v, other %v; want 1, false, true, true, true",
			n, exists(orphan), exists(named), exists(young), exists(other))
	}
	// Again: nothing more to remove.
	if n, err := s.RemoveOrphans(ctx); err != nil || n != 0 {
		t.Fatalf("second sweep: %d %v", n, err)
	}
}
