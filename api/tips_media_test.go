package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sieve-city/sieve/internal/db"
)

// tipPhoto is a tip's photo as the coordinators' detail shows it.
type tipPhoto struct {
	ID        int64    `json:"id"`
	MediaID   *int64   `json:"mediaId"`
	Status    string   `json:"status"`
	Thumbnail string   `json:"thumbnail"`
	Detail    string   `json:"detail"`
	PHash     string   `json:"phash"`
	Lon       *float64 `json:"lon"`
}

// tipPhotos polls tip id's detail as tok until its photos' media are processed.
func (h *harness) tipPhotos(tok string, id int64) []tipPhoto {
	h.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		status, b := h.as(tok, http.MethodGet, fmt.Sprintf("%s/tip-cases/%d", v1, id), "")
		var d struct {
			PhotoList []tipPhoto `json:"photoList"`
		}
		if err := json.Unmarshal([]byte(b), &d); err != nil || status != http.StatusOK {
			h.t.Fatalf("detail: %d %s", status, b)
		}
		done := len(d.PhotoList) > 0
		for _, p := range d.PhotoList {
			done = done && p.Status != "received"
		}
		if done {
			return d.PhotoList
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("tip %d's photos not processed in time: %s", id, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestTipPhotosAreMedia: a public tip's photo becomes a medium of source tip without an uploader,
// processed by the media jobs (thumbnails, EXIF position and time, pHash); the tip's township
// sees it with its thumbnails, another township does not — not even when the photo's EXIF
// position lies in that township's cell, which would show an uploaded photo there; the site
// opened from the tip lists it with reason tip; the public status call shows no position.
func TestTipPhotosAreMedia(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	h.mapWorld(w)
	startWorkers(t, h.pool, h.srv.Media)
	jpeg, err := os.ReadFile("../imagery/testdata/DSCN0010.jpg")
	if err != nil {
		t.Fatal(err)
	}
	body, ct := tipWithPhoto("仓库夜里有刺鼻气味，附照片", "p.jpg", jpeg)
	status, b, _ := h.request(http.MethodPost, v1+"/tips", body, "Content-Type", ct, "Accept-Language", "en")
	if status != http.StatusCreated {
		t.Fatalf("tip with a photo: %d %s", status, b)
	}
	var rc receipt
	_ = json.Unmarshal([]byte(b), &rc)
	admin, coord, coord2 := h.token(w.users["admin"]), h.token(w.users["coord"]), h.token(w.users["coord2"])
	id := h.tipID(admin, "仓库夜里有刺鼻气味，附照片")

	ps := h.tipPhotos(coord, id)
	if len(ps) != 1 || ps[0].MediaID == nil || ps[0].Status != "processed" || ps[0].PHash == "" ||
		ps[0].Thumbnail != fmt.Sprintf("/api/v1/media/%d/thumbnail?size=list", *ps[0].MediaID) || ps[0].Detail == "" {
		t.Fatalf("photos: %+v", ps)
	}
	mid := *ps[0].MediaID
	m := h.waitProcessed(coord, mid)
	if m.Source != "tip" || m.UploadedBy != nil || m.Kind != "photo" || m.Point == nil || m.TakenAt == nil ||
		len(m.Thumbnails) != 2 || m.PHash != ps[0].PHash {
		t.Fatalf("medium: %+v", m)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	thumb := func(tok string) int {
		req, _ := http.NewRequest(http.MethodGet, h.url+ps[0].Thumbnail, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusFound {
			fetchJPEG(t, resp.Header.Get("Location"))
		}
		return resp.StatusCode
	}
	if got := thumb(coord); got != http.StatusFound {
		t.Fatalf("coordinator's thumbnail: %d", got)
	}
	if got := thumb(coord2); got != http.StatusNotFound {
		t.Fatalf("other township's thumbnail: %d, want 404", got)
	}
	// The original through the media route too (its stored SHA-256 checked first).
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s%s/media/%d/original", h.url, v1, mid), nil)
	req.Header.Set("Authorization", "Bearer "+coord)
	resp, err := noRedirect.Do(req)
	if err != nil || resp.StatusCode != http.StatusFound {
		t.Fatalf("original: %v %v", resp, err)
	}
	resp.Body.Close()
	orig, err := http.Get(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(orig.Body)
	orig.Body.Close()
	if !bytes.Equal(got, jpeg) {
		t.Fatalf("original: %d bytes, not the tip's photo", len(got))
	}
	// Move the photo's position into the other township's cell and place it there: an uploaded
	// photo would now show to that township (media_read by cell); a tip's photo stays the tip's.
	ctx := context.Background()
	if err := db.AsSystem(ctx, h.pool, "test", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE media SET point = ST_SetSRID(ST_MakePoint(113.65, 34.2), 4326) WHERE id = $1`, mid)
		if err == nil {
			_, err = tx.Exec(ctx, `SELECT place_media(ARRAY[$1::bigint])`, mid)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if status, b := h.as(coord2, http.MethodGet, fmt.Sprintf("%s/media/%d", v1, mid), ""); status != http.StatusNotFound {
		t.Fatalf("other township, photo placed in its cell: %d %s", status, b)
	}
	if status, b := h.as(coord, http.MethodGet, fmt.Sprintf("%s/media/%d", v1, mid), ""); status != http.StatusOK {
		t.Fatalf("tip's township: %d %s", status, b)
	}
	// The grid worker of the tip's cell (who has the tip's task) sees it; the one of the cell
	// the photo now lies in does not.
	if status, b := h.as(h.token(w.users["worker"]), http.MethodGet, fmt.Sprintf("%s/media/%d", v1, mid), ""); status != http.StatusOK {
		t.Fatalf("the tip cell's grid worker: %d %s", status, b)
	}
	if status, b := h.as(h.token(w.users["worker2"]), http.MethodGet, fmt.Sprintf("%s/media/%d", v1, mid), ""); status != http.StatusNotFound {
		t.Fatalf("the photo cell's grid worker: %d %s", status, b)
	}
	// The public status: status and note only, no position of the tip or of its photo.
	status, b, _ = h.do(http.MethodGet, v1+"/tips/"+rc.TrackingCode, "")
	if status != http.StatusOK || strings.Contains(b, "lon") || strings.Contains(b, "lat") || strings.Contains(b, "media") {
		t.Fatalf("public status: %d %s", status, b)
	}

	// A tip with only an address is the city's, and so are its photos; once the city office
	// verifies it with a point in the township, the township sees the photo too (the medium's
	// path follows the tip's: tips_media_path).
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("description", "只有地址的举报，附照片")
	_ = mw.WriteField("address", "火龙镇某村后山")
	fw, _ := mw.CreateFormFile("photo", "q.jpg")
	_, _ = fw.Write(jpeg)
	_ = mw.Close()
	if status, b, _ := h.request(http.MethodPost, v1+"/tips", &buf, "Content-Type", mw.FormDataContentType(), "Accept-Language", "en",
		"X-Device-Id", "device-of-the-second-reporter"); status != http.StatusCreated {
		t.Fatalf("address-only tip: %d %s", status, b)
	}
	addrID := h.tipID(admin, "只有地址的举报，附照片")
	aps := h.tipPhotos(admin, addrID)
	if len(aps) != 1 || aps[0].MediaID == nil {
		t.Fatalf("address-only tip's photos: %+v", aps)
	}
	amid := *aps[0].MediaID
	if status, b := h.as(coord, http.MethodGet, fmt.Sprintf("%s/media/%d", v1, amid), ""); status != http.StatusNotFound {
		t.Fatalf("township, photo of an address-only tip: %d %s", status, b)
	}
	if status, b := h.as(admin, http.MethodPost, fmt.Sprintf("%s/tip-cases/%d/transitions", v1, addrID),
		`{"to":"valid","lon":113.43,"lat":34.2}`); status != http.StatusOK {
		t.Fatalf("valid with a point: %d %s", status, b)
	}
	if status, b := h.as(coord, http.MethodGet, fmt.Sprintf("%s/media/%d", v1, amid), ""); status != http.StatusOK {
		t.Fatalf("township, photo of the tip placed in it: %d %s", status, b)
	}
	if status, b := h.as(coord2, http.MethodGet, fmt.Sprintf("%s/media/%d", v1, amid), ""); status != http.StatusNotFound {
		t.Fatalf("other township, photo of the tip placed in t1: %d %s", status, b)
	}

	// Verified and turned into a site: the site's media list the photo with reason tip.
	if status, b := h.as(coord, http.MethodPost, fmt.Sprintf("%s/tip-cases/%d/transitions", v1, id), `{"to":"valid"}`); status != http.StatusOK {
		t.Fatalf("valid: %d %s", status, b)
	}
	status, b = h.as(coord, http.MethodPost, fmt.Sprintf("%s/tip-cases/%d/site", v1, id), `{"classes":["unlicensed"],"firmName":"无名作坊"}`)
	if status != http.StatusCreated {
		t.Fatalf("site: %d %s", status, b)
	}
	var site struct {
		ID int64 `json:"id"`
	}
	_ = json.Unmarshal([]byte(b), &site)
	status, b = h.as(coord, http.MethodGet, fmt.Sprintf("%s/sites/%d/media", v1, site.ID), "")
	var sm struct {
		Items []struct {
			MediaID   int64  `json:"mediaId"`
			Source    string `json:"source"`
			Reason    string `json:"reason"`
			Thumbnail string `json:"thumbnail"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(b), &sm); err != nil || status != http.StatusOK || len(sm.Items) != 1 ||
		sm.Items[0].MediaID != mid || sm.Items[0].Source != "tip" || sm.Items[0].Reason != "tip" || sm.Items[0].Thumbnail == "" {
		t.Fatalf("site media: %d %s", status, b)
	}
	// The link stays when the links by place are recomputed (the site moving, a job re-run).
	if err := db.AsSystem(ctx, h.pool, "test", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `SELECT link_media_to_sites(ARRAY[$1::bigint], NULL, 30)`, mid)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if status, b := h.as(coord, http.MethodGet, fmt.Sprintf("%s/sites/%d/media", v1, site.ID), ""); status != http.StatusOK ||
		!strings.Contains(b, `"reason":"tip"`) {
		t.Fatalf("site media after relinking: %d %s", status, b)
	}
}
