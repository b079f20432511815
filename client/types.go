package client

import (
	"encoding/json"
	"time"
)

// The types below are the JSON of openapi/openapi.yaml's schemas, field for field.

// PageRequest asks for one page of a list: at most Limit items (0: the server's default)
// after Cursor (a previous page's NextCursor; "" for the first page).
type PageRequest struct {
	Limit  int
	Cursor string
}

// List is a page of a JSON list (components/schemas/List).
type List[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"nextCursor,omitempty"` // "" on the last page
}

// Feature is one resource as a GeoJSON Feature: its geometry as the server wrote it (RFC 7946,
// WGS-84) and the resource as properties.
type Feature[T any] struct {
	Type       string          `json:"type"`
	ID         int64           `json:"id"`
	Geometry   json.RawMessage `json:"geometry"`
	Properties T               `json:"properties"`
}

// FeatureCollection is a page of features (components/schemas/FeatureCollection).
type FeatureCollection[T any] struct {
	Type       string       `json:"type"`
	Features   []Feature[T] `json:"features"`
	NextCursor string       `json:"nextCursor,omitempty"`
}

// Login is the answer of POST /auth/login.
type Login struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expiresAt"`
	User      User      `json:"user"`
}

// User is a person who logs in.
type User struct {
	ID          int64      `json:"id"`
	Username    string     `json:"username"`
	DisplayName string     `json:"displayName"`
	Phone       string     `json:"phone"`
	Role        string     `json:"role"`
	RegionID    *int64     `json:"regionId"`
	CellIDs     []int64    `json:"cellIds"`
	Disabled    bool       `json:"disabled"`
	DisabledAt  *time.Time `json:"disabledAt,omitempty"`
	CreatedAt   time.Time  `json:"createdAt"`
	UpdatedAt   time.Time  `json:"updatedAt"`
}

// Me is the caller with the regions they act in.
type Me struct {
	User
	Scope []RegionRef `json:"scope"`
}

// RegionRef names a region.
type RegionRef struct {
	ID    int64  `json:"id"`
	Code  string `json:"code"`
	Name  string `json:"name"`
	Level string `json:"level"`
}

// UserFilter narrows ListUsers.
type UserFilter struct {
	PageRequest
	Role     string
	RegionID int64
}

// NewUser is the body of CreateUser.
type NewUser struct {
	Username    string  `json:"username"`
	Password    string  `json:"password"`
	DisplayName string  `json:"displayName,omitempty"`
	Phone       string  `json:"phone,omitempty"`
	Role        string  `json:"role"`
	RegionID    *int64  `json:"regionId,omitempty"`
	CellIDs     []int64 `json:"cellIds,omitempty"`
}

// UserPatch is a partial change of a user; nil fields stay.
type UserPatch struct {
	DisplayName *string  `json:"displayName,omitempty"`
	Phone       *string  `json:"phone,omitempty"`
	Role        *string  `json:"role,omitempty"`
	RegionID    *int64   `json:"regionId,omitempty"`
	CellIDs     *[]int64 `json:"cellIds,omitempty"`
	Disabled    *bool    `json:"disabled,omitempty"`
	Password    *string  `json:"password,omitempty"`
}

// Region is a region of the tree (city, township, village, cell).
type Region struct {
	ID        int64     `json:"id"`
	ParentID  *int64    `json:"parentId"`
	Level     string    `json:"level"`
	Code      string    `json:"code"`
	Name      string    `json:"name"`
	Kind      string    `json:"kind"`
	AreaKm2   float64   `json:"areaKm2"`
	Children  int64     `json:"children"`
	Cells     int64     `json:"cells"`
	Premises  int64     `json:"premises"`
	WorkerIDs []int64   `json:"workerIds"`
	GridShape *string   `json:"gridShape,omitempty"`
	GridSizeM *float64  `json:"gridSizeM,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// RegionFilter narrows ListRegions.
type RegionFilter struct {
	PageRequest
	ParentID, Within int64
	Level, Query     string
	NoGeometry       bool // leave the boundaries out
}

// RegionImportOptions are the query parameters of ImportRegions most callers need.
type RegionImportOptions struct {
	CRS, Level string
	ParentID   int64
}

// RegionImportReport is the per-feature report of a region import.
type RegionImportReport struct {
	Features      int                 `json:"features"`
	Created       int                 `json:"created"`
	Updated       int                 `json:"updated"`
	Moved         int                 `json:"moved"`
	Errors        int                 `json:"errors"`
	Warnings      int                 `json:"warnings"`
	PremisesMoved int64               `json:"premisesMoved"`
	Issues        []RegionImportIssue `json:"issues"`
}

// RegionImportIssue is one problem of a region import.
type RegionImportIssue struct {
	Feature  int     `json:"feature"`
	Code     string  `json:"code,omitempty"`
	Severity string  `json:"severity"`
	Problem  string  `json:"problem"`
	Message  string  `json:"message"`
	Other    string  `json:"other,omitempty"`
	AreaKm2  float64 `json:"areaKm2,omitempty"`
}

// CellSpec is the body of GenerateCells.
type CellSpec struct {
	Shape       string  `json:"shape"` // square or hexagon
	Size        float64 `json:"size"`  // metres
	Replace     bool    `json:"replace,omitempty"`
	MinFraction float64 `json:"minFraction,omitempty"`
}

// CellsResult says what GenerateCells did.
type CellsResult struct {
	Regions       []int64 `json:"regions"`
	Created       int     `json:"created"`
	Deleted       int64   `json:"deleted"`
	PremisesMoved int64   `json:"premisesMoved"`
}

// Premise is one place of the register.
type Premise struct {
	ID           int64     `json:"id"`
	Kind         string    `json:"kind"`
	Name         string    `json:"name"`
	Address      string    `json:"address"`
	ContactName  string    `json:"contactName"`
	ContactPhone string    `json:"contactPhone"`
	CreditCode   string    `json:"creditCode"`
	Tags         []string  `json:"tags"`
	Source       string    `json:"source"`
	Ref          string    `json:"ref"`
	CellID       *int64    `json:"cellId"`
	RegionID     *int64    `json:"regionId"`
	CreatedAt    time.Time `json:"createdAt"`
	UpdatedAt    time.Time `json:"updatedAt"`
}

// PremiseFilter narrows ListPremises.
type PremiseFilter struct {
	PageRequest
	RegionID, CellID int64
	BBox             *[4]float64 // minLon, minLat, maxLon, maxLat
	Kind, Tag, Query string
}

// NewPremise is the body of CreatePremise; Lon and Lat are in CRS (WGS-84 when empty).
type NewPremise struct {
	Kind         string   `json:"kind,omitempty"`
	Name         string   `json:"name"`
	Address      string   `json:"address,omitempty"`
	ContactName  string   `json:"contactName,omitempty"`
	ContactPhone string   `json:"contactPhone,omitempty"`
	CreditCode   string   `json:"creditCode,omitempty"`
	Tags         []string `json:"tags,omitempty"`
	Ref          string   `json:"ref,omitempty"`
	Lon          float64  `json:"lon"`
	Lat          float64  `json:"lat"`
	CRS          string   `json:"crs,omitempty"`
}

// PremisePatch is a partial change of a premise; nil fields stay. A move needs Lon and Lat.
type PremisePatch struct {
	Kind         *string   `json:"kind,omitempty"`
	Name         *string   `json:"name,omitempty"`
	Address      *string   `json:"address,omitempty"`
	ContactName  *string   `json:"contactName,omitempty"`
	ContactPhone *string   `json:"contactPhone,omitempty"`
	CreditCode   *string   `json:"creditCode,omitempty"`
	Tags         *[]string `json:"tags,omitempty"`
	Lon          *float64  `json:"lon,omitempty"`
	Lat          *float64  `json:"lat,omitempty"`
	CRS          string    `json:"crs,omitempty"`
}

// PremiseImportReport says what ImportPremises did.
type PremiseImportReport struct {
	Received     int                  `json:"received"`
	Created      int64                `json:"created"`
	InCells      int64                `json:"inCells"`
	OutsideCells int64                `json:"outsideCells"`
	Issues       []PremiseImportIssue `json:"issues"`
}

// PremiseImportIssue is one problem of a premises import.
type PremiseImportIssue struct {
	Row     int    `json:"row,omitempty"`
	Feature *int   `json:"feature,omitempty"`
	Field   string `json:"field,omitempty"`
	Problem string `json:"problem"`
	Message string `json:"message"`
}

// Medium is a photo or drone image.
type Medium struct {
	ID           int64           `json:"id"`
	Kind         string          `json:"kind"`
	SurveyID     *int64          `json:"surveyId,omitempty"`
	UploadedBy   int64           `json:"uploadedBy"`
	SHA256       string          `json:"sha256"`
	Size         int64           `json:"size"`
	Format       string          `json:"format"`
	ContentType  string          `json:"contentType"`
	OriginalName string          `json:"originalName"`
	Width        *int            `json:"width,omitempty"`
	Height       *int            `json:"height,omitempty"`
	Status       string          `json:"status"` // received, processed, failed
	ErrorCode    string          `json:"errorCode,omitempty"`
	Error        string          `json:"error,omitempty"`
	NoThumbnail  bool            `json:"noThumbnail"`
	TakenAt      *time.Time      `json:"takenAt,omitempty"`
	Point        json.RawMessage `json:"point,omitempty"`
	Footprint    json.RawMessage `json:"footprint,omitempty"`
	AltitudeRel  *float64        `json:"altitudeRel,omitempty"`
	PHash        string          `json:"phash,omitempty"`
	Metadata     json.RawMessage `json:"metadata,omitempty"`
	Thumbnails   []string        `json:"thumbnails"`
	CellIDs      []int64         `json:"cellIds"`
	CreatedAt    time.Time       `json:"createdAt"`
}

// FileDecl announces a file for an upload slot.
type FileDecl struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"` // hex
}

// Slot is the server's answer for one declared file: status "upload" with a URL (one PUT) or
// Parts (S3 multipart, PartsDone already received), "exists" with MediaID, or "rejected" with
// Code and Reason.
type Slot struct {
	Name      string     `json:"name"`
	SHA256    string     `json:"sha256"`
	Status    string     `json:"status"`
	UploadID  int64      `json:"uploadId,omitempty"`
	MediaID   *int64     `json:"mediaId,omitempty"`
	Method    string     `json:"method,omitempty"`
	URL       string     `json:"url,omitempty"`
	PartSize  int64      `json:"partSize,omitempty"`
	Parts     []PartURL  `json:"parts,omitempty"`
	PartsDone []int      `json:"partsDone,omitempty"`
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
	Code      string     `json:"code,omitempty"`
	Reason    string     `json:"reason,omitempty"`
}

// PartURL is the presigned URL of one part of a multipart slot; part n holds the bytes
// [(n-1)·PartSize, n·PartSize).
type PartURL struct {
	Number int    `json:"number"`
	URL    string `json:"url"`
}

// NewSurvey is the body of CreateSurvey.
type NewSurvey struct {
	RegionID   int64  `json:"regionId"`
	OperatorID *int64 `json:"operatorId,omitempty"`
	Name       string `json:"name,omitempty"`
	FlightDate string `json:"flightDate"` // YYYY-MM-DD
	Drone      string `json:"drone,omitempty"`
	Camera     string `json:"camera,omitempty"`
}

// Survey is a drone survey; Progress is there in GetSurvey, Images in lists.
type Survey struct {
	ID         int64     `json:"id"`
	RegionID   int64     `json:"regionId"`
	OperatorID int64     `json:"operatorId"`
	Name       string    `json:"name"`
	FlightDate string    `json:"flightDate"`
	Drone      string    `json:"drone"`
	Camera     string    `json:"camera"`
	CreatedAt  time.Time `json:"createdAt"`
	Images     *int      `json:"images,omitempty"`
	Progress   *Progress `json:"progress,omitempty"`
}

// Progress is where a survey's upload stands.
type Progress struct {
	Declared      int       `json:"declared"`
	Received      int       `json:"received"`
	Processed     int       `json:"processed"`
	Failed        int       `json:"failed"`
	Pending       int       `json:"pending"`
	BytesDeclared int64     `json:"bytesDeclared"`
	BytesReceived int64     `json:"bytesReceived"`
	Failures      []Failure `json:"failures"`
}

// Failure is one file of a survey that did not make it, and why.
type Failure struct {
	Name     string `json:"name"`
	MediaID  *int64 `json:"mediaId,omitempty"`
	UploadID *int64 `json:"uploadId,omitempty"`
	Code     string `json:"code"`
	Reason   string `json:"reason"`
}

// SurveyFilter narrows ListSurveys.
type SurveyFilter struct {
	PageRequest
	RegionID, OperatorID int64
}

// AuditEntry is one entry of the audit log.
type AuditEntry struct {
	ID         int64           `json:"id"`
	At         time.Time       `json:"at"`
	UserID     *int64          `json:"userId"`
	Actor      string          `json:"actor"`
	Action     string          `json:"action"`
	Entity     string          `json:"entity"`
	EntityID   string          `json:"entityId"`
	RemoteAddr string          `json:"remoteAddr"`
	RequestID  string          `json:"requestId"`
	Before     json.RawMessage `json:"before"`
	After      json.RawMessage `json:"after"`
}

// AuditFilter narrows ListAudit.
type AuditFilter struct {
	PageRequest
	Entity, EntityID string
	UserID           int64
}
