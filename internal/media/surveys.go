package media

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/db"
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
	// Failures says why, one entry per failed file (the first 200).
	Failures []Failure `json:"failures"`
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

const surveyCols = `id, region_id, operator_id, name, flight_date::text, drone, camera, created_at`

func scanSurvey(row pgx.Row) (Survey, error) {
	var v Survey
	err := row.Scan(&v.ID, &v.RegionID, &v.OperatorID, &v.Name, &v.FlightDate, &v.Drone, &v.Camera, &v.CreatedAt)
	return v, err
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
	var ok bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM regions WHERE id = $1 AND sieve_in_scope(path))`, in.RegionID).Scan(&ok); err != nil {
		return Survey{}, err
	}
	if !ok {
		return Survey{}, apperr.ErrNotFound.Wrap(apperrf("region %d not in scope", in.RegionID))
	}
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)`, operator).Scan(&ok); err != nil {
		return Survey{}, err
	}
	if !ok {
		return Survey{}, apperr.Invalidf("invalid_operator", "飞手不存在", "operator %d not found", operator)
	}
	const q = `INSERT INTO surveys (region_id, operator_id, name, flight_date, drone, camera, created_by)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ` + surveyCols
	v, err := scanSurvey(tx.QueryRow(ctx, q, in.RegionID, operator, in.Name, in.FlightDate, in.Drone, in.Camera, caller))
	return v, db.MapError(err)
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
	const q = `SELECT ` + surveyCols + `, (SELECT count(*) FROM media m WHERE m.survey_id = surveys.id)
		FROM surveys
		WHERE ($1 = 0 OR id < $1)
		  AND ($2 = 0 OR region_path <@ (SELECT path FROM regions WHERE id = $2))
		  AND ($3 = 0 OR operator_id = $3)
		ORDER BY id DESC LIMIT $4`
	rows, err := tx.Query(ctx, q, f.After, f.RegionID, f.OperatorID, f.Limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Survey, error) {
		var v Survey
		var images int
		err := r.Scan(&v.ID, &v.RegionID, &v.OperatorID, &v.Name, &v.FlightDate, &v.Drone, &v.Camera, &v.CreatedAt, &images)
		v.Images = &images
		return v, err
	})
}

// GetSurvey returns one survey visible in tx's scope, or apperr.ErrNotFound.
func (s *Service) GetSurvey(ctx context.Context, tx pgx.Tx, id int64) (Survey, error) {
	const q = `SELECT ` + surveyCols + ` FROM surveys WHERE id = $1`
	v, err := scanSurvey(tx.QueryRow(ctx, q, id))
	return v, db.MapError(err)
}

// SurveyProgress counts what was declared, received, processed and failed, with reasons.
func (s *Service) SurveyProgress(ctx context.Context, tx pgx.Tx, id int64) (Progress, error) {
	p := Progress{Failures: []Failure{}}
	const counts = `SELECT
		(SELECT count(DISTINCT sha256) FROM upload_sessions WHERE survey_id = $1)
		  + (SELECT count(*) FROM media m WHERE m.survey_id = $1
		     AND NOT EXISTS (SELECT 1 FROM upload_sessions u WHERE u.survey_id = $1 AND u.sha256 = m.sha256)),
		(SELECT coalesce(sum(size), 0) FROM (SELECT DISTINCT ON (sha256) size FROM upload_sessions WHERE survey_id = $1) d),
		(SELECT count(*) FROM upload_sessions WHERE survey_id = $1 AND status = 'pending'),
		(SELECT count(DISTINCT sha256) FROM upload_sessions u WHERE survey_id = $1 AND status IN ('rejected', 'expired')
		   AND NOT EXISTS (SELECT 1 FROM media m WHERE m.survey_id = $1 AND m.sha256 = u.sha256)
		   AND NOT EXISTS (SELECT 1 FROM upload_sessions p WHERE p.survey_id = $1 AND p.sha256 = u.sha256 AND p.status = 'pending')),
		count(*), coalesce(sum(size), 0),
		count(*) FILTER (WHERE status = 'processed'),
		count(*) FILTER (WHERE status = 'failed')
		FROM media WHERE survey_id = $1`
	var rejected int
	err := tx.QueryRow(ctx, counts, id).Scan(&p.Declared, &p.BytesDeclared, &p.Pending, &rejected, &p.Received, &p.BytesReceived, &p.Processed, &p.Failed)
	if err != nil {
		return p, err
	}
	p.Failed += rejected
	const failures = `SELECT original_name, id, NULL::bigint, error_code, error FROM media WHERE survey_id = $1 AND status = 'failed'
		UNION ALL
		(SELECT DISTINCT ON (sha256) file_name, NULL, id, reason_code, reason FROM upload_sessions u
		 WHERE survey_id = $1 AND status IN ('rejected', 'expired')
		   AND NOT EXISTS (SELECT 1 FROM media m WHERE m.survey_id = $1 AND m.sha256 = u.sha256)
		   AND NOT EXISTS (SELECT 1 FROM upload_sessions p WHERE p.survey_id = $1 AND p.sha256 = u.sha256 AND p.status = 'pending')
		 ORDER BY sha256, id DESC)
		ORDER BY 1 LIMIT 200`
	rows, err := tx.Query(ctx, failures, id)
	if err != nil {
		return p, err
	}
	defer rows.Close()
	for rows.Next() {
		var f Failure
		if err := rows.Scan(&f.Name, &f.MediaID, &f.UploadID, &f.Code, &f.Reason); err != nil {
			return p, err
		}
		p.Failures = append(p.Failures, f)
	}
	return p, rows.Err()
}
