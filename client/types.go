package client

import (
	"encoding/json"
	"time"

	"github.com/sieve-city/sieve/internal/accounts"
	"github.com/sieve-city/sieve/internal/audit"
	"github.com/sieve-city/sieve/internal/media"
	"github.com/sieve-city/sieve/internal/premises"
	"github.com/sieve-city/sieve/internal/regions"
)

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

// Me is the caller with the regions they act in (GET /me).
type Me struct {
	User
	Scope []RegionRef `json:"scope"`
}

// The resources are the server's own types, whose JSON is the spec's schemas (the contract
// tests hold the two together), so the client decodes exactly what the server encodes.
type (
	User                = accounts.User
	NewUser             = accounts.NewUser
	UserPatch           = accounts.UserPatch
	RegionRef           = accounts.ScopeRegion
	Region              = regions.Region
	RegionImportReport  = regions.Report
	RegionImportIssue   = regions.Issue
	CellSpec            = regions.CellSpec
	CellsResult         = regions.CellsResult
	Premise             = premises.Premise
	NewPremise          = premises.NewPremise
	PremisePatch        = premises.Patch
	PremiseImportReport = premises.ImportReport
	PremiseImportIssue  = premises.Issue
	Medium              = media.Medium
	FileDecl            = media.FileDecl
	Slot                = media.Slot
	PartURL             = media.PartURL
	NewSurvey           = media.NewSurvey
	Survey              = media.Survey
	Progress            = media.Progress
	Failure             = media.Failure
	AuditEntry          = audit.Entry
)

// UserFilter narrows ListUsers.
type UserFilter struct {
	PageRequest
	Role     string
	RegionID int64
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

// PremiseFilter narrows ListPremises.
type PremiseFilter struct {
	PageRequest
	RegionID, CellID int64
	BBox             *[4]float64 // minLon, minLat, maxLon, maxLat
	Kind, Tag, Query string
}

// SurveyFilter narrows ListSurveys.
type SurveyFilter struct {
	PageRequest
	RegionID, OperatorID int64
}

// AuditFilter narrows ListAudit.
type AuditFilter struct {
	PageRequest
	Entity, EntityID string
	UserID           int64
}
