// Package sites holds suspected sites (疑似"小化工"点位) and their cases: from the first sign (an
// inspection, a drone image, a tip, a lead, or by hand) to closure, with every photo and drone
// image of the place attached, the disposal actions by class (分类处置) with their departments and
// deadlines, the responsible persons (责任人), and the register of exited enterprises (附件1).
//
// A site lies at a point and so in a grid cell, computed by the database (migration 0022,
// sites_place) and placed again by Placer when cells change. Images are linked by place in SQL
// (link_media_to_sites, both ways: a new image to the sites it shows, a new or moved site to
// the images stored before it). The case workflow is one transition table (transitions.go);
// every move is recorded with who, when and why, and a closed site gets its re-inspection tasks
// (internal/tasks) that reach the cell's grid worker through phone sync.
//
// Files: store.go holds every SQL statement (Store, methods taking the caller's transaction);
// the Service adds the rules that span statements (moves, tasks, department checks, creating a
// site from a suspected inspection: inspection.go); actions.go the disposal catalogue;
// exited.go the exited-enterprise register; placer.go the placer for package regions.
package sites

import (
	"encoding/json"
	"time"
)

// Source says where a site was first seen.
type Source string

// The sources.
const (
	FromInspectionSource Source = "inspection" // 排查发现
	FromDrone            Source = "drone"      // 航拍发现
	FromTip              Source = "tip"        // 群众举报
	FromLead             Source = "lead"       // 大数据线索
	FromManual           Source = "manual"     // 人工录入
)

// Site is one suspected site and the state of its case.
type Site struct {
	ID             int64           `json:"id"`
	Status         Status          `json:"status"`
	Point          json.RawMessage `json:"point"`             // GeoJSON Point (gis.AsGeoJSON)
	Outline        json.RawMessage `json:"outline,omitempty"` // GeoJSON Polygon
	Lon            float64         `json:"-"`
	Lat            float64         `json:"-"`
	CellID         *int64          `json:"cellId"`
	RegionID       *int64          `json:"regionId"` // the cell, or the deepest region holding the point
	Source         Source          `json:"source"`
	SourceRef      string          `json:"sourceRef"` // the inspection, image, tip or lead id
	Classes        []Class         `json:"classes"`
	FirmName       string          `json:"firmName"`     // 企业名称
	Address        string          `json:"address"`      // 地址
	Industry       string          `json:"industry"`     // 所属行业
	LegalRep       string          `json:"legalRep"`     // 法定代表人
	Controller     string          `json:"controller"`   // 实际控制人
	ContactPhone   string          `json:"contactPhone"` // 法人联系方式
	PremiseID      *int64          `json:"premiseId"`
	Participants   []string        `json:"participants"` // 工作参与人员
	Note           string          `json:"note"`
	InspectionIDs  []string        `json:"inspectionIds"`
	OverdueActions int             `json:"overdueActions"`
	StatusAt       time.Time       `json:"statusAt"`
	ClosedAt       *time.Time      `json:"closedAt,omitempty"`
	CreatedBy      *int64          `json:"createdBy"`
	CreatedAt      time.Time       `json:"createdAt"`
	UpdatedAt      time.Time       `json:"updatedAt"`
}

// NewSite is what is needed to open a site by hand. Lon and Lat are in CRS (WGS-84 when
// empty); the outline, when given, is a GeoJSON Polygon in WGS-84.
type NewSite struct {
	Lon          *float64        `json:"lon"`
	Lat          *float64        `json:"lat"`
	CRS          string          `json:"crs"`
	Outline      json.RawMessage `json:"outline"`
	Source       Source          `json:"source"`
	SourceRef    string          `json:"sourceRef"`
	Classes      []Class         `json:"classes"`
	FirmName     string          `json:"firmName"`
	Address      string          `json:"address"`
	Industry     string          `json:"industry"`
	LegalRep     string          `json:"legalRep"`
	Controller   string          `json:"controller"`
	ContactPhone string          `json:"contactPhone"`
	PremiseID    *int64          `json:"premiseId"`
	Participants []string        `json:"participants"`
	Note         string          `json:"note"`
}

// Patch is a partial change to a site; nil fields stay. A new location needs both Lon and
// Lat; it places the site again and links the images of its new place. The status changes
// only through Move.
type Patch struct {
	Lon          *float64         `json:"lon"`
	Lat          *float64         `json:"lat"`
	CRS          string           `json:"crs"`
	Outline      *json.RawMessage `json:"outline"`
	Classes      *[]Class         `json:"classes"`
	FirmName     *string          `json:"firmName"`
	Address      *string          `json:"address"`
	Industry     *string          `json:"industry"`
	LegalRep     *string          `json:"legalRep"`
	Controller   *string          `json:"controller"`
	ContactPhone *string          `json:"contactPhone"`
	PremiseID    *int64           `json:"premiseId"`
	Participants *[]string        `json:"participants"`
	Note         *string          `json:"note"`
}

// Event is one move of a case (or its opening, with no From): who, when, why.
type Event struct {
	ID     int64     `json:"id"`
	From   *Status   `json:"from"`
	To     Status    `json:"to"`
	Reason string    `json:"reason"`
	By     *int64    `json:"by"`
	Actor  string    `json:"actor"`
	At     time.Time `json:"at"`
}

// Medium is an image linked to a site, and why.
type Medium struct {
	MediaID   int64      `json:"mediaId"`
	Source    string     `json:"source"` // phone (a photo), drone_survey or tip (a public tip's photo)
	SurveyID  *int64     `json:"surveyId,omitempty"`
	Reason    string     `json:"reason"` // footprint, near, inspection, manual, tip
	DistanceM *float64   `json:"distanceM,omitempty"`
	TakenAt   *time.Time `json:"takenAt,omitempty"`
	Thumbnail string     `json:"thumbnail,omitempty"` // path of the list thumbnail, when made
	Detail    string     `json:"detail,omitempty"`    // path of the detail thumbnail, when made
	LinkedAt  time.Time  `json:"linkedAt"`
	// DetailKey is the detail thumbnail's object key in the derived bucket ("" until it is
	// made): what a ledger's photo appendix (照片附件) copies. Not part of the API.
	DetailKey string `json:"-"`
}

// ActionRecord is a disposal action recorded on a site.
type ActionRecord struct {
	ID          int64      `json:"id"`
	SiteID      int64      `json:"siteId"`
	Action      Action     `json:"action"`
	Department  Department `json:"department"`
	Responsible string     `json:"responsible"`
	Deadline    time.Time  `json:"deadline"`
	AmountYuan  *float64   `json:"amountYuan,omitempty"`
	Evidence    []int64    `json:"evidence"`
	Result      string     `json:"result"`
	DoneAt      *time.Time `json:"doneAt,omitempty"`
	Overdue     bool       `json:"overdue"`
	CreatedBy   *int64     `json:"createdBy"`
	CreatedAt   time.Time  `json:"createdAt"`
	// In the overdue list: where the site is.
	FirmName string `json:"firmName,omitempty"`
	CellID   *int64 `json:"cellId,omitempty"`
}

// NewAction is a disposal action to record.
type NewAction struct {
	Action      Action     `json:"action"`
	Department  Department `json:"department"`
	Responsible string     `json:"responsible"`
	Deadline    *time.Time `json:"deadline"`
	AmountYuan  *float64   `json:"amountYuan"`
	Evidence    []int64    `json:"evidence"`
	Result      string     `json:"result"`
	Done        bool       `json:"done"`
}

// ActionPatch records an action's result, evidence or completion.
type ActionPatch struct {
	Result   *string    `json:"result"`
	Evidence *[]int64   `json:"evidence"`
	Done     *bool      `json:"done"`
	Deadline *time.Time `json:"deadline"`
}

// PersonRole is how a responsible person answers for a site.
type PersonRole string

// The roles of responsible persons.
const (
	LegalRepresentative PersonRole = "legal_representative" // 法定代表人
	ActualController    PersonRole = "actual_controller"    // 实际控制人
	Landlord            PersonRole = "landlord"             // 出租方（出租场地者）
	OtherPerson         PersonRole = "other"                // 其他责任人
)

// Person is a responsible person (责任人) of a site. No ID number is kept: see persons.go.
type Person struct {
	ID        int64      `json:"id"`
	SiteID    int64      `json:"siteId"`
	Role      PersonRole `json:"role"`
	Name      string     `json:"name"`
	Phone     string     `json:"phone"`
	Note      string     `json:"note"`
	CreatedAt time.Time  `json:"createdAt"`
}

// NewPerson is a responsible person to add.
type NewPerson struct {
	Role  PersonRole `json:"role"`
	Name  string     `json:"name"`
	Phone string     `json:"phone"`
	Note  string     `json:"note"`
}

// Filter narrows a site listing. Zero values do not filter.
type Filter struct {
	RegionID int64 // inside this region
	CellID   int64
	Status   Status
	Class    Class
	After    int64 // cursor: sites with a larger id
	Limit    int
}

// Per-cell counts for coverage (internal/coverage's plug-in counts, wired in cmd/sieve and
// api.New): SQL returning columns cell_id and n for the cells of the token {{cells}}, read in the
// caller's transaction. Sites owns what "open" and "overdue" mean.
const (
	// OpenSitesPerCell counts the sites whose case is not over (neither cleared nor closed).
	OpenSitesPerCell = `SELECT s.cell_id, count(*) AS n FROM sites s
		WHERE s.cell_id = ANY ({{cells}}) AND s.status NOT IN ('cleared', 'closed') GROUP BY s.cell_id`
	// OverdueActionsPerCell counts the disposal actions past their deadline and not done.
	OverdueActionsPerCell = `SELECT s.cell_id, count(*) AS n FROM site_actions a JOIN sites s ON s.id = a.site_id
		WHERE s.cell_id = ANY ({{cells}}) AND a.done_at IS NULL AND a.deadline < now() GROUP BY s.cell_id`
)
