// Package client is a typed Go client of Sieve's HTTP API (/api/v1): what `sieve upload`, the
// end-to-end checks and the phone-sync tests drive the API through, instead of each writing its
// own HTTP and JSON. Resources are the server's own types (aliases in types.go), whose JSON the
// contract tests hold to openapi/openapi.yaml; this package adds the calls, the paging and
// GeoJSON envelopes, and the error type.
//
// Every call takes a context; an answer of 400 or more comes back as a *Error with the status,
// the stable code and the message of the API's error body:
//
//	c := client.New("http://127.0.0.1:8080")
//	if _, err := c.Login(ctx, "zhujia.coord", "password"); err != nil { ... }
//	me, err := c.Me(ctx)
//	var ae *client.Error
//	if errors.As(err, &ae) && ae.Code == "not_found" { ... }
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
)

// Client talks to one Sieve server. It is safe for concurrent use once configured; Login sets
// the token it sends.
type Client struct {
	base  string
	token string
	lang  string
	http  *http.Client
}

// Option configures a Client.
type Option func(*Client)

// WithToken sends this bearer token (from Login, or `sieve user` / POST /auth/login elsewhere).
func WithToken(token string) Option { return func(c *Client) { c.token = token } }

// WithHTTPClient sends requests, and presigned uploads, through hc (timeouts, transports).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.http = hc } }

// WithLanguage asks for error messages in this language (Accept-Language; the API answers
// Chinese unless English is asked for).
func WithLanguage(lang string) Option { return func(c *Client) { c.lang = lang } }

// New returns a client of the server at baseURL (scheme, host and port, e.g.
// "http://127.0.0.1:8080").
func New(baseURL string, opts ...Option) *Client {
	c := &Client{base: strings.TrimRight(baseURL, "/"), lang: "zh-CN", http: &http.Client{}}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Token is the bearer token the client sends ("" before Login).
func (c *Client) Token() string { return c.token }

// Error is an answer of 400 or more: {"error":{"code","message","details"}}. A presigned
// upload refused by the object store is an Error with code "storage".
type Error struct {
	Status  int             // HTTP status
	Code    string          // stable machine code, e.g. not_found, upload_incomplete
	Message string          // human message (zh-CN unless WithLanguage("en"))
	Details json.RawMessage // structured details, e.g. an import's per-feature report
}

func (e *Error) Error() string {
	return fmt.Sprintf("client: %d %s: %s", e.Status, e.Code, e.Message)
}

// IsCode reports whether err is an API error with this code.
func IsCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

const v1 = "/api/v1"

// do sends a request to path (under the server) and decodes a JSON answer into out (nil: the
// body is dropped). in is sent as JSON unless it is a *body.
func (c *Client) do(ctx context.Context, method, path string, in, out any) (*http.Response, error) {
	var rd io.Reader
	ct := ""
	switch b := in.(type) {
	case nil:
	case *body:
		rd, ct = b.r, b.contentType
	default:
		buf, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("client: encode %s %s: %w", method, path, err)
		}
		rd, ct = bytes.NewReader(buf), "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	if b, ok := in.(*body); ok {
		req.ContentLength = b.length
		for k, v := range b.header {
			req.Header.Set(k, v)
		}
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("Accept-Language", c.lang)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		return resp, decodeError(resp)
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp, nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return resp, fmt.Errorf("client: decode %s %s (%d): %w", method, path, resp.StatusCode, err)
	}
	return resp, nil
}

// body is a request body other than JSON (a file, a multipart form).
type body struct {
	r           io.Reader
	contentType string
	length      int64 // -1 when unknown
	header      map[string]string
}

func decodeError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var e struct {
		Error struct {
			Code    string          `json:"code"`
			Message string          `json:"message"`
			Details json.RawMessage `json:"details"`
		} `json:"error"`
	}
	if err := json.Unmarshal(b, &e); err != nil || e.Error.Code == "" {
		return &Error{Status: resp.StatusCode, Code: "http_" + strconv.Itoa(resp.StatusCode), Message: strings.TrimSpace(string(b))}
	}
	return &Error{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message, Details: e.Error.Details}
}

// query builds "?a=1&b=x" from the non-zero values.
type query url.Values

func (q query) int(name string, v int64) query {
	if v != 0 {
		url.Values(q).Set(name, strconv.FormatInt(v, 10))
	}
	return q
}

func (q query) str(name, v string) query {
	if v != "" {
		url.Values(q).Set(name, v)
	}
	return q
}

func (q query) page(p PageRequest) query {
	return q.int("limit", int64(p.Limit)).str("cursor", p.Cursor)
}

func (q query) String() string {
	if len(q) == 0 {
		return ""
	}
	return "?" + url.Values(q).Encode()
}

// Session.

// Login exchanges a username and password for a bearer token, which the client sends from then
// on.
func (c *Client) Login(ctx context.Context, username, password string) (Login, error) {
	var out Login
	_, err := c.do(ctx, http.MethodPost, v1+"/auth/login", map[string]string{"username": username, "password": password}, &out)
	if err == nil {
		c.token = out.Token
	}
	return out, err
}

// Logout revokes the client's token.
func (c *Client) Logout(ctx context.Context) error {
	_, err := c.do(ctx, http.MethodPost, v1+"/auth/logout", nil, nil)
	if err == nil {
		c.token = ""
	}
	return err
}

// ChangePassword sets the caller's own password, given the current one (POST /me/password).
// The caller's other sessions end; this client's token stays valid.
func (c *Client) ChangePassword(ctx context.Context, current, next string) error {
	_, err := c.do(ctx, http.MethodPost, v1+"/me/password", map[string]string{"currentPassword": current, "newPassword": next}, nil)
	return err
}

// Me is the caller with their scope.
func (c *Client) Me(ctx context.Context) (Me, error) {
	var out Me
	_, err := c.do(ctx, http.MethodGet, v1+"/me", nil, &out)
	return out, err
}

// People.

// ListUsers is a page of the users in the caller's area.
func (c *Client) ListUsers(ctx context.Context, f UserFilter) (List[User], error) {
	var out List[User]
	q := query{}.page(f.PageRequest).str("role", f.Role).int("region", f.RegionID)
	_, err := c.do(ctx, http.MethodGet, v1+"/users"+q.String(), nil, &out)
	return out, err
}

// CreateUser adds a user.
func (c *Client) CreateUser(ctx context.Context, n NewUser) (User, error) {
	var out User
	_, err := c.do(ctx, http.MethodPost, v1+"/users", n, &out)
	return out, err
}

// GetUser is one user.
func (c *Client) GetUser(ctx context.Context, id int64) (User, error) {
	var out User
	_, err := c.do(ctx, http.MethodGet, fmt.Sprintf("%s/users/%d", v1, id), nil, &out)
	return out, err
}

// UpdateUser changes a user; nil fields of p stay.
func (c *Client) UpdateUser(ctx context.Context, id int64, p UserPatch) (User, error) {
	var out User
	_, err := c.do(ctx, http.MethodPatch, fmt.Sprintf("%s/users/%d", v1, id), p, &out)
	return out, err
}

// Regions.

// ListRegions is a page of regions as GeoJSON features.
func (c *Client) ListRegions(ctx context.Context, f RegionFilter) (FeatureCollection[Region], error) {
	var out FeatureCollection[Region]
	q := query{}.page(f.PageRequest).int("parent", f.ParentID).int("within", f.Within).str("level", f.Level).str("q", f.Query)
	if f.NoGeometry {
		q = q.str("geometry", "false")
	}
	_, err := c.do(ctx, http.MethodGet, v1+"/regions"+q.String(), nil, &out)
	return out, err
}

// GetRegion is one region with its boundary and counts.
func (c *Client) GetRegion(ctx context.Context, id int64) (Feature[Region], error) {
	var out Feature[Region]
	_, err := c.do(ctx, http.MethodGet, fmt.Sprintf("%s/regions/%d", v1, id), nil, &out)
	return out, err
}

// ImportRegions sends a boundary file (contentType application/geo+json, application/json or
// application/zip for a zipped shapefile), all or nothing. A rejected file is an *Error with
// code import_rejected whose Details hold the report.
func (c *Client) ImportRegions(ctx context.Context, contentType string, file io.Reader, o RegionImportOptions) (RegionImportReport, error) {
	var out RegionImportReport
	q := query{}.str("crs", o.CRS).str("level", o.Level).int("parent", o.ParentID)
	_, err := c.do(ctx, http.MethodPost, v1+"/regions/import"+q.String(), &body{r: file, contentType: contentType, length: -1}, &out)
	return out, err
}

// GenerateCells splits a village (or each village of a township) into grid cells.
func (c *Client) GenerateCells(ctx context.Context, regionID int64, spec CellSpec) (CellsResult, error) {
	var out CellsResult
	_, err := c.do(ctx, http.MethodPost, fmt.Sprintf("%s/regions/%d/cells", v1, regionID), spec, &out)
	return out, err
}

// Premises.

// ListPremises is a page of premises as GeoJSON points.
func (c *Client) ListPremises(ctx context.Context, f PremiseFilter) (FeatureCollection[Premise], error) {
	var out FeatureCollection[Premise]
	q := query{}.page(f.PageRequest).int("region", f.RegionID).int("cell", f.CellID).str("kind", f.Kind).
		str("tag", f.Tag).str("q", f.Query)
	if f.BBox != nil {
		b := f.BBox
		q = q.str("bbox", fmt.Sprintf("%v,%v,%v,%v", b[0], b[1], b[2], b[3]))
	}
	_, err := c.do(ctx, http.MethodGet, v1+"/premises"+q.String(), nil, &out)
	return out, err
}

// GetPremise is one premise.
func (c *Client) GetPremise(ctx context.Context, id int64) (Feature[Premise], error) {
	var out Feature[Premise]
	_, err := c.do(ctx, http.MethodGet, fmt.Sprintf("%s/premises/%d", v1, id), nil, &out)
	return out, err
}

// CreatePremise adds a premise (a grid worker's is marked as found in the field).
func (c *Client) CreatePremise(ctx context.Context, n NewPremise) (Feature[Premise], error) {
	var out Feature[Premise]
	_, err := c.do(ctx, http.MethodPost, v1+"/premises", n, &out)
	return out, err
}

// UpdatePremise changes a premise; nil fields of p stay.
func (c *Client) UpdatePremise(ctx context.Context, id int64, p PremisePatch) (Feature[Premise], error) {
	var out Feature[Premise]
	_, err := c.do(ctx, http.MethodPatch, fmt.Sprintf("%s/premises/%d", v1, id), p, &out)
	return out, err
}

// ImportPremises sends a CSV (contentType text/csv) or GeoJSON points, all or nothing; crs may
// be "" (WGS-84 or what the file says), "gcj02" or "cgcs2000".
func (c *Client) ImportPremises(ctx context.Context, contentType string, file io.Reader, crs string) (PremiseImportReport, error) {
	var out PremiseImportReport
	q := query{}.str("crs", crs)
	_, err := c.do(ctx, http.MethodPost, v1+"/premises/import"+q.String(), &body{r: file, contentType: contentType, length: -1}, &out)
	return out, err
}

// Media.

// UploadPhoto sends one photo through the API (multipart, streamed). size is the file's length
// (-1 when unknown; known, it lets the server stream to storage in one PUT). With an
// idempotencyKey a retry answers the first record. created is false when the server already
// had it (same key or same content).
//
// With an idempotencyKey and a file that can seek back (an *os.File, a *bytes.Reader), a send
// whose connection broke before any answer came (the server or a proxy closed a kept-alive
// connection just as it went out) is sent once more, from the start, with the same key: Go's
// transport does not resend a streamed body itself, and the key makes the second send answer
// the first record if the first did arrive.
func (c *Client) UploadPhoto(ctx context.Context, name string, file io.Reader, size int64, idempotencyKey string) (m Medium, created bool, err error) {
	seeker, _ := file.(io.Seeker)
	var start int64
	if seeker != nil && idempotencyKey != "" {
		if start, err = seeker.Seek(0, io.SeekCurrent); err != nil {
			seeker = nil
		}
	} else {
		seeker = nil
	}
	for attempt := 0; ; attempt++ {
		m, created, err = c.uploadPhoto(ctx, name, file, size, idempotencyKey)
		var ae *Error
		if err == nil || seeker == nil || attempt > 0 || errors.As(err, &ae) || ctx.Err() != nil || !brokenConnection(err) {
			return m, created, err
		}
		if _, serr := seeker.Seek(start, io.SeekStart); serr != nil {
			return m, created, err
		}
	}
}

// brokenConnection reports whether err is a connection that broke under a request: reset,
// closed or cut short before the answer (not a timeout, not a refused dial).
func brokenConnection(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

func (c *Client) uploadPhoto(ctx context.Context, name string, file io.Reader, size int64, idempotencyKey string) (m Medium, created bool, err error) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := func() error {
			if size >= 0 {
				if err := mw.WriteField("size", strconv.FormatInt(size, 10)); err != nil {
					return err
				}
			}
			part, err := mw.CreateFormFile("file", name)
			if err != nil {
				return err
			}
			if _, err := io.Copy(part, file); err != nil {
				return err
			}
			return mw.Close()
		}()
		pw.CloseWithError(err)
	}()
	b := &body{r: pr, contentType: mw.FormDataContentType(), length: -1, header: map[string]string{}}
	if idempotencyKey != "" {
		b.header["Idempotency-Key"] = idempotencyKey
	}
	resp, err := c.do(ctx, http.MethodPost, v1+"/media", b, &m)
	pr.CloseWithError(io.ErrClosedPipe) // stop the writer if the server answered early
	<-done                              // the file is not read any more: it may be sought again
	if err != nil {
		return m, false, err
	}
	return m, resp.StatusCode == http.StatusCreated, nil
}

// GetMedium is one photo or drone image with its metadata and processing state.
func (c *Client) GetMedium(ctx context.Context, id int64) (Medium, error) {
	var out Medium
	_, err := c.do(ctx, http.MethodGet, fmt.Sprintf("%s/media/%d", v1, id), nil, &out)
	return out, err
}

// UploadSlots asks for presigned upload slots for photos (send each with PutSlot, then
// CompleteUpload).
func (c *Client) UploadSlots(ctx context.Context, files []FileDecl) ([]Slot, error) {
	var out List[Slot]
	_, err := c.do(ctx, http.MethodPost, v1+"/uploads", map[string]any{"files": files}, &out)
	return out.Items, err
}

// CompleteUpload records the photo of a finished slot.
func (c *Client) CompleteUpload(ctx context.Context, uploadID int64) (Medium, error) {
	var out Medium
	_, err := c.do(ctx, http.MethodPost, fmt.Sprintf("%s/uploads/%d/complete", v1, uploadID), nil, &out)
	return out, err
}

// Surveys.

// CreateSurvey starts a drone survey over a region.
func (c *Client) CreateSurvey(ctx context.Context, n NewSurvey) (Survey, error) {
	var out Survey
	_, err := c.do(ctx, http.MethodPost, v1+"/surveys", n, &out)
	return out, err
}

// GetSurvey is a survey with its progress.
func (c *Client) GetSurvey(ctx context.Context, id int64) (Survey, error) {
	var out Survey
	_, err := c.do(ctx, http.MethodGet, fmt.Sprintf("%s/surveys/%d", v1, id), nil, &out)
	return out, err
}

// ListSurveys is a page of the surveys over the caller's area, newest first.
func (c *Client) ListSurveys(ctx context.Context, f SurveyFilter) (List[Survey], error) {
	var out List[Survey]
	q := query{}.page(f.PageRequest).int("region", f.RegionID).int("operator", f.OperatorID)
	_, err := c.do(ctx, http.MethodGet, v1+"/surveys"+q.String(), nil, &out)
	return out, err
}

// SurveyUploadSlots asks for upload slots for files of a survey (at most 500 a call); files
// already stored come back with status "exists".
func (c *Client) SurveyUploadSlots(ctx context.Context, surveyID int64, files []FileDecl) ([]Slot, error) {
	var out List[Slot]
	_, err := c.do(ctx, http.MethodPost, fmt.Sprintf("%s/surveys/%d/uploads", v1, surveyID), map[string]any{"files": files}, &out)
	return out.Items, err
}

// CompleteSurveyUpload records the image of a finished slot of a survey.
func (c *Client) CompleteSurveyUpload(ctx context.Context, surveyID, uploadID int64) (Medium, error) {
	var out Medium
	_, err := c.do(ctx, http.MethodPost, fmt.Sprintf("%s/surveys/%d/uploads/%d/complete", v1, surveyID, uploadID), nil, &out)
	return out, err
}

// SurveyImages is a page of a survey's images, in upload order; status may be "", received,
// processed or failed.
func (c *Client) SurveyImages(ctx context.Context, surveyID int64, p PageRequest, status string) (List[Medium], error) {
	var out List[Medium]
	q := query{}.page(p).str("status", status)
	_, err := c.do(ctx, http.MethodGet, fmt.Sprintf("%s/surveys/%d/images%s", v1, surveyID, q), nil, &out)
	return out, err
}

// PutSlot sends n bytes to a presigned URL of a slot (Slot.URL, or a Slot.Parts URL) straight
// to the object store. A refusal is an *Error with code "storage" and the store's answer as
// message.
func (c *Client) PutSlot(ctx context.Context, presignedURL string, data io.Reader, n int64) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, presignedURL, data)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	req.ContentLength = n
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("client: PUT slot: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return &Error{Status: resp.StatusCode, Code: "storage", Message: strings.TrimSpace(string(msg))}
	}
	return nil
}

// Audit.

// ListAudit is a page of the audit log of the caller's area, newest first.
func (c *Client) ListAudit(ctx context.Context, f AuditFilter) (List[AuditEntry], error) {
	var out List[AuditEntry]
	q := query{}.page(f.PageRequest).str("entity", f.Entity).str("entityId", f.EntityID).int("user", f.UserID)
	_, err := c.do(ctx, http.MethodGet, v1+"/audit"+q.String(), nil, &out)
	return out, err
}
