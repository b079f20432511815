// Package inspections records visits to premises (排查记录) as evidence: who, when, where, the
// outcome, the checklist and the photos, sent by a phone that may have been offline for days.
// Each inspection belongs to the round (排查轮次) in force at its visit time; its evidence verdict
// (internal/evidence) is computed by a background job once its photos are processed, and again
// when later data changes the answer. A coordinator may overrule a flag (review); random
// re-checks (抽查回访) send other workers to a sample of the visits.
//
// The Store holds the SQL and takes the caller's transaction; the Service owns the jobs, the
// hooks and the transactions it opens itself (the evidence check runs as the system).
package inspections

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/evidence"
)

// The outcomes of a visit.
const (
	Clear     = "clear"     // 无异常
	Suspected = "suspected" // 疑似
	Closed    = "closed"    // 关门无人 (visit again)
	Refused   = "refused"   // 拒绝检查
	NotFound  = "not_found" // 未找到
)

// Outcomes lists the outcomes.
var outcomes = []string{Clear, Suspected, Closed, Refused, NotFound}

// findingCodes are the checklist items (the five situations of the seed, split as 附件2 splits
// its columns).
var findingCodes = []string{"unlicensed", "beyond_licence", "non_chemical_producing", "exited_producing",
	"affiliated_leased", "factory_in_factory", "other"}

// Position is a device fix as the phone sends it.
type Position struct {
	Lon       float64  `json:"lon"`
	Lat       float64  `json:"lat"`
	AccuracyM *float64 `json:"accuracyM"`
	CRS       string   `json:"crs,omitempty"` // wgs84 (default) or gcj02
}

// NewPremise is a unit found in the field that is not in the register yet: it joins the
// register with the inspection, placed in its cell.
type NewPremise struct {
	Kind     string   `json:"kind"`
	Name     string   `json:"name"`
	Address  string   `json:"address"`
	Position Position `json:"position"`
}

// Request is the body of POST /inspections, as the phone app sends it.
type Request struct {
	ID               string      `json:"id"` // made by the phone (a UUID)
	PremiseID        *int64      `json:"premiseId,omitempty"`
	NewPremise       *NewPremise `json:"newPremise,omitempty"`
	VisitedAt        time.Time   `json:"visitedAt"`
	Position         *Position   `json:"position,omitempty"`
	Outcome          string      `json:"outcome"`
	Findings         []string    `json:"findings"`
	EquipmentRemoved *bool       `json:"equipmentRemoved"`
	Converted        *bool       `json:"converted"`
	Note             string      `json:"note"`
	// Participants are the people who went with the inspector (工作参与人员 of 附件3: township
	// staff, the departments' officers), by name. omitempty keeps the request hash of a visit
	// sent without them what it was before the field existed.
	Participants []string `json:"participants,omitempty"`
	MediaIDs     []int64  `json:"mediaIds"`
	RecheckOf    *string  `json:"recheckOf,omitempty"` // the inspection this visit re-checks
	// InspectorID is ignored: the inspector is always the caller. (Accepted so that an older
	// app that sends it is not refused.)
	InspectorID *int64 `json:"inspectorId,omitempty"`
}

// Review is a coordinator's overrule of a flagged verdict.
type Review struct {
	By     int64     `json:"by"`
	At     time.Time `json:"at"`
	Reason string    `json:"reason"`
	Codes  []string  `json:"codes"` // the flags overruled
}

// Evidence is an inspection's verdict as stored.
type Evidence struct {
	Status    evidence.Status    `json:"status"`
	Flags     []evidence.Finding `json:"flags"`
	CheckedAt *time.Time         `json:"checkedAt"`
	Review    *Review            `json:"review"`
}

// Inspection is one recorded visit.
type Inspection struct {
	ID               string    `json:"id"`
	PremiseID        int64     `json:"premiseId"`
	RoundID          int64     `json:"roundId"`
	CellID           *int64    `json:"cellId"`
	InspectorID      int64     `json:"inspectorId"`
	VisitedAt        time.Time `json:"visitedAt"`
	ReceivedAt       time.Time `json:"receivedAt"`
	Position         *Position `json:"position"` // WGS-84 (converted when sent in GCJ-02)
	SentCRS          string    `json:"sentCrs"`
	Outcome          string    `json:"outcome"`
	Findings         []string  `json:"findings"`
	EquipmentRemoved *bool     `json:"equipmentRemoved"`
	Converted        *bool     `json:"converted"`
	Note             string    `json:"note"`
	Participants     []string  `json:"participants"`
	MediaIDs         []int64   `json:"mediaIds"`
	RecheckOf        *string   `json:"recheckOf"`
	DisputedBy       *string   `json:"disputedBy"`
	Evidence         Evidence  `json:"evidence"`
	Seq              int64     `json:"-"` // listing order and cursor
}

// Round is an inspection round (排查轮次): city-wide or one township's. The round in force at a
// visit time is the current one; a premise inspected in an earlier round is due again (回头看).
type Round struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	StartsAt  time.Time `json:"startsAt"`
	EndsAt    time.Time `json:"endsAt"`
	RegionID  *int64    `json:"regionId"` // nil: the whole city
	CreatedAt time.Time `json:"createdAt"`
}

// NewRound is the body of POST /rounds.
type NewRound struct {
	Name     string    `json:"name"`
	StartsAt time.Time `json:"startsAt"`
	EndsAt   time.Time `json:"endsAt"`
	RegionID *int64    `json:"regionId"`
}

// Filter narrows GET /inspections. Zero values do not filter.
type Filter struct {
	PremiseID, CellID, RegionID, InspectorID, RoundID int64
	Outcome                                           string
	Evidence                                          string
	From, To                                          *time.Time
	After                                             int64 // cursor: Seq
	Limit                                             int
}

// WorkerStats are one worker's counts of verdicts, flags and overrules (GET /inspections/stats).
type WorkerStats struct {
	InspectorID int64            `json:"inspectorId"`
	Username    string           `json:"username"`
	Inspections int64            `json:"inspections"`
	Pending     int64            `json:"pending"`
	Verified    int64            `json:"verified"`
	Flagged     int64            `json:"flagged"`
	Rejected    int64            `json:"rejected"`
	Overruled   int64            `json:"overruled"`
	Flags       map[string]int64 `json:"flags"` // by code
}

// The refusals, each with a stable code.
var (
	// ErrConflict: the id was recorded with another body (or by someone else).
	ErrConflict = apperr.New(http.StatusConflict, "inspection_conflict",
		"an inspection with this id was recorded with a different body", "该编号的排查记录已存在且内容不同")
	errFuture = apperr.New(http.StatusUnprocessableEntity, "visit_in_future",
		"the visit time is in the future", "排查时间晚于当前时间")
	errNoRound = apperr.New(http.StatusUnprocessableEntity, "outside_round",
		"the visit time lies outside every inspection round", "排查时间不在任何排查轮次内")
	errMediaNotYours = apperr.New(http.StatusUnprocessableEntity, "media_not_yours",
		"mediaIds must be photos you uploaded", "照片须为本人上传")
	errFindingsNotSuspected = apperr.New(http.StatusUnprocessableEntity, "findings_not_suspected",
		"findings are recorded only with the outcome suspected", "仅“疑似”结果可填写排查情形")
	errNotFlagged = apperr.New(http.StatusConflict, "not_flagged",
		"only a flagged inspection can be reviewed", "只有被标记的排查记录可以复核")
	errNoRecheck = apperr.New(http.StatusUnprocessableEntity, "recheck_not_assigned",
		"no open re-check of that inspection is assigned to you", "没有分配给您的该记录的抽查任务")
)

func invalid(code, zh, format string, a ...any) *apperr.Error {
	return apperr.Invalidf(code, zh, format, a...)
}

// findingsJSON decodes stored findings.
func findingsJSON(b []byte) []evidence.Finding {
	out := []evidence.Finding{}
	_ = json.Unmarshal(b, &out)
	return out
}
