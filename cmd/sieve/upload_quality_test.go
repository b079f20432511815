package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/disintegration/imaging"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sieve-city/sieve/api"
	"github.com/sieve-city/sieve/client"
	"github.com/sieve-city/sieve/imagery"
	"github.com/sieve-city/sieve/internal/accounts"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/jobs"
	"github.com/sieve-city/sieve/internal/media"
	"github.com/sieve-city/sieve/internal/testenv"
)

// droneJPEG encodes img as a JPEG whose XMP (an APP1 segment right after SOI) holds props as
// drone-dji/exif attributes, the way DJI cameras write them.
func droneJPEG(t *testing.T, img image.Image, props map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	var attrs strings.Builder
	for k, v := range props {
		fmt.Fprintf(&attrs, " %s=%q", k, v)
	}
	packet := `<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">` +
		`<rdf:Description rdf:about="DJI Meta Data" xmlns:drone-dji="http://www.dji.com/drone-dji/1.0/" ` +
		`xmlns:exif="http://ns.adobe.com/exif/1.0/" xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Make="DJI"` +
		attrs.String() + `/></rdf:RDF></x:xmpmeta>`
	payload := append([]byte("http://ns.adobe.com/xap/1.0/\x00"), packet...)
	seg := []byte{0xFF, 0xE1, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(len(payload)+2))
	b := buf.Bytes()
	out := append(append(append([]byte{}, b[:2]...), seg...), payload...)
	return append(out, b[2:]...)
}

// noise is a sharp, textured frame (every seed a different one).
func noise(seed uint32) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, 800, 600))
	for i := range img.Pix {
		seed = seed*1664525 + 1013904223
		img.Pix[i] = byte(seed >> 24)
		if i%4 == 3 {
			img.Pix[i] = 255
		}
	}
	return img
}

// TestUploadCardWithFaults uploads a card holding one image of each fault the survey checks
// find, and a copy of one image under another name: every faulty image is stored, listed and
// flagged with its reason, the copy is stored once with both names, the summary adds up; the
// same card uploaded into a second survey is linked there, not stored again.
func TestUploadCardWithFaults(t *testing.T) {
	pool := testenv.DB(t)
	store := testenv.Blob(t)
	ctx := context.Background()
	acc := accounts.NewStore(accounts.NewHasher(accounts.HashParams{MemoryKiB: 1024, Time: 1, Threads: 1}, 2), time.Hour, time.Second, time.Now)
	var region, uid int64
	err := db.AsSystem(ctx, pool, "test", func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO regions (level, code, name, geom) VALUES ('city', '411081', '禹州市',
			ST_Multi(ST_MakeEnvelope(113.0, 34.0, 114.0, 34.5, 4326))) RETURNING id`).Scan(&region); err != nil {
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
	th, err := imagery.NewThumbnailer(imagery.DefaultThumbConfig())
	if err != nil {
		t.Fatal(err)
	}
	q := jobs.New(pool, jobs.DefaultOptions(2), testenv.Logger())
	svc, err := media.New(media.Deps{Pool: pool, Blob: store, Thumbs: th, Jobs: q, Now: time.Now, Log: testenv.Logger()}, media.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Build(svc); err != nil {
		t.Fatal(err)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Stop(context.Background()) })
	srv := api.New(api.Deps{Pool: pool, Accounts: acc, Media: svc, Log: testenv.Logger(), Registry: prometheus.NewRegistry(),
		BodyLimit: 1 << 20, UploadLimit: 64 << 20})
	ts := contractServer(t, srv.Handler())

	good := map[string]string{"drone-dji:GpsLatitude": "34.2", "drone-dji:GpsLongitude": "113.5", "drone-dji:RelativeAltitude": "100",
		"drone-dji:GimbalPitchDegree": "-90", "drone-dji:GimbalYawDegree": "0", "drone-dji:GimbalRollDegree": "0",
		"exif:DateTimeOriginal": "2024-04-20T09:30:00"}
	with := func(edit map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range good {
			m[k] = v
		}
		for k, v := range edit {
			if v == "" {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		return m
	}
	card := t.TempDir()
	dir := filepath.Join(card, "DCIM", "100MEDIA")
	os.MkdirAll(dir, 0o755)
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	goodBytes := droneJPEG(t, noise(1), good)
	write("DJI_0001.JPG", goodBytes)
	write("DJI_0001_COPY.JPG", goodBytes) // the same bytes under another name
	faults := map[string]struct {
		img   image.Image
		props map[string]string
	}{
		"no_gps":         {noise(2), with(map[string]string{"drone-dji:GpsLatitude": "", "drone-dji:GpsLongitude": ""})},
		"bad_gps":        {noise(3), with(map[string]string{"drone-dji:GpsLatitude": "250"})},
		"outside_region": {noise(4), with(map[string]string{"drone-dji:GpsLongitude": "115.0"})},
		"above_horizon":  {noise(5), with(map[string]string{"drone-dji:GimbalPitchDegree": "5"})},
		"no_attitude":    {noise(6), with(map[string]string{"drone-dji:GimbalPitchDegree": "", "drone-dji:GimbalYawDegree": "", "drone-dji:GimbalRollDegree": ""})},
		"dark":           {imaging.New(800, 600, color.NRGBA{4, 4, 4, 255}), good},
		"overexposed":    {imaging.New(800, 600, color.NRGBA{252, 252, 252, 255}), good},
		"blurred":        {imaging.Blur(noise(7), 12), good},
		"time_off":       {noise(8), with(map[string]string{"exif:DateTimeOriginal": "2024-03-01T09:30:00"})},
	}
	for code, f := range faults {
		write(strings.ToUpper(code)+".JPG", droneJPEG(t, f.img, f.props))
	}

	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	env := envOf("SIEVE_TOKEN", tok)
	sieve := func(args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if err := run(ctx, append([]string{"upload", "--server", ts.URL, "--wait", "60s"}, args...), env, strings.NewReader(""), &out, &errb); err != nil {
			t.Fatalf("upload: %v\n%s\n%s", err, out.String(), errb.String())
		}
		return out.String()
	}
	out := sieve("--region", fmt.Sprint(region), "--flight-date", "2024-04-20", card)
	// 11 files: 10 stored, 1 duplicate; nothing already there, linked, rejected or failed.
	for _, want := range []string{"共 11 个文件：新存储 10，重复 1，已在服务器 0，关联到本航测 0，拒收 0，失败 0",
		"DCIM/100MEDIA/DJI_0001_COPY.JPG = DJI_0001.JPG", "本航测有问题的影像 10 张",
		"无 GPS 位置（1 张）：NO_GPS.JPG", "画面模糊（1 张）：BLURRED.JPG", "DJI_0001.JPG = DJI_0001_COPY.JPG"} {
		if !strings.Contains(out, want) {
			t.Fatalf("summary lacks %q:\n%s", want, out)
		}
	}

	api := client.New(ts.URL, client.WithToken(tok))
	list, err := api.ListSurveys(ctx, client.SurveyFilter{PageRequest: client.PageRequest{Limit: 10}})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("surveys %+v %v", list, err)
	}
	first := list.Items[0].ID
	sv, err := api.GetSurvey(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	p := sv.Progress
	if p.Received != 10 || p.Processed != 10 || p.Flagged != 10 || p.Failed != 0 {
		t.Fatalf("progress %+v", p)
	}
	counted := map[string]int{}
	for _, f := range p.Flags {
		counted[f.Code] = f.Count
		if f.Reason == "" || f.ReasonEn == "" || len(f.Names) != f.Count {
			t.Errorf("flag count %+v", f)
		}
	}
	images, err := api.SurveyImages(ctx, first, client.PageRequest{Limit: 100}, "")
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]client.Medium{}
	for _, m := range images.Items {
		byName[strings.TrimPrefix(m.OriginalName, "DCIM/100MEDIA/")] = m
	}
	for code := range faults {
		m, ok := byName[strings.ToUpper(code)+".JPG"]
		if !ok {
			t.Fatalf("%s: not listed", code)
		}
		if len(m.Flags) == 0 || m.Flags[0].Code != code || m.Flags[0].Reason == "" {
			t.Errorf("%s: flags %+v", code, m.Flags)
		}
		if counted[code] != 1 {
			t.Errorf("%s counted %d times", code, counted[code])
		}
	}
	g := byName["DJI_0001.JPG"]
	if len(g.Flags) != 1 || g.Flags[0].Code != "duplicate" || len(g.DuplicateNames) != 1 || counted["duplicate"] != 1 {
		t.Errorf("the copied image: flags %+v, duplicate names %v", g.Flags, g.DuplicateNames)
	}
	if g.Footprint == nil || g.FootprintClipped || g.TakenAtZoneAssumed != "+08:00" {
		t.Errorf("good image: footprint %s clipped %v zone %q", g.Footprint, g.FootprintClipped, g.TakenAtZoneAssumed)
	}
	// The capture time without a zone: the top-level takenAt and the metadata's say the same
	// instant, and both the zone assumed.
	var md struct {
		TakenAt            time.Time `json:"takenAt"`
		TakenAtZoneAssumed string    `json:"takenAtZoneAssumed"`
	}
	if err := json.Unmarshal(g.Metadata, &md); err != nil || g.TakenAt == nil || !md.TakenAt.Equal(*g.TakenAt) ||
		md.TakenAtZoneAssumed != "+08:00" || !g.TakenAt.Equal(time.Date(2024, 4, 20, 1, 30, 0, 0, time.UTC)) {
		t.Errorf("takenAt %v, metadata %+v (%v)", g.TakenAt, md, err)
	}
	if h := byName["ABOVE_HORIZON.JPG"]; h.Footprint != nil || h.NoFootprint != "above_horizon" {
		t.Errorf("above the horizon: footprint %s, why none %q", h.Footprint, h.NoFootprint)
	}

	// The same card into a second survey: linked, stored once, listed by both.
	second, err := api.CreateSurvey(ctx, client.NewSurvey{RegionID: region, FlightDate: "2024-04-20", Name: "again"})
	if err != nil {
		t.Fatal(err)
	}
	out = sieve("--survey", fmt.Sprint(second.ID), "--lang", "en", card)
	for _, want := range []string{"11 files: stored 0, duplicate 1, already there 0, linked 10, rejected 0, failed 0",
		fmt.Sprintf("DCIM/100MEDIA/NO_GPS.JPG (%d)", first), "flagged 10 images"} {
		if !strings.Contains(out, want) {
			t.Fatalf("second survey's summary lacks %q:\n%s", want, out)
		}
	}
	var stored int
	if err := db.AsSystem(ctx, pool, "test", func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) FROM media`).Scan(&stored)
	}); err != nil || stored != 10 {
		t.Fatalf("%d media stored (%v), want 10", stored, err)
	}
	for _, id := range []int64{first, second.ID} {
		imgs, err := api.SurveyImages(ctx, id, client.PageRequest{Limit: 100}, "")
		if err != nil || len(imgs.Items) != 10 {
			t.Fatalf("survey %d lists %d images (%v), want 10", id, len(imgs.Items), err)
		}
	}
	if sv, _ := api.GetSurvey(ctx, second.ID); sv.Progress.Linked != 10 || sv.Progress.Received != 10 {
		t.Fatalf("second survey's progress %+v", sv.Progress)
	}
}
