package reports

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"
	"github.com/xuri/excelize/v2"

	"github.com/sieve-city/sieve/internal/blob"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/ledgers"
	"github.com/sieve-city/sieve/internal/testenv"
)

// photoWorld adds to the world a second case in 火龙镇 (t1) without photos, a case in 顺店镇 (t2)
// with a photo, and the photos of the first case: a phone photo and a drone image whose detail
// thumbnails are in the derived bucket, a photo whose thumbnail object is gone from the store,
// and a photo whose thumbnail was never made.
type photoWorld struct {
	*world
	second, other                    int64 // the case without photos (t1), the case of t2
	phone, drone, gone, pending, t2m int64 // media
	thumbs                           map[int64][]byte
}

func newPhotoWorld(t *testing.T) *photoWorld {
	t.Helper()
	ctx := context.Background()
	w := &photoWorld{world: newWorld(t), thumbs: map[int64][]byte{}}
	err := db.AsSystem(ctx, w.pool, "test", func(tx pgx.Tx) error {
		site := func(town int64, firm string) int64 {
			var id int64
			if err := tx.QueryRow(ctx, `INSERT INTO sites (point, source, status, classes, firm_name, address, created_at, status_at)
				VALUES (ST_SetSRID(ST_MakePoint(113.43, 34.2), 4326), 'manual', 'verified_illegal', '{unlicensed}', $1,
					'某村', '2026-11-07 10:00+08', '2026-11-08 10:00+08') RETURNING id`, firm).Scan(&id); err != nil {
				t.Fatal(err)
			}
			if _, err := tx.Exec(ctx, `UPDATE sites SET region_path = r.path FROM regions r WHERE sites.id = $1 AND r.id = $2`,
				id, town); err != nil {
				t.Fatal(err)
			}
			return id
		}
		w.second = site(w.t1, "乙/涂料:厂")
		w.other = site(w.t2, "丙化工厂")
		var survey int64
		if err := tx.QueryRow(ctx, `INSERT INTO surveys (region_id, region_path, operator_id, flight_date)
			VALUES ($1, '', $2, '2026-11-04') RETURNING id`, w.t1, w.admin.UserID).Scan(&survey); err != nil {
			t.Fatal(err)
		}
		n := 0
		medium := func(town, site int64, kind, how string, taken string, thumb bool) int64 {
			n++
			var surveyID any
			if kind == "drone" {
				surveyID = survey
			}
			var id int64
			if err := tx.QueryRow(ctx, `INSERT INTO media (kind, survey_id, uploaded_by, region_path, sha256, size, format,
					content_type, object_key, status, taken_at)
				SELECT $1, $2, $3, r.path, sha256(convert_to($4::text, 'UTF8')), 100, 'jpeg', 'image/jpeg', 'originals/test-' || $4::text,
					'processed', nullif($5::text, '')::timestamptz
				FROM regions r WHERE r.id = $6 RETURNING id`,
				kind, surveyID, w.admin.UserID, fmt.Sprintf("m%d", n), taken, town).Scan(&id); err != nil {
				t.Fatal(err)
			}
			if thumb {
				key := fmt.Sprintf("thumbs/%d/detail.jpg", id)
				if _, err := tx.Exec(ctx, `UPDATE media SET thumbs = jsonb_build_object('detail', jsonb_build_object('key', $2::text,
					'width', 64, 'height', 64, 'etag', 'x')) WHERE id = $1`, id, key); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := tx.Exec(ctx, `INSERT INTO media_site_links (media_id, site_id, how, region_path, site_path)
				SELECT $1, s.id, $3, m.region_path, s.region_path FROM sites s, media m WHERE s.id = $2 AND m.id = $1`,
				id, site, how); err != nil {
				t.Fatal(err)
			}
			return id
		}
		w.phone = medium(w.t1, w.site, "photo", "near", "2026-11-05 10:00:00+08", true)
		w.drone = medium(w.t1, w.site, "drone", "footprint", "2026-11-04 15:30:00+08", true)
		w.gone = medium(w.t1, w.site, "photo", "near", "2026-11-03 09:00:00+08", true)
		w.pending = medium(w.t1, w.site, "photo", "near", "", false)
		w.t2m = medium(w.t2, w.other, "photo", "near", "2026-11-06 11:00:00+08", true)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range []int64{w.phone, w.drone, w.t2m} {
		body := append(jpegBytes(t), byte(i), byte(id)) // distinct bytes per photo
		w.thumbs[id] = body
		if _, err := w.blob.Client.PutObject(ctx, w.blob.BucketDerived, fmt.Sprintf("thumbs/%d/detail.jpg", id),
			bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{ContentType: "image/jpeg"}); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

// exportZip runs export id and returns the ready export and its ZIP, checked against the
// recorded size and SHA-256.
func (w *photoWorld) exportZip(t *testing.T, a db.Actor, id int64) (Export, *zip.Reader) {
	t.Helper()
	ctx := context.Background()
	if err := w.svc.RunExport(ctx, id, false); err != nil {
		t.Fatal(err)
	}
	e, err := w.svc.GetExport(ctx, a, id)
	if err != nil || e.State != ExportReady || !e.Photos || e.ContentType != "application/zip" || !strings.HasSuffix(e.Name, "_照片附件.zip") {
		t.Fatalf("export: %v %+v", err, e)
	}
	obj, err := w.blob.Client.GetObject(ctx, w.blob.BucketDerived, e.objectKey, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(obj)
	obj.Close()
	if err != nil {
		t.Fatal(err)
	}
	if sum(body) != e.SHA256 || e.Size == nil || *e.Size != int64(len(body)) {
		t.Fatalf("stored ZIP: %d bytes sha %s, recorded %v %s", len(body), sum(body), e.Size, e.SHA256)
	}
	zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	return e, zr
}

// entries maps a ZIP's file names to their SHA-256.
func entries(t *testing.T, zr *zip.Reader) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, f := range zr.File {
		r, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		if _, err := io.Copy(h, r); err != nil {
			t.Fatal(err)
		}
		r.Close()
		out[f.Name] = hex.EncodeToString(h.Sum(nil))
	}
	return out
}

func zipFile(t *testing.T, zr *zip.Reader, name string) []byte {
	t.Helper()
	r, err := zr.Open(name)
	if err != nil {
		t.Fatalf("%s: %v (have %v)", name, err, names(zr))
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func names(zr *zip.Reader) []string {
	var out []string
	for _, f := range zr.File {
		out = append(out, f.Name)
	}
	return out
}

func sha(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

// TestPhotoAppendix: a coordinator's 附件2 with photos is one ZIP holding the workbook and, in
// 火龙镇/序号-企业名称 folders, the detail thumbnails of the township's cases byte for byte; the
// index sheet 照片附件 gives each photo the case's 序号 as the ledger numbers it, links the
// present files and reports the missing ones; the other township's photo is not there.
func TestPhotoAppendix(t *testing.T) {
	w := newPhotoWorld(t)
	ctx := context.Background()
	w.clock.set("2026-11-20 10:00:00")
	req := ExportRequest{Kind: "illegal", TownshipID: w.t1, Month: "2026-11", Photos: true}
	e, created, err := w.svc.RequestExport(ctx, w.coord1, req, "")
	if err != nil || !created || !e.Photos {
		t.Fatalf("request: %v %v %+v", err, created, e)
	}
	// The same request while it is queued answers the same export.
	if again, created, err := w.svc.RequestExport(ctx, w.coord1, req, ""); err != nil || created || again.ID != e.ID {
		t.Fatalf("again: %v %v %d want %d", err, created, again.ID, e.ID)
	}
	e, zr := w.exportZip(t, w.coord1, e.ID)
	if e.Name != "附件2_火龙镇_2026-11_照片附件.zip" {
		t.Fatalf("name %q", e.Name)
	}
	got := entries(t, zr)
	dir := "火龙镇/001-甲化工作坊/"
	phone := fmt.Sprintf("%s01_手机照片_20261105-100000_%d.jpg", dir, w.phone)
	drone := fmt.Sprintf("%s02_无人机航拍_20261104-153000_%d.jpg", dir, w.drone)
	want := map[string]string{
		phone:                  sha(w.thumbs[w.phone]),
		drone:                  sha(w.thumbs[w.drone]),
		"附件2_火龙镇_2026-11.xlsx": got["附件2_火龙镇_2026-11.xlsx"],
	}
	if len(got) != len(want) {
		t.Fatalf("ZIP holds %v, want %v", names(zr), want)
	}
	for name, h := range want {
		if got[name] != h || h == "" {
			t.Fatalf("%s: sha %q, want %q (ZIP holds %v)", name, got[name], h, names(zr))
		}
	}
	for name := range got {
		if strings.Contains(name, "顺店镇") || strings.Contains(name, fmt.Sprint(w.t2m)+".jpg") {
			t.Fatalf("another township's photo in the ZIP: %s", name)
		}
	}

	wb, err := excelize.OpenReader(bytes.NewReader(zipFile(t, zr, "附件2_火龙镇_2026-11.xlsx")))
	if err != nil {
		t.Fatal(err)
	}
	defer wb.Close()
	if sheets := wb.GetSheetList(); !slices.Equal(sheets, []string{"火龙镇", "照片附件"}) {
		t.Fatalf("sheets %v", sheets)
	}
	// The ledger's 序号 of each firm (the body starts below the two header rows, row 6).
	ledger, err := wb.GetRows("火龙镇")
	if err != nil {
		t.Fatal(err)
	}
	seqOf := map[string]string{}
	for _, r := range ledger[5:] {
		if len(r) > 1 && r[1] != "" {
			seqOf[r[1]] = r[0]
		}
	}
	if seqOf["甲化工作坊"] != "1" || seqOf["乙/涂料:厂"] != "2" {
		t.Fatalf("ledger numbering %v", seqOf)
	}
	rows, err := wb.GetRows("照片附件")
	if err != nil {
		t.Fatal(err)
	}
	if rows[0][0] != "附件2" || rows[3][2] != "台账序号" || rows[3][4] != "照片" {
		t.Fatalf("index head %q / %q", rows[0], rows[3])
	}
	type line struct{ seq, firm, photo, when, source, reason, status string }
	var lines []line
	for _, r := range rows[4:] {
		r = append(r, make([]string, 9)...)
		lines = append(lines, line{r[2], r[3], r[4], r[5], r[6], r[7], r[8]})
	}
	wantLines := []line{
		{"1", "甲化工作坊", phone, "2026-11-05 10:00:00", "手机照片", "位置相近", "已附"},
		{"1", "甲化工作坊", drone, "2026-11-04 15:30:00", "无人机航拍", "航拍覆盖", "已附"},
		{"1", "甲化工作坊", fmt.Sprintf("%s03_手机照片_20261103-090000_%d.jpg", dir, w.gone), "2026-11-03 09:00:00", "手机照片", "位置相近",
			ledgers.MissingObject},
		{"1", "甲化工作坊", fmt.Sprintf("%s04_手机照片_时间不详_%d.jpg", dir, w.pending), "", "手机照片", "位置相近", ledgers.MissingNoThumbnail},
		{"2", "乙/涂料:厂", "（无照片）", "", "", "", ""},
	}
	if !slices.Equal(lines, wantLines) {
		t.Fatalf("index lines\n got %q\nwant %q", lines, wantLines)
	}
	for _, l := range lines {
		if l.seq != seqOf[l.firm] {
			t.Fatalf("index 序号 %s of %s, the ledger's is %s", l.seq, l.firm, seqOf[l.firm])
		}
	}
	// The present photos link to their files in the ZIP; the missing ones link nowhere.
	for row, target := range map[int]string{5: phone, 6: drone, 7: "", 8: ""} {
		ok, link, err := wb.GetCellHyperLink("照片附件", fmt.Sprintf("E%d", row))
		if err != nil || ok != (target != "") || link != target {
			t.Fatalf("E%d link %v %q %v, want %q", row, ok, link, err, target)
		}
		if target != "" {
			if _, err := zr.Open(link); err != nil {
				t.Fatalf("link %q names no file of the ZIP", link)
			}
		}
	}
}

// TestPhotoAppendixCity: the city office's appendix has every township's folders and, as CSV,
// the index 照片附件.csv beside the ledger; photos apply to 附件2 only, and the flag is part of
// what an Idempotency-Key asked for.
func TestPhotoAppendixCity(t *testing.T) {
	w := newPhotoWorld(t)
	ctx := context.Background()
	w.clock.set("2026-11-20 10:00:00")
	_, _, err := w.svc.RequestExport(ctx, w.admin, ExportRequest{Kind: "exited", Month: "2026-11", Photos: true}, "")
	wantCode(t, err, "photos_unsupported")
	if _, _, err := w.svc.RequestExport(ctx, w.admin, ExportRequest{Kind: "illegal", Month: "2026-11"}, "k1"); err != nil {
		t.Fatal(err)
	}
	_, _, err = w.svc.RequestExport(ctx, w.admin, ExportRequest{Kind: "illegal", Month: "2026-11", Photos: true}, "k1")
	wantCode(t, err, "idempotency_key_reused")

	e, _, err := w.svc.RequestExport(ctx, w.admin, ExportRequest{Kind: "illegal", Month: "2026-11", Format: "csv", Photos: true}, "")
	if err != nil {
		t.Fatal(err)
	}
	e, zr := w.exportZip(t, w.admin, e.ID)
	if e.Name != "附件2_禹州市_2026-11_照片附件.zip" {
		t.Fatalf("name %q", e.Name)
	}
	got := entries(t, zr)
	t2 := fmt.Sprintf("顺店镇/001-丙化工厂/01_手机照片_20261106-110000_%d.jpg", w.t2m)
	if got[t2] != sha(w.thumbs[w.t2m]) {
		t.Fatalf("%s missing or wrong (ZIP holds %v)", t2, names(zr))
	}
	if got[fmt.Sprintf("火龙镇/001-甲化工作坊/01_手机照片_20261105-100000_%d.jpg", w.phone)] != sha(w.thumbs[w.phone]) {
		t.Fatalf("火龙镇's photo missing (ZIP holds %v)", names(zr))
	}
	if _, ok := got["附件2_禹州市_2026-11.csv"]; !ok {
		t.Fatalf("no ledger CSV in %v", names(zr))
	}
	index := zipFile(t, zr, "照片附件.csv")
	if !bytes.HasPrefix(index, []byte("\xef\xbb\xbf")) {
		t.Fatal("index CSV without a byte-order mark")
	}
	recs, err := csv.NewReader(bytes.NewReader(index[3:])).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	// Head, four photos and the photo-less case of 火龙镇, the photo of 顺店镇.
	if len(recs) != 7 || recs[0][4] != "照片" || recs[6][1] != "顺店镇" || recs[6][4] != t2 || recs[6][8] != "已附" {
		t.Fatalf("index CSV %q", recs)
	}
}

// TestPhotoAppendixStoreAway: with the store unreachable the export is tried again (the job's
// error), and the last attempt marks it failed; nothing is left in the bucket.
func TestPhotoAppendixStoreAway(t *testing.T) {
	w := newPhotoWorld(t)
	ctx := context.Background()
	w.clock.set("2026-11-20 10:00:00")
	cfg := testenv.BlobConfig(t)
	cfg.BucketMedia, cfg.BucketDerived = w.blob.BucketMedia, w.blob.BucketDerived
	proxy := testenv.NewProxy(t, cfg.Endpoint)
	cfg.Endpoint = proxy.Addr
	away, err := blob.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	proxy.Cut()
	svc := w.service(t, away, Ledgers{Service: ledgers.New(w.clock.now)})
	e, _, err := svc.RequestExport(ctx, w.coord1, ExportRequest{Kind: "illegal", TownshipID: w.t1, Month: "2026-11", Photos: true}, "")
	if err != nil {
		t.Fatal(err)
	}
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := svc.RunExport(tctx, e.ID, false); err == nil {
		t.Fatal("export with the store away succeeded")
	}
	if got, _ := svc.GetExport(ctx, w.coord1, e.ID); got.State != ExportRunning {
		t.Fatalf("after a failed attempt: %s", got.State)
	}
	if err := svc.RunExport(tctx, e.ID, true); err == nil {
		t.Fatal("last attempt with the store away succeeded")
	}
	if got, _ := svc.GetExport(ctx, w.coord1, e.ID); got.State != ExportFailed || got.Error == "" {
		t.Fatalf("after the last attempt: %+v", got)
	}
	if keys := objects(t, w.blob, w.blob.BucketDerived, "exports/"); len(keys) != 0 {
		t.Fatalf("objects left: %v", keys)
	}
}

// TestPhotoAppendixMemoryBounded: a ZIP of 96 MiB of photos is made with far less memory than
// its size: the photos are copied one at a time and the ZIP streamed in 16 MiB parts (holding
// either the photos or the ZIP would allocate at least their 96 MiB). The bytes allocated
// during the export, counted by the runtime (not timed), stay under half the ZIP.
func TestPhotoAppendixMemoryBounded(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.clock.set("2026-11-20 10:00:00")
	const photos, size = 96, 1 << 20
	body := make([]byte, size)
	for i := range body {
		body[i] = byte(i*7 + i>>10)
	}
	if _, err := w.blob.Client.PutObject(ctx, w.blob.BucketDerived, "thumbs/big/detail.jpg", bytes.NewReader(body), size,
		minio.PutObjectOptions{ContentType: "image/jpeg"}); err != nil {
		t.Fatal(err)
	}
	if err := db.AsSystem(ctx, w.pool, "test", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `WITH m AS (
				INSERT INTO media (kind, uploaded_by, region_path, sha256, size, format, content_type, object_key, status, taken_at, thumbs)
				SELECT 'photo', $2, s.region_path, sha256(convert_to('big' || g, 'UTF8')), $4, 'jpeg', 'image/jpeg', 'originals/big-' || g,
					'processed', '2026-11-05 10:00+08'::timestamptz + g * interval '1 minute',
					'{"detail": {"key": "thumbs/big/detail.jpg", "width": 1, "height": 1, "etag": "x"}}'
				FROM sites s, generate_series(1, $3::int) g WHERE s.id = $1 RETURNING id, region_path)
			INSERT INTO media_site_links (media_id, site_id, how, region_path, site_path)
			SELECT m.id, $1, 'near', m.region_path, m.region_path FROM m`, w.site, w.admin.UserID, photos, size)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	e, _, err := w.svc.RequestExport(ctx, w.coord1, ExportRequest{Kind: "illegal", TownshipID: w.t1, Month: "2026-11", Photos: true}, "")
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if err := w.svc.RunExport(ctx, e.ID, false); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	e, err = w.svc.GetExport(ctx, w.coord1, e.ID)
	if err != nil || e.State != ExportReady || e.Size == nil || *e.Size < photos*size {
		t.Fatalf("export: %v %+v", err, e)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("ZIP %d bytes, allocated %d bytes during the export", *e.Size, alloc)
	if alloc > uint64(*e.Size)/2 {
		t.Fatalf("the export allocated %d bytes for a ZIP of %d", alloc, *e.Size)
	}
}

// TestPhotoAppendixFailsMidway: when a photo cannot be read after more than one upload part of
// the ZIP went to the store, the multipart upload is aborted: no object and no unfinished
// upload are left, and the last attempt marks the export failed.
func TestPhotoAppendixFailsMidway(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.clock.set("2026-11-20 10:00:00")
	const size = 1 << 20
	body := bytes.Repeat([]byte{0xd8}, size)
	if _, err := w.blob.Client.PutObject(ctx, w.blob.BucketDerived, "thumbs/big/detail.jpg", bytes.NewReader(body), size,
		minio.PutObjectOptions{ContentType: "image/jpeg"}); err != nil {
		t.Fatal(err)
	}
	// 20 MiB of readable photos, newest first, then one whose key the client refuses (longer
	// than S3's 1,024 bytes): not "missing", an error.
	if err := db.AsSystem(ctx, w.pool, "test", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `WITH m AS (
				INSERT INTO media (kind, uploaded_by, region_path, sha256, size, format, content_type, object_key, status, taken_at, thumbs)
				SELECT 'photo', $2, s.region_path, sha256(convert_to('mid' || g, 'UTF8')), 10, 'jpeg', 'image/jpeg', 'originals/mid-' || g,
					'processed', '2026-11-05 10:00+08'::timestamptz - g * interval '1 minute',
					jsonb_build_object('detail', jsonb_build_object('key', CASE WHEN g = 21 THEN repeat('x', 1100) ELSE 'thumbs/big/detail.jpg' END))
				FROM sites s, generate_series(1, 21) g WHERE s.id = $1 RETURNING id, region_path)
			INSERT INTO media_site_links (media_id, site_id, how, region_path, site_path)
			SELECT m.id, $1, 'near', m.region_path, m.region_path FROM m`, w.site, w.admin.UserID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	e, _, err := w.svc.RequestExport(ctx, w.coord1, ExportRequest{Kind: "illegal", TownshipID: w.t1, Month: "2026-11", Photos: true}, "")
	if err != nil {
		t.Fatal(err)
	}
	err = w.svc.RunExport(ctx, e.ID, true)
	if err == nil {
		t.Fatal("an export with an unreadable photo succeeded")
	}
	t.Log(err)
	if got, _ := w.svc.GetExport(ctx, w.coord1, e.ID); got.State != ExportFailed {
		t.Fatalf("after the last attempt: %s", got.State)
	}
	if keys := objects(t, w.blob, w.blob.BucketDerived, "exports/"); len(keys) != 0 {
		t.Fatalf("objects left: %v", keys)
	}
	for u := range w.blob.Client.ListIncompleteUploads(ctx, w.blob.BucketDerived, "exports/", true) {
		if u.Err != nil {
			t.Fatal(u.Err)
		}
		t.Fatalf("unfinished upload left: %s %s", u.Key, u.UploadID)
	}
}
