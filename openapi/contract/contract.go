// Package contract checks HTTP traffic against the specification in openapi/openapi.yaml, so
// that the API and its contract cannot drift apart: a field renamed in Go but not in the spec,
// a status the spec does not list, or an error body of another shape fails the test that sent
// the request. Tests wrap the server's handler with Checker.Handler (the API harness, the client
// tests and the upload command's tests do); production never links this package.
//
// What is checked, with kin-openapi's openapi3filter:
//
//   - every response: its status must be one the operation lists (or its default, the error
//     shape), its Content-Type one the response lists, its body valid against the schema.
//     Responses of paths the spec does not have (an unknown route, a test-only route) must
//     be errors of the Error schema.
//   - the request (path and query parameters, headers, JSON bodies) when the server accepted
//     it (status below 400). A request the server refused is the test's deliberately bad
//     input, and only the refusal is checked; a bad request the server accepted is a failure.
//     Bodies other than JSON (files, multipart photos) stream through unread.
package contract

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/sieve-city/sieve/openapi"
)

// maxJSONBody is how much of a JSON request body is held to check it; a larger body (the
// oversize tests) streams through with only its parameters checked.
const maxJSONBody = 1 << 20

// schemaOptions check formats (date-time, date) too, and keep schema errors to one line (the
// path and the reason, without the whole schema).
func schemaOptions() []openapi3.SchemaValidationOption {
	return []openapi3.SchemaValidationOption{openapi3.EnableFormatValidation(), openapi3.DisableSchemaErrorDetails()}
}

// Checker holds the loaded specification and its router.
type Checker struct {
	doc    *openapi3.T
	router routers.Router
	errSch *openapi3.SchemaRef
	exts   []string // extensions taken off templates' last parameters (see New)
}

// New loads and validates the embedded specification.
func New() (*Checker, error) {
	doc, err := openapi3.NewLoader().LoadFromData(openapi.Spec())
	if err != nil {
		return nil, fmt.Errorf("contract: load spec: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("contract: spec is not valid OpenAPI 3: %w", err)
	}
	// The legacy router cannot match a template whose last segment is a parameter with an
	// extension (map tiles: /tiles/{layer}/{z}/{x}/{y}.mvt): it gets the template without the
	// extension, and check takes it off the request's path before matching.
	var exts []string
	for p, item := range doc.Paths.Map() {
		if m := paramExt.FindStringSubmatch(p); m != nil {
			doc.Paths.Delete(p)
			doc.Paths.Set(strings.TrimSuffix(p, m[1]), item)
			exts = append(exts, m[1])
		}
	}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("contract: router: %w", err)
	}
	errSch := doc.Components.Schemas["Error"]
	if errSch == nil {
		return nil, fmt.Errorf("contract: the spec has no components/schemas/Error")
	}
	return &Checker{doc: doc, router: router, errSch: errSch, exts: exts}, nil
}

// paramExt finds a template's last segment that is a parameter with an extension ({y}.mvt).
var paramExt = regexp.MustCompile(`\}(\.[a-z]+)$`)

// Handler wraps next so that every request it serves is checked; each mismatch is passed to
// fail (a test's t.Error) as an error naming the method, path, status and schema error. fail is
// called before the client receives the response, so within the test that sent the request.
func (ch *Checker) Handler(next http.Handler, fail func(error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, whole := holdJSONBody(r)
		rec := &recorder{header: http.Header{}, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		if err := ch.check(r, body, whole, rec); err != nil {
			fail(fmt.Errorf("contract: %s %s → %d: %w", r.Method, r.URL.RequestURI(), rec.status, err))
		}
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.status)
		_, _ = w.Write(rec.body.Bytes())
	})
}

// check validates one exchange.
func (ch *Checker) check(r *http.Request, body []byte, whole bool, rec *recorder) error {
	ctx := context.Background()
	for _, ext := range ch.exts {
		if strings.HasSuffix(r.URL.Path, ext) {
			r = r.Clone(ctx)
			r.URL.Path = strings.TrimSuffix(r.URL.Path, ext)
			r.URL.RawPath = ""
			break
		}
	}
	route, params, err := ch.router.FindRoute(r)
	if err != nil {
		// Not in the spec: only refusals in the error shape are allowed (unknown routes, the
		// error handler's own test routes).
		if rec.status < 400 {
			return fmt.Errorf("the path is not in openapi.yaml")
		}
		return ch.checkError(rec)
	}
	in := &openapi3filter.RequestValidationInput{
		Request:    r,
		PathParams: params,
		Route:      route,
		Options: &openapi3filter.Options{
			AuthenticationFunc:      openapi3filter.NoopAuthenticationFunc,
			ExcludeRequestBody:      !whole,
			SchemaValidationOptions: schemaOptions(),
		},
	}
	if rec.status < 400 {
		if whole {
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			return fmt.Errorf("request (accepted by the server) does not match the spec: %w", err)
		}
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 rec.status,
		Header:                 rec.header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, SchemaValidationOptions: schemaOptions()},
	}
	resBody := rec.body.Bytes()
	if rec.header.Get("Content-Encoding") == "gzip" { // compressed answers (GET /sync) are checked unpacked
		zr, err := gzip.NewReader(bytes.NewReader(resBody))
		if err != nil {
			return fmt.Errorf("response: bad gzip: %w", err)
		}
		if resBody, err = io.ReadAll(zr); err != nil {
			return fmt.Errorf("response: bad gzip: %w", err)
		}
	}
	out.SetBodyBytes(resBody)
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		return fmt.Errorf("response does not match the spec: %w", err)
	}
	return nil
}

// checkError validates a refusal outside the spec's paths against components/schemas/Error.
func (ch *Checker) checkError(rec *recorder) error {
	if rec.body.Len() == 0 {
		return nil // HEAD, or a bare status
	}
	mt, _, _ := mime.ParseMediaType(rec.header.Get("Content-Type"))
	if mt != "application/json" {
		return fmt.Errorf("error answered as %q, not application/json", mt)
	}
	v, err := decodeJSON(rec.body.Bytes())
	if err != nil {
		return fmt.Errorf("error body is not JSON: %w", err)
	}
	if err := ch.errSch.Value.VisitJSON(v, append(schemaOptions(), openapi3.VisitAsResponse())...); err != nil {
		return fmt.Errorf("error body does not match components/schemas/Error: %w", err)
	}
	return nil
}

// holdJSONBody reads a JSON request body (up to maxJSONBody) so that it can be checked after the
// handler has read it; the handler reads the same bytes. whole says the body was held whole.
func holdJSONBody(r *http.Request) (body []byte, whole bool) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, true
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/json" && !strings.HasSuffix(mt, "+json") {
		return nil, false
	}
	head, err := io.ReadAll(io.LimitReader(r.Body, maxJSONBody+1))
	rest := r.Body
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(head), errReader{err}, rest), rest}
	return head, err == nil && len(head) <= maxJSONBody
}

// errReader hands a read error met while holding a body on to the handler.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	return 0, io.EOF
}

func decodeJSON(b []byte) (any, error) {
	var v any
	err := json.Unmarshal(b, &v)
	return v, err
}

// recorder holds a response until it has been checked.
type recorder struct {
	header http.Header
	status int
	wrote  bool
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if !r.wrote {
		r.status, r.wrote = status, true
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}

// Flush is a no-op: the response is sent whole once checked.
func (r *recorder) Flush() {}
