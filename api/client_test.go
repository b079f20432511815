package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/sieve-city/sieve/client"
)

// TestClient drives the API through the Go client (client/) as the uploader and the sync tests
// do: a coordinator's session, regions, cells and premises; a grid worker's photo; a drone
// operator's survey through presigned slots; refusals as typed errors. The harness checks every
// exchange against the spec, so the client and the contract are tested together.
func TestClient(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	h.mapWorld(w)
	ctx := context.Background()
	login := func(name string) *client.Client {
		c := client.New(h.url, client.WithLanguage("en"))
		if _, err := c.Login(ctx, name, "correct horse battery"); err != nil {
			t.Fatalf("login %s: %v", name, err)
		}
		return c
	}
	coord := login("coord")

	me, err := coord.Me(ctx)
	if err != nil || me.Username != "coord" || len(me.Scope) != 1 || me.Scope[0].ID != w.t1 || me.Scope[0].Level != "township" {
		t.Fatalf("me: %+v %v", me, err)
	}

	rep, err := coord.ImportRegions(ctx, mimeGeoJSON, strings.NewReader(fc(village("411081100202", "东村", box(113.5, 34.1, 113.6, 34.3)))),
		client.RegionImportOptions{})
	if err != nil || rep.Created != 1 {
		t.Fatalf("import: %+v %v", rep, err)
	}
	villages, err := coord.ListRegions(ctx, client.RegionFilter{ParentID: w.t1, Level: "village", NoGeometry: true})
	if err != nil || len(villages.Features) != 2 {
		t.Fatalf("villages: %+v %v", villages, err)
	}
	var east int64
	for _, f := range villages.Features {
		if f.Properties.Code == "411081100202" {
			east = f.ID
		}
	}
	cells, err := coord.GenerateCells(ctx, east, client.CellSpec{Shape: "square", Size: 3000})
	if err != nil || cells.Created == 0 {
		t.Fatalf("cells: %+v %v", cells, err)
	}
	region, err := coord.GetRegion(ctx, east)
	if err != nil || region.Properties.Cells != int64(cells.Created) || !bytes.Contains(region.Geometry, []byte(`"MultiPolygon"`)) {
		t.Fatalf("region: %+v %v", region, err)
	}

	p, err := coord.CreatePremise(ctx, client.NewPremise{Name: "东村化工厂", Kind: "企业", Lon: ptr(113.55), Lat: ptr(34.2)})
	if err != nil || p.Properties.Kind != "enterprise" || p.Properties.CellID == nil ||
		string(p.Geometry) != `{"type":"Point","coordinates":[113.55,34.2]}` {
		t.Fatalf("create premise: %+v %s %v", p, p.Geometry, err)
	}
	name := "东村化工厂（已停产）"
	if p, err = coord.UpdatePremise(ctx, p.ID, client.PremisePatch{Name: &name}); err != nil || p.Properties.Name != name {
		t.Fatalf("update premise: %+v %v", p, err)
	}
	bb := [4]float64{113.5, 34.1, 113.6, 34.3}
	list, err := coord.ListPremises(ctx, client.PremiseFilter{BBox: &bb})
	if err != nil || len(list.Features) != 1 || list.Features[0].ID != p.ID {
		t.Fatalf("premises in the box: %+v %v", list, err)
	}
	users, err := coord.ListUsers(ctx, client.UserFilter{RegionID: w.t1, PageRequest: client.PageRequest{Limit: 2}})
	if err != nil || len(users.Items) != 2 || users.NextCursor == "" {
		t.Fatalf("users: %+v %v", users, err)
	}

	// Refusals are typed: out of scope, forbidden, invalid.
	for _, tc := range []struct {
		call   func() error
		status int
		code   string
	}{
		{func() error { _, err := coord.GetPremise(ctx, w.premise2); return err }, 404, "not_found"},
		{func() error { _, err := coord.GetUser(ctx, w.users["worker2"].ID); return err }, 404, "not_found"},
		{func() error { _, err := login("worker").ListUsers(ctx, client.UserFilter{}); return err }, 403, "forbidden"},
		{func() error {
			_, err := coord.CreatePremise(ctx, client.NewPremise{Name: "顺店", Lon: ptr(113.65), Lat: ptr(34.2)})
			return err
		}, 422, "outside_scope"},
	} {
		var ae *client.Error
		if err := tc.call(); !errors.As(err, &ae) || ae.Status != tc.status || ae.Code != tc.code || ae.Message == "" {
			t.Errorf("got %v, want %d %s", err, tc.status, tc.code)
		}
	}

	// A grid worker's photo, sent twice with the same key.
	worker := login("worker")
	photo := fixtureBytes(t, "marker_6.jpg")
	m, created, err := worker.UploadPhoto(ctx, "IMG_0001.JPG", bytes.NewReader(photo), int64(len(photo)), "visit-1")
	if err != nil || !created || m.Kind != "photo" || m.Size != int64(len(photo)) {
		t.Fatalf("photo: %+v %v %v", m, created, err)
	}
	again, created, err := worker.UploadPhoto(ctx, "IMG_0001.JPG", bytes.NewReader(photo), int64(len(photo)), "visit-1")
	if err != nil || created || again.ID != m.ID {
		t.Fatalf("photo again: %+v %v %v", again, created, err)
	}
	if got, err := worker.GetMedium(ctx, m.ID); err != nil || got.SHA256 != m.SHA256 {
		t.Fatalf("get medium: %+v %v", got, err)
	}

	// A drone operator's survey through a presigned slot.
	drone := login("drone")
	sv, err := drone.CreateSurvey(ctx, client.NewSurvey{RegionID: w.t1, FlightDate: "2024-04-20", Drone: "M3E"})
	if err != nil || sv.RegionID != w.t1 {
		t.Fatalf("survey: %+v %v", sv, err)
	}
	img := fixtureBytes(t, "dji_attr.jpg")
	sum := sha256.Sum256(img)
	decl := []client.FileDecl{{Name: "DCIM/DJI_0001.JPG", Size: int64(len(img)), SHA256: hex.EncodeToString(sum[:])}}
	slots, err := drone.SurveyUploadSlots(ctx, sv.ID, decl)
	if err != nil || len(slots) != 1 || slots[0].Status != "upload" || slots[0].URL == "" {
		t.Fatalf("slots: %+v %v", slots, err)
	}
	if _, err := drone.CompleteSurveyUpload(ctx, sv.ID, slots[0].UploadID); !client.IsCode(err, "upload_incomplete") {
		t.Fatalf("complete before the PUT: %v", err)
	}
	if err := drone.PutSlot(ctx, slots[0].URL, bytes.NewReader(img), int64(len(img))); err != nil {
		t.Fatal(err)
	}
	if err := drone.PutSlot(ctx, slots[0].URL+"x", bytes.NewReader(img), int64(len(img))); !client.IsCode(err, "storage") {
		t.Fatalf("PUT with a broken signature: %v", err)
	}
	dm, err := drone.CompleteSurveyUpload(ctx, sv.ID, slots[0].UploadID)
	if err != nil || dm.Kind != "drone" || dm.SurveyID == nil || *dm.SurveyID != sv.ID {
		t.Fatalf("complete: %+v %v", dm, err)
	}
	got, err := drone.GetSurvey(ctx, sv.ID)
	if err != nil || got.Progress == nil || got.Progress.Received != 1 {
		t.Fatalf("survey progress: %+v %v", got, err)
	}
	if slots, err = drone.SurveyUploadSlots(ctx, sv.ID, decl); err != nil || slots[0].Status != "exists" || *slots[0].MediaID != dm.ID {
		t.Fatalf("slots again: %+v %v", slots, err)
	}
	images, err := drone.SurveyImages(ctx, sv.ID, client.PageRequest{}, "received")
	if err != nil || len(images.Items) != 1 || images.Items[0].ID != dm.ID {
		t.Fatalf("images: %+v %v", images, err)
	}
	surveys, err := coord.ListSurveys(ctx, client.SurveyFilter{RegionID: w.t1})
	found := false
	for _, x := range surveys.Items {
		found = found || x.ID == sv.ID
	}
	if err != nil || !found {
		t.Fatalf("surveys: %+v %v", surveys, err)
	}

	if err := coord.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := client.New(h.url, client.WithToken(h.token(w.users["viewer"]))).Me(ctx); err != nil {
		t.Fatalf("another session still works: %v", err)
	}
	if _, err := coord.Me(ctx); !client.IsCode(err, "unauthenticated") {
		t.Fatalf("me after logout: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }
