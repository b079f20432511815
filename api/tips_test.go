package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"mime/multipart"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"
	"github.com/xuri/excelize/v2"

	"github.com/sieve-city/sieve/client"
	"github.com/sieve-city/sieve/internal/accounts"
	"github.com/sieve-city/sieve/internal/db"
)

// The reporter's contact details of the fixture tips: they must never appear where they may not.
const (
	fixtureReporter = "王举报"
	fixturePhone    = "13912345678"
)

// tipsWorld adds, for the access matrix, a tip in k1 and one in k2 (each with a contact and a
// photo whose id is the tip's), and a closed site in each township with a responsible person
// proposed for credit listing.
func (h *harness) tipsWorld(w *world) map[string][2]int64 {
	h.t.Helper()
	ctx := context.Background()
	jpeg, err := os.ReadFile("../imagery/testdata/gps_decimal.jpg")
	if err != nil {
		h.t.Fatal(err)
	}
	sum := sha256.Sum256(jpeg)
	err = db.AsSystem(ctx, h.pool, "test", func(tx pgx.Tx) error {
		tip := func(id, cell int64, lon float64) error {
			code := sha256.Sum256([]byte(strconv.FormatInt(id, 10)))
			if _, err := tx.Exec(ctx, `INSERT INTO tips (id, code_hash, description, point, has_contact, photos)
				OVERRIDING SYSTEM VALUE VALUES ($1, $2, '夜里有刺鼻气味', ST_SetSRID(ST_MakePoint($3, 34.2), 4326), true, 1)`,
				id, code[:], lon); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE tips SET cell_id = r.id, region_path = r.path FROM regions r
				WHERE tips.id = $1 AND r.id = $2`, id, cell); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO tip_contacts (tip_id, name, phone) VALUES ($1, $2, $3)`,
				id, fixtureReporter, fixturePhone); err != nil {
				return err
			}
			key := fmt.Sprintf("tips/fixture/%d.jpg", id)
			_, err := tx.Exec(ctx, `INSERT INTO tip_photos (id, tip_id, object_key, sha256, size, format, width, height)
				OVERRIDING SYSTEM VALUE VALUES ($1, $1, $2, $3, $4, 'jpeg', 8, 8)`, id, key, sum[:], len(jpeg))
			return err
		}
		closedSite := func(id, cell int64, lon float64) error {
			if _, err := tx.Exec(ctx, `INSERT INTO sites (id, point, source, classes, firm_name, status, closed_at)
				OVERRIDING SYSTEM VALUE VALUES ($1, ST_SetSRID(ST_MakePoint($2, 34.2), 4326), 'tip', '{unlicensed}', '某化工作坊',
				'closed', now())`, id, lon); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE sites SET cell_id = r.id, region_path = r.path FROM regions r
				WHERE sites.id = $1 AND r.id = $2`, id, cell); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO site_persons (id, site_id, role, name, phone) OVERRIDING SYSTEM VALUE
				VALUES ($1, $1, 'actual_controller', '赵某', '13700000000')`, id); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO credit_listings (id, site_id, person_id, reason) OVERRIDING SYSTEM VALUE
				VALUES ($1, $1, $1, '非法生产危险化学品')`, id)
			return err
		}
		for _, f := range []func() error{
			func() error { return tip(920001, w.k1, 113.42) }, func() error { return tip(920002, w.k2, 113.65) },
			func() error { return closedSite(930001, w.k1, 113.42) }, func() error { return closedSite(930002, w.k2, 113.65) },
		} {
			if err := f(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return map[string][2]int64{"tip-cases": {920001, 920002}, "credit-listings": {930001, 930002}}
}

// tipPhotoObjects stores in MinIO the photos tipsWorld recorded, for the tests that fetch them
// (the access matrix); the others keep the media bucket empty, as the media tests count it.
func (h *harness) tipPhotoObjects(w *world) {
	h.t.Helper()
	jpeg, err := os.ReadFile("../imagery/testdata/gps_decimal.jpg")
	if err != nil {
		h.t.Fatal(err)
	}
	bl := h.srv.Media.Blob()
	for _, id := range w.tips["tip-cases"] {
		key := fmt.Sprintf("tips/fixture/%d.jpg", id)
		if _, err := bl.Client.PutObject(context.Background(), bl.BucketMedia, key, bytes.NewReader(jpeg), int64(len(jpeg)),
			minio.PutObjectOptions{ContentType: "image/jpeg"}); err != nil {
			h.t.Fatal(err)
		}
	}
}

// postTip posts a JSON tip without login, from the test's address, with a device id.
func (h *harness) postTip(body, device string) (int, string, http.Header) {
	h.t.Helper()
	return h.do(http.MethodPost, v1+"/tips", body, "X-Device-Id", device, "Accept-Language", "en")
}

type receipt struct {
	TrackingCode string `json:"trackingCode"`
	Status       string `json:"status"`
}

func (h *harness) mustTip(body string) receipt {
	h.t.Helper()
	status, b, _ := h.postTip(body, "")
	if status != http.StatusCreated {
		h.t.Fatalf("post tip: %d %s", status, b)
	}
	var r receipt
	if err := json.Unmarshal([]byte(b), &r); err != nil {
		h.t.Fatal(err)
	}
	return r
}

// tipByDescription finds a tip's id as the city office sees it.
func (h *harness) tipID(admin, description string) int64 {
	h.t.Helper()
	status, b := h.as(admin, http.MethodGet, v1+"/tip-cases?limit=500", "")
	if status != http.StatusOK {
		h.t.Fatalf("list: %d %s", status, b)
	}
	var page struct {
		Items []struct {
			ID          int64  `json:"id"`
			Description string `json:"description"`
		} `json:"items"`
	}
	_ = json.Unmarshal([]byte(b), &page)
	for _, x := range page.Items {
		if x.Description == description {
			return x.ID
		}
	}
	h.t.Fatalf("no tip %q in %s", description, b)
	return 0
}

// TestTipsThrottled: 50 tips posted without login from one address: the first 5 (the hourly
// limit) are received, every later one is 429 too_many_tips with a Retry-After within the hour;
// a new device id does not escape the address's limit.
func TestTipsThrottled(t *testing.T) {
	h := newHarness(t)
	created, throttled := 0, 0
	for i := range 50 {
		body := fmt.Sprintf(`{"description":"第%d条举报：村东头小作坊夜间生产","address":"火龙镇火龙村东"}`, i)
		status, b, hdr := h.postTip(body, fmt.Sprintf("device-%03d", i)) // a new device each time
		switch status {
		case http.StatusCreated:
			created++
			if throttled > 0 {
				t.Fatalf("tip %d received after a refusal", i)
			}
		case http.StatusTooManyRequests:
			throttled++
			if !strings.Contains(b, `"too_many_tips"`) {
				t.Fatalf("tip %d: %s", i, b)
			}
			ra, err := strconv.Atoi(hdr.Get("Retry-After"))
			if err != nil || ra < 1 || ra > 3600 {
				t.Fatalf("tip %d: Retry-After %q", i, hdr.Get("Retry-After"))
			}
		default:
			t.Fatalf("tip %d: %d %s", i, status, b)
		}
	}
	if created != 5 || throttled != 45 {
		t.Fatalf("received %d, throttled %d; want 5 and 45", created, throttled)
	}
	var n int
	if err := db.AsSystem(context.Background(), h.pool, "test", func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), `SELECT count(*) FROM tips`).Scan(&n)
	}); err != nil || n != 5 {
		t.Fatalf("%d tips stored (%v), want 5", n, err)
	}
}

// TestTipPublicStatus: the code answers status and public note only; a wrong code is 404; the
// code may be typed in lower case with dashes; nothing of the contact or the place is shown.
func TestTipPublicStatus(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	h.mapWorld(w)
	r := h.mustTip(`{"description":"河边仓库有人生产油漆","lon":113.42,"lat":34.2,"name":"李四","phone":"13800138000"}`)
	if len(r.TrackingCode) != 12 || r.Status != "received" {
		t.Fatalf("receipt %+v", r)
	}
	status, b, hdr := h.do(http.MethodGet, v1+"/tips/"+r.TrackingCode, "")
	if status != http.StatusOK || hdr.Get("Cache-Control") != "no-store" {
		t.Fatalf("status: %d %s %v", status, b, hdr)
	}
	for _, leak := range []string{"李四", "13800138000", "113.42", "河边仓库"} {
		if strings.Contains(b, leak) {
			t.Fatalf("public status shows %q: %s", leak, b)
		}
	}
	typed := strings.ToLower(r.TrackingCode[:4] + "-" + r.TrackingCode[4:8] + "-" + r.TrackingCode[8:])
	if status, b, _ := h.do(http.MethodGet, v1+"/tips/"+typed, ""); status != http.StatusOK {
		t.Fatalf("typed code: %d %s", status, b)
	}
	wrong := []byte(r.TrackingCode)
	wrong[0] = map[bool]byte{true: '3', false: '2'}[wrong[0] == '2']
	for _, code := range []string{string(wrong), "AAAAAAAAAAAA", "x"} {
		if status, b, _ := h.do(http.MethodGet, v1+"/tips/"+code, ""); status != http.StatusNotFound || !strings.Contains(b, "not_found") {
			t.Fatalf("wrong code %s: %d %s", code, status, b)
		}
	}
	// The coordinator's public note shows; the reason does not.
	coord, admin := h.token(w.users["coord"]), h.token(w.users["admin"])
	id := h.tipID(admin, "河边仓库有人生产油漆")
	if status, b := h.as(coord, http.MethodPost, fmt.Sprintf("%s/tip-cases/%d/transitions", v1, id),
		`{"to":"invalid","reason":"现场为正规汽修店","publicNote":"经核查未发现违法生产"}`); status != http.StatusOK {
		t.Fatalf("invalid: %d %s", status, b)
	}
	_, b, _ = h.do(http.MethodGet, v1+"/tips/"+r.TrackingCode, "")
	if !strings.Contains(b, `"status":"invalid"`) || !strings.Contains(b, "经核查未发现违法生产") || strings.Contains(b, "汽修店") {
		t.Fatalf("after the verdict: %s", b)
	}
}

// TestTipContactKeptApart: the reporter's name and phone appear neither in the public call nor in
// the coordinators' list and detail; the contact route is the city office's (403 for a
// coordinator), and row-level security hides the contacts table from a coordinator even in SQL.
func TestTipContactKeptApart(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	coord, admin := h.token(w.users["coord"]), h.token(w.users["admin"])
	in := w.tips["tip-cases"][0]
	for _, path := range []string{"/tip-cases", fmt.Sprintf("/tip-cases/%d", in)} {
		status, b := h.as(coord, http.MethodGet, v1+path, "")
		if status != http.StatusOK || !strings.Contains(b, "夜里有刺鼻气味") {
			t.Fatalf("coordinator %s: %d %s", path, status, b)
		}
		if strings.Contains(b, fixtureReporter) || strings.Contains(b, fixturePhone) {
			t.Fatalf("coordinator %s shows the contact: %s", path, b)
		}
	}
	if status, b := h.as(coord, http.MethodGet, fmt.Sprintf("%s/tip-cases/%d/contact", v1, in), ""); status != http.StatusForbidden {
		t.Fatalf("coordinator's contact call: %d %s", status, b)
	}
	status, b := h.as(admin, http.MethodGet, fmt.Sprintf("%s/tip-cases/%d/contact", v1, in), "")
	if status != http.StatusOK || !strings.Contains(b, fixtureReporter) || !strings.Contains(b, fixturePhone) {
		t.Fatalf("city's contact call: %d %s", status, b)
	}
	// Below the route: the coordinator's own transaction reads no contact row at all.
	ctx := context.Background()
	p, err := h.accounts.Authenticate(ctx, h.pool, coord)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.ReadInScope(ctx, h.pool, p.Actor("", ""), func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) FROM tip_contacts`).Scan(&n)
	}); err != nil || n != 0 {
		t.Fatalf("coordinator reads %d contacts (%v)", n, err)
	}
}

// TestTipContactReaders: the SQL function that guards the contacts table agrees with the grants
// table on every role (accounts.PermReadTipContacts).
func TestTipContactReaders(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	for _, r := range accounts.Roles {
		var ok bool
		a := db.Actor{UserID: 1, Username: "x", Role: string(r), Scope: []string{"1"}}
		if r == accounts.CityAdmin {
			a.Scope = nil
		}
		if err := db.ReadInScope(ctx, h.pool, a, func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, `SELECT sieve_tip_contacts_reader()`).Scan(&ok)
		}); err != nil {
			t.Fatal(err)
		}
		if ok != r.Can(accounts.PermReadTipContacts) {
			t.Errorf("role %s: SQL says %t, grants say %t", r, ok, r.Can(accounts.PermReadTipContacts))
		}
	}
}

// TestTipWorkflow: a tip with a point lands in its cell, becomes a task on the cell's grid
// worker's phone sync, is verified (closing the task), turned into a site; the duplicate rule
// rewards only the first valid reporter; the reward steps go by role (the township proposes,
// the city approves and records the payment) and the public status follows.
func TestTipWorkflow(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	h.mapWorld(w)
	coord, admin, worker := h.token(w.users["coord"]), h.token(w.users["admin"]), h.token(w.users["worker"])
	first := h.mustTip(`{"description":"甲：废弃厂房夜间生产","lon":113.41,"lat":34.25}`)
	h.mustTip(`{"description":"乙：同一厂房","lon":113.4105,"lat":34.2502}`) // ~50 m away
	h.mustTip(`{"description":"丙：另一处","lon":113.43,"lat":34.2}`)       // ~900 m away
	a, b, c := h.tipID(admin, "甲：废弃厂房夜间生产"), h.tipID(admin, "乙：同一厂房"), h.tipID(admin, "丙：另一处")

	get := func(id int64) map[string]any {
		t.Helper()
		status, body := h.as(coord, http.MethodGet, fmt.Sprintf("%s/tip-cases/%d", v1, id), "")
		if status != http.StatusOK {
			t.Fatalf("get %d: %d %s", id, status, body)
		}
		var m map[string]any
		_ = json.Unmarshal([]byte(body), &m)
		return m
	}
	if ta := get(a); ta["cellId"] != float64(w.k1) || ta["suggestedDuplicateOf"] != nil {
		t.Fatalf("first tip: %v", ta)
	}
	if tb := get(b); tb["suggestedDuplicateOf"] != float64(a) {
		t.Fatalf("second tip not suggested as a duplicate of %d: %v", a, tb)
	}
	if tc := get(c); tc["suggestedDuplicateOf"] != nil {
		t.Fatalf("third tip (1.8 km away) suggested as a duplicate: %v", tc)
	}
	// The task reaches the worker's phone.
	status, body := h.as(worker, http.MethodGet, v1+"/sync", "")
	if status != http.StatusOK || !strings.Contains(body, fmt.Sprintf(`"ref":"tip:%d"`, a)) {
		t.Fatalf("sync: %d, no task of tip %d: %.600s", status, a, body)
	}
	move := func(tok string, id int64, body string, want int) string {
		t.Helper()
		status, b := h.as(tok, http.MethodPost, fmt.Sprintf("%s/tip-cases/%d/transitions", v1, id), body)
		if status != want {
			t.Fatalf("move %d %s: %d %s, want %d", id, body, status, b, want)
		}
		return b
	}
	move(coord, a, `{"to":"valid","publicNote":"已核实，正在依法处置"}`, http.StatusOK)
	move(coord, b, `{"to":"valid"}`, http.StatusOK)
	move(coord, a, `{"to":"invalid","reason":"x"}`, http.StatusConflict) // valid → invalid: not in the table
	move(coord, c, `{"to":"invalid"}`, http.StatusUnprocessableEntity)   // a reason is required
	var open int
	ctx := context.Background()
	if err := db.AsSystem(ctx, h.pool, "test", func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) FROM tasks WHERE kind = 'tip' AND ref = $1 AND status = 'open'`,
			fmt.Sprintf("tip:%d", a)).Scan(&open)
	}); err != nil || open != 0 {
		t.Fatalf("the verified tip's task is still open (%d, %v)", open, err)
	}
	// A site from the tip.
	status, body = h.as(coord, http.MethodPost, fmt.Sprintf("%s/tip-cases/%d/site", v1, a), `{"classes":["unlicensed"],"firmName":"无名作坊"}`)
	if status != http.StatusCreated || !strings.Contains(body, `"source":"tip"`) || !strings.Contains(body, fmt.Sprintf(`"sourceRef":"tip:%d"`, a)) {
		t.Fatalf("site from tip: %d %s", status, body)
	}
	if status, body := h.as(coord, http.MethodPost, fmt.Sprintf("%s/tip-cases/%d/site", v1, a), `{}`); status != http.StatusConflict {
		t.Fatalf("second site: %d %s", status, body)
	}
	// Only the first valid reporter is rewarded.
	b2 := move(coord, b, `{"to":"reward_proposed","fineYuan":50000}`, http.StatusConflict)
	if !strings.Contains(b2, "not_first_reporter") {
		t.Fatalf("second reporter: %s", b2)
	}
	move(coord, b, fmt.Sprintf(`{"to":"duplicate","duplicateOf":%d}`, a), http.StatusOK)
	// The reward steps by role: 15 % of 50,000 is 7,500.
	body = move(coord, a, `{"to":"reward_proposed","fineYuan":50000}`, http.StatusOK)
	if !strings.Contains(body, `"rewardYuan":7500`) || !strings.Contains(body, `"fineYuan":50000`) {
		t.Fatalf("proposal: %s", body)
	}
	move(coord, a, `{"to":"reward_approved"}`, http.StatusForbidden)
	move(admin, a, `{"to":"reward_approved"}`, http.StatusOK)
	move(coord, a, `{"to":"reward_paid","paymentRef":"ZF-2024-001"}`, http.StatusForbidden)
	move(admin, a, `{"to":"reward_paid"}`, http.StatusUnprocessableEntity)
	move(admin, a, `{"to":"reward_paid","paymentRef":"ZF-2024-001"}`, http.StatusOK)
	move(admin, a, `{"to":"reward_approved"}`, http.StatusConflict)
	_, pub, _ := h.do(http.MethodGet, v1+"/tips/"+first.TrackingCode, "")
	if !strings.Contains(pub, `"status":"reward_paid"`) {
		t.Fatalf("public status after payment: %s", pub)
	}
	// The history, and the audit log, hold every step.
	status, body = h.as(admin, http.MethodGet, fmt.Sprintf("%s/tip-cases/%d", v1, a), "")
	for _, want := range []string{`"to":"received"`, `"to":"valid"`, `"to":"reward_proposed"`, `"to":"reward_approved"`, `"to":"reward_paid"`, `"siteId"`} {
		if status != http.StatusOK || !strings.Contains(body, want) {
			t.Fatalf("history lacks %s: %s", want, body)
		}
	}
	var audited int
	if err := db.AsSystem(ctx, h.pool, "test", func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE entity = 'tips' AND entity_id = $1`, strconv.FormatInt(a, 10)).Scan(&audited)
	}); err != nil || audited < 6 {
		t.Fatalf("audit entries of tip %d: %d (%v)", a, audited, err)
	}
	// The reporter's address is not in the audit entries the township reads.
	var withAddr int
	if err := db.AsSystem(ctx, h.pool, "test", func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE entity IN ('tips', 'tip_events', 'tip_photos', 'tip_contacts')
			AND actor = 'system:tips' AND remote_addr <> ''`).Scan(&withAddr)
	}); err != nil || withAddr != 0 {
		t.Fatalf("%d intake audit entries hold the reporter's address (%v)", withAddr, err)
	}
	// Another township's coordinator sees none of it.
	coord2 := h.token(w.users["coord2"])
	if status, body := h.as(coord2, http.MethodGet, fmt.Sprintf("%s/tip-cases/%d", v1, a), ""); status != http.StatusNotFound {
		t.Fatalf("other township: %d %s", status, body)
	}
}

// TestTipPhotos: a tip's photo goes through the upload checks: a JPEG is stored (and served to
// the coordinator), a file that is no image refuses the tip and leaves nothing behind.
func TestTipPhotos(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	h.mapWorld(w)
	jpeg, err := os.ReadFile("../imagery/testdata/DSCN0010.jpg")
	if err != nil {
		t.Fatal(err)
	}
	form := func(desc string, files ...[]byte) (*bytes.Buffer, string) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		_ = mw.WriteField("description", desc)
		_ = mw.WriteField("lon", "113.42")
		_ = mw.WriteField("lat", "34.2")
		_ = mw.WriteField("crs", "gcj02")
		for i, f := range files {
			fw, _ := mw.CreateFormFile("photo", fmt.Sprintf("p%d.jpg", i))
			_, _ = fw.Write(f)
		}
		_ = mw.Close()
		return &buf, mw.FormDataContentType()
	}
	body, ct := form("有照片的举报", jpeg)
	status, b, _ := h.request(http.MethodPost, v1+"/tips", body, "Content-Type", ct, "Accept-Language", "en")
	if status != http.StatusCreated {
		t.Fatalf("tip with a photo: %d %s", status, b)
	}
	body, ct = form("假照片的举报", []byte("this is not an image at all, whatever its name says"))
	status, b, _ = h.request(http.MethodPost, v1+"/tips", body, "Content-Type", ct, "Accept-Language", "en")
	if status != http.StatusUnsupportedMediaType || !strings.Contains(b, "unsupported_format") {
		t.Fatalf("tip with a fake photo: %d %s", status, b)
	}
	admin, coord := h.token(w.users["admin"]), h.token(w.users["coord"])
	id := h.tipID(admin, "有照片的举报")
	status, b = h.as(coord, http.MethodGet, fmt.Sprintf("%s/tip-cases/%d", v1, id), "")
	var d struct {
		Lon       float64 `json:"lon"`
		PhotoList []struct {
			ID     int64  `json:"id"`
			Format string `json:"format"`
			Size   int64  `json:"size"`
		} `json:"photoList"`
	}
	if err := json.Unmarshal([]byte(b), &d); err != nil || status != http.StatusOK || len(d.PhotoList) != 1 ||
		d.PhotoList[0].Format != "jpeg" || d.PhotoList[0].Size != int64(len(jpeg)) {
		t.Fatalf("detail: %d %s", status, b)
	}
	if d.Lon > 113.42-0.001 { // GCJ-02 in, WGS-84 stored: the offset here is ~500 m west
		t.Fatalf("gcj02 point not converted: lon %v", d.Lon)
	}
	if status, got, ct := h.tipPhoto(coord, id, d.PhotoList[0].ID); status != http.StatusOK || !bytes.Equal(got, jpeg) || ct != "image/jpeg" {
		t.Fatalf("photo: %d, %d bytes, %s", status, len(got), ct)
	}
	// Nothing of the refused tip: one tip, one photo row, one object under tips/.
	ctx := context.Background()
	var tipsN, photosN int
	_ = db.AsSystem(ctx, h.pool, "test", func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM tips WHERE description LIKE '%举报'), (SELECT count(*) FROM tip_photos WHERE object_key NOT LIKE 'tips/fixture/%')`).Scan(&tipsN, &photosN)
	})
	objects := 0
	bl := h.srv.Media.Blob()
	for o := range bl.Client.ListObjects(ctx, bl.BucketMedia, minio.ListObjectsOptions{Prefix: "tips/", Recursive: true}) {
		if o.Err == nil && !strings.HasPrefix(o.Key, "tips/fixture/") {
			objects++
		}
	}
	if tipsN != 1 || photosN != 1 || objects != 1 {
		t.Fatalf("left behind: %d tips, %d photo rows, %d objects; want 1 each", tipsN, photosN, objects)
	}
}

// TestCreditListing: a closed case's responsible person is proposed by the township, decided by
// the city (403 for the coordinator), and the approved ones make the register, exported as CSV
// with a BOM and as XLSX. A person of an open case cannot be proposed.
func TestCreditListing(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	coord, admin := h.token(w.users["coord"]), h.token(w.users["admin"])
	listing := w.tips["credit-listings"][0]
	decide := func(tok, body string, want int) string {
		t.Helper()
		status, b := h.as(tok, http.MethodPost, fmt.Sprintf("%s/credit-listings/%d/transitions", v1, listing), body)
		if status != want {
			t.Fatalf("decide %s: %d %s, want %d", body, status, b, want)
		}
		return b
	}
	decide(coord, `{"to":"approved"}`, http.StatusForbidden)
	decide(admin, `{"to":"approved","reason":"证据确实"}`, http.StatusOK)
	decide(admin, `{"to":"rejected","reason":"x"}`, http.StatusConflict)
	// A second proposal for the listed person, and one for a person of an open case.
	if status, b := h.as(coord, http.MethodPost, v1+"/credit-listings", fmt.Sprintf(`{"personId":%d,"reason":"再次"}`, listing)); status != http.StatusConflict || !strings.Contains(b, "already_listed") {
		t.Fatalf("second proposal: %d %s", status, b)
	}
	site := w.sites["sites"][0]
	status, b := h.as(coord, http.MethodPost, fmt.Sprintf("%s/sites/%d/persons", v1, site), `{"role":"landlord","name":"钱某"}`)
	if status != http.StatusCreated {
		t.Fatalf("person: %d %s", status, b)
	}
	var person struct{ ID int64 }
	_ = json.Unmarshal([]byte(b), &person)
	if status, b := h.as(coord, http.MethodPost, v1+"/credit-listings", fmt.Sprintf(`{"personId":%d,"reason":"出租场地"}`, person.ID)); status != http.StatusConflict || !strings.Contains(b, "case_not_closed") {
		t.Fatalf("open case: %d %s", status, b)
	}
	// The register.
	resp := func(format string) []byte {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, h.url+v1+"/credit-listings/export?format="+format, nil)
		req.Header.Set("Authorization", "Bearer "+admin)
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(r.Body)
		if r.StatusCode != http.StatusOK {
			t.Fatalf("export %s: %d %s", format, r.StatusCode, buf.String())
		}
		return buf.Bytes()
	}
	csvBytes := resp("csv")
	if !bytes.HasPrefix(csvBytes, []byte("\xEF\xBB\xBF序号,姓名,责任类型")) || !strings.Contains(string(csvBytes), "赵某,实际控制人") ||
		strings.Count(string(csvBytes), "\n") != 2 { // the header and the one approved listing (not t2's proposal)
		t.Fatalf("csv: %q", csvBytes)
	}
	f, err := excelize.OpenReader(bytes.NewReader(resp("xlsx")))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := f.GetRows("失信惩戒名单")
	if err != nil || len(rows) != 2 || rows[1][1] != "赵某" || rows[1][6] != "无证无照或证照不全" {
		t.Fatalf("xlsx rows %v (%v)", rows, err)
	}
}

// TestClientTips drives the tips through the Go client: the public posts and follows a tip
// without a session; the coordinator verifies it; the city reads the contact.
func TestClientTips(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	h.mapWorld(w)
	ctx := context.Background()
	public := client.New(h.url, client.WithLanguage("en"))
	rec, err := public.PostTip(ctx, client.TipSubmission{Description: "客户端举报", Address: "火龙镇", Phone: "13600000000"})
	if err != nil || len(rec.TrackingCode) != 12 {
		t.Fatalf("post: %+v %v", rec, err)
	}
	login := func(name string) *client.Client {
		c := client.New(h.url, client.WithLanguage("en"))
		if _, err := c.Login(ctx, name, "correct horse battery"); err != nil {
			t.Fatalf("login %s: %v", name, err)
		}
		return c
	}
	admin := login("admin")
	list, err := admin.ListTipCases(ctx, client.PageRequest{}, "received")
	var id int64
	for _, x := range list.Items {
		if x.Description == "客户端举报" {
			id = x.ID
		}
	}
	if err != nil || id == 0 {
		t.Fatalf("list: %+v %v", list, err)
	}
	// An address-only tip is the city's to place: verified with a point, it lands in its cell.
	if tip, err := admin.MoveTipCase(ctx, id, client.TipMove{To: "valid", Lon: ptr(113.42), Lat: ptr(34.2)}); err != nil ||
		tip.CellID == nil || *tip.CellID != w.k1 {
		t.Fatalf("verify: %+v %v", tip, err)
	}
	if c, err := admin.TipCaseContact(ctx, id); err != nil || c.Phone != "13600000000" {
		t.Fatalf("contact: %+v %v", c, err)
	}
	if d, err := login("coord").GetTipCase(ctx, id); err != nil || d.Status != "valid" || len(d.Events) != 2 {
		t.Fatalf("coordinator's detail: %+v %v", d, err)
	}
	if st, err := public.TipStatus(ctx, rec.TrackingCode); err != nil || st.Status != "valid" {
		t.Fatalf("status: %+v %v", st, err)
	}
	var ae *client.Error
	if _, err := public.TipStatus(ctx, "NOPE"); !errors.As(err, &ae) || ae.Status != http.StatusNotFound {
		t.Fatalf("wrong code: %v", err)
	}
}

// TestNewCellsPlaceTips: the tips placer (in regions' placers list) moves a tip into the new
// cell that holds it when cells are generated for its village: a tip posted before the
// village had cells lies in the village, then in its cell, and its township's coordinator
// sees it throughout. The tip, still awaiting its check, gets its grid worker's task with the
// cell, and one only when the cells are generated again.
func TestNewCellsPlaceTips(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	h.mapWorld(w)
	coord := h.token(w.users["coord"])
	status, body := h.send(coord, http.MethodPost, v1+"/regions/import", mimeGeoJSON,
		[]byte(fc(village("411081100202", "东村", box(113.5, 34.1, 113.6, 34.3)))))
	if status != http.StatusOK && status != http.StatusCreated {
		t.Fatalf("import: %d %s", status, body)
	}
	h.mustTip(`{"description":"东村的举报","lon":113.55,"lat":34.2}`)
	admin := h.token(w.users["admin"])
	id := h.tipID(admin, "东村的举报")
	var east int64
	ctx := context.Background()
	cellOf := func() (cell *int64) {
		t.Helper()
		if err := db.AsSystem(ctx, h.pool, "test", func(tx pgx.Tx) error {
			if err := tx.QueryRow(ctx, `SELECT id FROM regions WHERE code = '411081100202'`).Scan(&east); err != nil {
				return err
			}
			return tx.QueryRow(ctx, `SELECT t.cell_id FROM tips t JOIN regions r ON t.region_path <@ r.path
				WHERE t.id = $1 AND r.id = $2`, id, east).Scan(&cell)
		}); err != nil {
			t.Fatalf("tip %d not in the village: %v", id, err)
		}
		return cell
	}
	if c := cellOf(); c != nil {
		t.Fatalf("tip in cell %d before the village has cells", *c)
	}
	type task struct {
		cell *int64
		due  time.Time
	}
	openTasks := func() []task {
		t.Helper()
		var out []task
		if err := db.AsSystem(ctx, h.pool, "test", func(tx pgx.Tx) error {
			rows, err := tx.Query(ctx, `SELECT cell_id, due_at FROM tasks WHERE kind = 'tip' AND ref = $1 AND status = 'open'`,
				fmt.Sprintf("tip:%d", id))
			if err != nil {
				return err
			}
			out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (task, error) {
				var k task
				return k, r.Scan(&k.cell, &k.due)
			})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if k := openTasks(); len(k) != 0 {
		t.Fatalf("a task before the village has cells: %v", k)
	}
	for round, req := range []string{`{"shape":"square","size":3000}`, `{"shape":"square","size":2500,"replace":true}`} {
		// generated, then generated anew
		status, body = h.as(coord, http.MethodPost, fmt.Sprintf("%s/regions/%d/cells", v1, east), req)
		if status != http.StatusCreated || !strings.Contains(body, `"tips":1`) {
			t.Fatalf("cells: %d %s", status, body)
		}
		c := cellOf()
		if c == nil {
			t.Fatal("tip not placed in a new cell")
		}
		// Its grid worker's task comes with the cell, once, due in the verify window.
		k := openTasks()
		if len(k) != 1 || k[0].cell == nil || *k[0].cell != *c ||
			time.Until(k[0].due) < 6*24*time.Hour || time.Until(k[0].due) > 7*24*time.Hour+time.Minute {
			t.Fatalf("round %d: open tasks of the tip %+v, want one in cell %d due in 7 days", round, k, *c)
		}
	}
	if status, body := h.as(coord, http.MethodGet, fmt.Sprintf("%s/tip-cases/%d", v1, id), ""); status != http.StatusOK {
		t.Fatalf("coordinator: %d %s", status, body)
	}
}

// TestTipPhotoHEIC: a phone's HEIC photo on a tip is stored as it came and served to the
// coordinator as image/heic (the photo route once named it "heif" and answered octet-stream).
func TestTipPhotoHEIC(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	h.mapWorld(w)
	heic := fixtureBytes(t, "heic_header.heic")
	body, ct := tipWithPhoto("苹果手机拍的举报", "IMG_0001.HEIC", heic)
	status, b, _ := h.request(http.MethodPost, v1+"/tips", body, "Content-Type", ct)
	if status != http.StatusCreated {
		t.Fatalf("tip with a HEIC photo: %d %s", status, b)
	}
	admin, coord := h.token(w.users["admin"]), h.token(w.users["coord"])
	id := h.tipID(admin, "苹果手机拍的举报")
	status, b = h.as(coord, http.MethodGet, fmt.Sprintf("%s/tip-cases/%d", v1, id), "")
	var d struct {
		PhotoList []struct {
			ID     int64  `json:"id"`
			Format string `json:"format"`
		} `json:"photoList"`
	}
	if err := json.Unmarshal([]byte(b), &d); err != nil || status != http.StatusOK || len(d.PhotoList) != 1 || d.PhotoList[0].Format != "heic" {
		t.Fatalf("detail: %d %s", status, b)
	}
	if status, got, ct := h.tipPhoto(coord, id, d.PhotoList[0].ID); status != http.StatusOK || !bytes.Equal(got, heic) || ct != "image/heic" {
		t.Fatalf("photo: %d, %d bytes (want %d), Content-Type %q (want image/heic)", status, len(got), len(heic), ct)
	}
}

// tipPhoto fetches photo photoID of tip case tipID as tok: its status, bytes and Content-Type.
func (h *harness) tipPhoto(tok string, tipID, photoID int64) (int, []byte, string) {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, h.url+fmt.Sprintf("%s/tip-cases/%d/photos/%d", v1, tipID, photoID), nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var got bytes.Buffer
	_, _ = got.ReadFrom(resp.Body)
	return resp.StatusCode, got.Bytes(), resp.Header.Get("Content-Type")
}

// tipWithPhoto is the multipart form of a tip at 113.42, 34.2 with one photo file.
func tipWithPhoto(description, filename string, photo []byte) (*bytes.Buffer, string) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("description", description)
	_ = mw.WriteField("lon", "113.42")
	_ = mw.WriteField("lat", "34.2")
	fw, _ := mw.CreateFormFile("photo", filename)
	_, _ = fw.Write(photo)
	_ = mw.Close()
	return &buf, mw.FormDataContentType()
}
