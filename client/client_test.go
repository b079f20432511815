package client

import (
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestRequestsAndErrors drives the client against a fake server: what it sends (path, query,
// token, language, body) and how answers and refusals come back.
func TestRequestsAndErrors(t *testing.T) {
	var got *http.Request
	var gotBody string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got, gotBody = r, string(b)
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/api/v1/auth/login":
			io.WriteString(w, `{"token":"sv_abc","expiresAt":"2024-04-20T08:00:00Z","user":{"id":3,"username":"coord","role":"township_coordinator"}}`)
		case "/api/v1/premises":
			w.Header().Set("Content-Type", "application/geo+json")
			io.WriteString(w, `{"type":"FeatureCollection","features":[{"type":"Feature","id":7,"geometry":{"type":"Point","coordinates":[113.5,34.2]},"properties":{"id":7,"name":"王家"}}],"nextCursor":"aWQ6Nw"}`)
		case "/api/v1/users/9":
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"error":{"code":"not_found","message":"not found"}}`)
		case "/api/v1/regions/import":
			w.WriteHeader(http.StatusUnprocessableEntity)
			io.WriteString(w, `{"error":{"code":"import_rejected","message":"rejected","details":{"errors":1}}}`)
		default:
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, "proxy down")
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	c := New(srv.URL+"/", WithLanguage("en"))

	login, err := c.Login(ctx, "coord", "pw")
	if err != nil || login.Token != "sv_abc" || login.User.Username != "coord" || c.Token() != "sv_abc" {
		t.Fatalf("login: %+v %v", login, err)
	}
	if gotBody != `{"password":"pw","username":"coord"}` || got.Header.Get("Content-Type") != "application/json" {
		t.Errorf("login sent %s %q", got.Header.Get("Content-Type"), gotBody)
	}

	bb := [4]float64{113.4, 34.1, 113.6, 34.3}
	page, err := c.ListPremises(ctx, PremiseFilter{PageRequest: PageRequest{Limit: 10}, RegionID: 5, BBox: &bb, Kind: "enterprise"})
	if err != nil || len(page.Features) != 1 || page.Features[0].Properties.Name != "王家" || page.NextCursor != "aWQ6Nw" ||
		string(page.Features[0].Geometry) != `{"type":"Point","coordinates":[113.5,34.2]}` {
		t.Fatalf("premises: %+v %v", page, err)
	}
	if q := got.URL.Query(); q.Get("limit") != "10" || q.Get("region") != "5" || q.Get("bbox") != "113.4,34.1,113.6,34.3" ||
		q.Get("kind") != "enterprise" || q.Has("cell") || q.Has("cursor") {
		t.Errorf("premises query %s", got.URL.RawQuery)
	}
	if got.Header.Get("Authorization") != "Bearer sv_abc" || got.Header.Get("Accept-Language") != "en" {
		t.Errorf("headers %v", got.Header)
	}

	_, err = c.GetUser(ctx, 9)
	var ae *Error
	if !errors.As(err, &ae) || ae.Status != 404 || ae.Code != "not_found" || !IsCode(err, "not_found") {
		t.Errorf("GetUser(9) = %v", err)
	}
	_, err = c.ImportRegions(ctx, "application/geo+json", strings.NewReader(`{}`), RegionImportOptions{ParentID: 4})
	if !errors.As(err, &ae) || ae.Code != "import_rejected" || string(ae.Details) != `{"errors":1}` || got.URL.RawQuery != "parent=4" {
		t.Errorf("ImportRegions = %v (query %q)", err, got.URL.RawQuery)
	}
	if _, err := c.Me(ctx); !errors.As(err, &ae) || ae.Status != 502 || ae.Code != "http_502" || ae.Message != "proxy down" {
		t.Errorf("a body that is not the error shape: %v", err)
	}
}

// TestUploadPhotoForm: the photo goes as multipart/form-data, size first, then the file, with
// the Idempotency-Key header.
func TestUploadPhotoForm(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || r.Header.Get("Idempotency-Key") != "k-1" {
			t.Errorf("content type %q (%v), key %q", r.Header.Get("Content-Type"), err, r.Header.Get("Idempotency-Key"))
		}
		mr := multipart.NewReader(r.Body, params["boundary"])
		var parts []string
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			b, _ := io.ReadAll(p)
			parts = append(parts, p.FormName()+"="+p.FileName()+":"+string(b))
		}
		if strings.Join(parts, "|") != "size=:5|file=IMG_1.JPG:hello" {
			t.Errorf("parts %q", parts)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"id":4,"kind":"photo","status":"received"}`)
	}))
	defer srv.Close()
	m, created, err := New(srv.URL, WithToken("sv_x")).UploadPhoto(context.Background(), "IMG_1.JPG", strings.NewReader("hello"), 5, "k-1")
	if err != nil || !created || m.ID != 4 || m.Status != "received" {
		t.Fatalf("UploadPhoto = %+v %v %v", m, created, err)
	}
}

// TestUploadPhotoResendsOnBrokenConnection (issue 16): when the connection breaks under an upload
// before any answer (the server closed it), a photo with an Idempotency-Key whose file can seek
// back is sent once more, whole, with the same key; without a key, or from a stream that cannot
// be replayed, the error comes back as it was.
func TestUploadPhotoResendsOnBrokenConnection(t *testing.T) {
	var mu sync.Mutex
	var calls []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		calls = append(calls, r.Header.Get("Idempotency-Key"))
		n := len(calls)
		mu.Unlock()
		if n%2 == 1 { // every other request: the connection breaks, no answer
			conn, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			conn.Close()
			return
		}
		if !strings.Contains(string(b), "hello") {
			t.Errorf("resent body lacks the file: %q", b)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"id":4,"kind":"photo","status":"received"}`)
	}))
	defer srv.Close()
	sent := func() []string { // and starts the count again
		mu.Lock()
		defer mu.Unlock()
		out := calls
		calls = nil
		return out
	}
	c := New(srv.URL, WithToken("sv_x"))
	m, created, err := c.UploadPhoto(context.Background(), "IMG_1.JPG", strings.NewReader("hello"), 5, "k-1")
	if got := sent(); err != nil || !created || m.ID != 4 || len(got) != 2 || got[0] != "k-1" || got[1] != "k-1" {
		t.Fatalf("UploadPhoto = %+v %v %v after %q", m, created, err, got)
	}
	if _, _, err := c.UploadPhoto(context.Background(), "IMG_1.JPG", strings.NewReader("hello"), 5, ""); err == nil || len(sent()) != 1 {
		t.Fatalf("without a key: %v, want the error after one send", err)
	}
	stream := io.MultiReader(strings.NewReader("hello")) // cannot seek
	if _, _, err := c.UploadPhoto(context.Background(), "IMG_1.JPG", stream, 5, "k-2"); err == nil || len(sent()) != 1 {
		t.Fatalf("from a stream: %v, want the error after one send", err)
	}
}
