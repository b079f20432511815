package contract

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestChecker drives the checker with a fake API: each case is one exchange and whether the
// checker should object.
func TestChecker(t *testing.T) {
	ch, err := New()
	if err != nil {
		t.Fatal(err)
	}
	const premise = `{"type":"Feature","id":1,"geometry":{"type":"Point","coordinates":[113.5,34.2]},"properties":` +
		`{"id":1,"kind":"household","name":"王家","address":"","contactName":"","contactPhone":"","creditCode":"",` +
		`"tags":[],"source":"register","ref":"","cellId":null,"regionId":null,"createdAt":"2024-04-20T08:00:00Z","updatedAt":"2024-04-20T08:00:00Z"}}`
	const user = `{"id":3,"username":"coord","displayName":"","phone":"","role":"township_coordinator","regionId":2,` +
		`"cellIds":[],"disabled":false,"createdAt":"2024-04-20T08:00:00Z","updatedAt":"2024-04-20T08:00:00Z"}`
	cases := []struct {
		name, method, path, reqType, reqBody string
		status                               int
		respType, respBody                   string
		wantErr                              string // "" when the exchange is in order
	}{
		{"health in order", "GET", "/healthz", "", "", 200, "application/json", `{"status":"ok"}`, ""},
		{"field renamed", "GET", "/healthz", "", "", 200, "application/json", `{"state":"ok"}`, `property "state" is unsupported`},
		{"extra field", "GET", "/healthz", "", "", 200, "application/json", `{"status":"ok","x":1}`, `property "x" is unsupported`},
		{"premise feature", "GET", "/api/v1/premises/1", "", "", 200, "application/geo+json; charset=utf-8", premise, ""},
		{"premise property renamed", "GET", "/api/v1/premises/1", "", "", 200, "application/geo+json; charset=utf-8",
			strings.Replace(premise, `"name"`, `"title"`, 1), `"/properties": property "title" is unsupported`},
		{"status not in the spec", "GET", "/healthz", "", "", 201, "application/json", `{"status":"ok"}`, "doesn't match"},
		{"error in shape", "GET", "/api/v1/premises/1", "", "", 404, "application/json", `{"error":{"code":"not_found","message":"x"}}`, ""},
		{"error of another shape", "GET", "/api/v1/premises/1", "", "", 404, "application/json", `{"code":"not_found"}`, `Error: property "code" is unsupported`},
		{"unknown route refused", "GET", "/api/v1/nowhere", "", "", 404, "application/json", `{"error":{"code":"route_not_found","message":"x"}}`, ""},
		{"unknown route answered", "GET", "/api/v1/nowhere", "", "", 200, "application/json", `{}`, "not in openapi.yaml"},
		{"bad request refused", "POST", "/api/v1/auth/login", "application/json", `{"user":"x"}`, 400, "application/json",
			`{"error":{"code":"malformed_json","message":"x"}}`, ""},
		{"bad request accepted", "POST", "/api/v1/auth/login", "application/json", `{"user":"x"}`, 204, "", "", "request (accepted by the server)"},
		{"nulls in a partial change", "PATCH", "/api/v1/users/3", "application/json", `{"role":null,"phone":null,"cellIds":null}`, 200,
			"application/json", user, ""},
		{"a role that is not one", "PATCH", "/api/v1/users/3", "application/json", `{"role":"god"}`, 200,
			"application/json", user, `Error at "/role"`},
		{"bad query accepted", "GET", "/api/v1/premises?limit=0", "", "", 200, "application/geo+json",
			`{"type":"FeatureCollection","features":[]}`, `parameter "limit"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got error
			h := ch.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				if string(b) != tc.reqBody {
					t.Errorf("handler read %q, want %q", b, tc.reqBody)
				}
				if tc.respType != "" {
					w.Header().Set("Content-Type", tc.respType)
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.respBody)
			}), func(err error) { got = err })
			req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.reqBody))
			if tc.reqType != "" {
				req.Header.Set("Content-Type", tc.reqType)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.status || rec.Body.String() != tc.respBody {
				t.Errorf("client got %d %q, want %d %q", rec.Code, rec.Body.String(), tc.status, tc.respBody)
			}
			switch {
			case tc.wantErr == "" && got != nil:
				t.Errorf("unexpected objection: %v", got)
			case tc.wantErr != "" && (got == nil || !strings.Contains(got.Error(), tc.wantErr)):
				t.Errorf("objection %v, want one containing %q", got, tc.wantErr)
			}
		})
	}
}
