package media

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/jobs"
)

// Survey is a drone survey (无人机航测): one flight, or one SD card, over a region.
type Survey struct {
	ID         int64     `json:"id"`
	RegionID   int64     `json:"regionId"`
	OperatorID int64     `json:"operatorId"`
	Name       string    `json:"name"`
	FlightDate string    `json:"flightDate"` // YYYY-MM-DD
	Drone      string    `json:"drone"`
	Camera     string    `json:"camera"`
	CreatedAt  time.Time `json:"createdAt"`
	Images     *int      `json:"images,omitempty"`   // in lists: images stored
	Progress   *Progress `json:"progress,omitempty"` // in GET /surveys/{id}
}

// Progress is where a survey's upload stands.
type Progress struct {
	// Declared counts the distinct files announced for upload (POST /surveys/{id}/uploads).
	Declared int `json:"declared"`
	// Received counts the images stored; Processed those whose jobs are done; Failed those
	// rejected at upload or failed (dead) in a job.
	Received  int `json:"received"`
	Processed int `json:"processed"`
	Failed    int `json:"failed"`
	// Pending counts the uploads announced and not yet completed.
	Pending int `json:"pending"`
	// Bytes declared and received.
	BytesDeclared int64 `json:"bytesDeclared"`
	BytesReceived int64 `json:"bytesReceived"`
	// Stuck counts the received images whose processing job has been running past its
	// timeout: held by a process that died, until River's rescuer (jobs.Options.RescueAfter)
	// schedules it again. Retrying counts those whose job failed an attempt and waits for the
	// next one.
	Stuck    int `json:"stuck"`
	Retrying int `json:"retrying"`
	// Failures says why, one entry per failed file (the first 200).
	Failures []Failure `json:"failures"`
	// Flagged counts the images stored with at least one quality flag (kept and listed, to
	// check or re-fly); Flags counts them by flag, with reasons and names.
	Flagged int         `json:"flagged"`
	Flags   []FlagCount `json:"flags"`
	// Linked counts the images stored by another survey and listed in this one too.
	Linked int `json:"linked"`
}

// Failure is one file that did not make it, and why.
type Failure struct {
	Name     string `json:"name"`
	MediaID  *int64 `json:"mediaId,omitempty"`
	UploadID *int64 `json:"uploadId,omitempty"`
	Code     string `json:"code"`
	Reason   string `json:"reason"`
}

// NewSurvey is the body of POST /surveys.
type NewSurvey struct {
	RegionID   int64  `json:"regionId"`
	OperatorID *int64 `json:"operatorId,omitempty"` // default: the caller
	Name       string `json:"name"`
	FlightDate string `json:"flightDate"`
	Drone      string `json:"drone"`
	Camera     string `json:"camera"`
}

// CreateSurvey records a survey over a region in tx's scope; the operator defaults to caller.
func (s *Service) CreateSurvey(ctx context.Context, tx pgx.Tx, caller int64, in NewSurvey) (Survey, error) {
	in.Name, in.Drone, in.Camera = strings.TrimSpace(in.Name), strings.TrimSpace(in.Drone), strings.TrimSpace(in.Camera)
	if in.RegionID <= 0 {
		return Survey{}, apperr.Invalidf("region_required", "请指定航测区域", "regionId is required")
	}
	if _, err := time.Parse(time.DateOnly, in.FlightDate); err != nil {
		return Survey{}, apperr.Invalidf("invalid_flight_date", "飞行日期格式应为 YYYY-MM-DD", "flightDate must be YYYY-MM-DD")
	}
	if len(in.Name) > 200 || len(in.Drone) > 100 || len(in.Camera) > 100 {
		return Survey{}, apperr.Invalidf("field_too_long", "字段过长", "name, drone or camera too long")
	}
	operator := caller
	if in.OperatorID != nil {
		operator = *in.OperatorID
	}
	// The region and the operator must be visible to the caller.
	ok, err := s.store.regionInScope(ctx, tx, in.RegionID)
	if err != nil {
		return Survey{}, err
	}
	if !ok {
		return Survey{}, apperr.ErrNotFound.Wrap(fmt.Errorf("region %d not in scope", in.RegionID))
	}
	role, err := s.store.userRole(ctx, tx, operator)
	if err != nil {
		return Survey{}, err
	}
	if role == "" {
		return Survey{}, apperr.Invalidf("invalid_operator", "飞手不存在", "operator %d not found", operator)
	}
	// A survey named as flown by someone else names a drone operator (无人机飞手); the caller
	// may record a flight as their own (a coordinator or the city office with its own drone).
	if in.OperatorID != nil && operator != caller && role != "drone_operator" {
		return Survey{}, apperr.Invalidf("operator_not_drone_operator", "指定的飞手不是无人机飞手账号",
			"operator %d is a %s, not a drone operator", operator, role)
	}
	return s.store.InsertSurvey(ctx, tx, caller, operator, in)
}

// SurveyFilter selects surveys for ListSurveys.
type SurveyFilter struct {
	RegionID   int64 // over this region or a region inside it
	OperatorID int64 // flown by this operator
	After      int64 // cursor: surveys with a smaller id (newest first)
	Limit      int
}

// ListSurveys returns the surveys visible in tx's scope that match f, newest first, each with
// the count of its stored images.
func (s *Service) ListSurveys(ctx context.Context, tx pgx.Tx, f SurveyFilter) ([]Survey, error) {
	return s.store.ListSurveys(ctx, tx, f)
}

// GetSurvey returns one survey visible in tx's scope, or apperr.ErrNotFound.
func (s *Service) GetSurvey(ctx context.Context, tx pgx.Tx, id int64) (Survey, error) {
	return s.store.GetSurvey(ctx, tx, id)
}

// SurveyProgress counts what was declared, received, processed and failed, with reasons, and
// the images whose jobs are stuck or retrying.
func (s *Service) SurveyProgress(ctx context.Context, tx pgx.Tx, id int64) (Progress, error) {
	p, err := s.store.SurveyProgress(ctx, tx, id)
	if err != nil {
		return p, err
	}
	timeout := min(positive(jobs.TimeoutOf(s.jobs, MetadataArgs{}.Kind())), positive(jobs.TimeoutOf(s.jobs, ThumbnailArgs{}.Kind())))
	p.Stuck, p.Retrying, err = s.store.stuckJobs(ctx, tx, id, timeout)
	return p, err
}

// positive returns d, or a minute when d is not positive.
func positive(d time.Duration) time.Duration {
	if d <= 0 {
		return time.Minute
	}
	return d
}
