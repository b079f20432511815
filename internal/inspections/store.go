package inspections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/evidence"
)

// Store reads and writes rounds and inspections in the caller's transaction. It holds nothing.
type Store struct{}

const cols = `i.id::text, i.premise_id, i.round_id, i.cell_id, i.inspector_id, i.visited_at, i.received_at,
	ST_X(i.device_point), ST_Y(i.device_point), i.device_accuracy_m, i.position_crs, i.outcome, i.findings,
	i.equipment_removed, i.converted, i.note, i.participants,
	coalesce((SELECT array_agg(im.media_id ORDER BY im.position) FROM inspection_media im WHERE im.inspection_id = i.id), '{}'),
	i.recheck_of::text, i.disputed_by::text, i.evidence, i.evidence_findings, i.checked_at,
	i.reviewed_by, i.reviewed_at, i.review_reason, i.reviewed_codes, i.seq`

func scan(r pgx.Row) (Inspection, error) {
	var (
		in         Inspection
		lon, lat   *float64
		acc        *float32
		findings   []byte
		reviewedBy *int64
		reviewedAt *time.Time
		reason     *string
		codes      []string
	)
	err := r.Scan(&in.ID, &in.PremiseID, &in.RoundID, &in.CellID, &in.InspectorID, &in.VisitedAt, &in.ReceivedAt,
		&lon, &lat, &acc, &in.SentCRS, &in.Outcome, &in.Findings, &in.EquipmentRemoved, &in.Converted, &in.Note,
		&in.Participants, &in.MediaIDs, &in.RecheckOf, &in.DisputedBy, &in.Evidence.Status, &findings, &in.Evidence.CheckedAt,
		&reviewedBy, &reviewedAt, &reason, &codes, &in.Seq)
	if err != nil {
		return Inspection{}, err
	}
	if in.Participants == nil {
		in.Participants = []string{}
	}
	if lon != nil && lat != nil {
		in.Position = &Position{Lon: *lon, Lat: *lat, CRS: "wgs84"}
		if acc != nil {
			a := float64(*acc)
			in.Position.AccuracyM = &a
		}
	}
	in.Evidence.Flags = findingsJSON(findings)
	if reviewedAt != nil {
		in.Evidence.Review = &Review{At: *reviewedAt, Codes: codes}
		if reviewedBy != nil {
			in.Evidence.Review.By = *reviewedBy
		}
		if reason != nil {
			in.Evidence.Review.Reason = *reason
		}
	}
	if in.Findings == nil {
		in.Findings = []string{}
	}
	return in, nil
}

// Get returns inspection id if the caller may see it, or apperr.ErrNotFound.
func (Store) Get(ctx context.Context, q db.Querier, id string) (Inspection, error) {
	if !uuidForm.MatchString(id) {
		return Inspection{}, fmt.Errorf("inspections: get %q: %w", id, apperr.ErrNotFound)
	}
	const sql = `SELECT ` + cols + ` FROM inspections i WHERE i.id = $1::uuid`
	in, err := scan(q.QueryRow(ctx, sql, id))
	if err != nil {
		return Inspection{}, fmt.Errorf("inspections: get %s: %w", id, db.MapError(err))
	}
	return in, nil
}

// List returns the inspections the caller may see that match f, in recording order (Seq).
func (Store) List(ctx context.Context, q db.Querier, f Filter) ([]Inspection, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	const sql = `SELECT ` + cols + ` FROM inspections i
		WHERE i.seq > $1
		  AND ($2::bigint = 0 OR i.premise_id = $2) AND ($3::bigint = 0 OR i.cell_id = $3)
		  AND ($4::bigint = 0 OR i.region_path <@ (SELECT r.path FROM regions r WHERE r.id = $4))
		  AND ($5::bigint = 0 OR i.inspector_id = $5) AND ($6::bigint = 0 OR i.round_id = $6)
		  AND ($7 = '' OR i.outcome = $7) AND ($8 = '' OR i.evidence = $8)
		  AND ($9::timestamptz IS NULL OR i.visited_at >= $9) AND ($10::timestamptz IS NULL OR i.visited_at < $10)
		ORDER BY i.seq LIMIT $11`
	rows, err := q.Query(ctx, sql, f.After, f.PremiseID, f.CellID, f.RegionID, f.InspectorID, f.RoundID,
		f.Outcome, f.Evidence, f.From, f.To, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("inspections: list: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Inspection, error) { return scan(r) })
	if err != nil {
		return nil, fmt.Errorf("inspections: list: %w", err)
	}
	return out, nil
}

// recorded returns the hash and inspector of inspection id if the caller can see it.
func (Store) recorded(ctx context.Context, q db.Querier, id string) (hash []byte, inspector int64, ok bool, err error) {
	const sql = `SELECT request_hash, inspector_id FROM inspections WHERE id = $1::uuid`
	err = q.QueryRow(ctx, sql, id).Scan(&hash, &inspector)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, 0, false, nil
	}
	if err != nil {
		return nil, 0, false, fmt.Errorf("inspections: look up %s: %w", id, err)
	}
	return hash, inspector, true, nil
}

// premisePlace is a premise's region path and point, as the caller sees it.
type premisePlace struct {
	path     string
	lon, lat float64
	cellID   *int64
}

func (Store) premise(ctx context.Context, q db.Querier, id int64) (premisePlace, error) {
	const sql = `SELECT coalesce(region_path::text, ''), ST_X(geom), ST_Y(geom), cell_id FROM premises WHERE id = $1`
	var p premisePlace
	if err := q.QueryRow(ctx, sql, id).Scan(&p.path, &p.lon, &p.lat, &p.cellID); err != nil {
		return p, fmt.Errorf("inspections: premise %d: %w", id, db.MapError(err))
	}
	return p, nil
}

// roundAt returns the round in force at t for a premise at path: a township's own round before
// the city's, the latest started first.
func (Store) roundAt(ctx context.Context, q db.Querier, t time.Time, path string) (int64, error) {
	const sql = `SELECT id FROM rounds
		WHERE starts_at <= $1 AND ends_at > $1 AND (region_path IS NULL OR $2::ltree <@ region_path)
		ORDER BY region_path IS NULL, starts_at DESC, id DESC LIMIT 1`
	var id int64
	err := q.QueryRow(ctx, sql, t, path).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, errNoRound
	}
	if err != nil {
		return 0, fmt.Errorf("inspections: round at %s: %w", t, err)
	}
	return id, nil
}

// ownPhotos reports whether every id is a photo uploaded by user.
func (Store) ownPhotos(ctx context.Context, q db.Querier, ids []int64, user int64) (bool, error) {
	if len(ids) == 0 {
		return true, nil
	}
	const sql = `SELECT count(*) FROM media WHERE id = ANY($1) AND uploaded_by = $2 AND kind = 'photo'`
	var n int
	if err := q.QueryRow(ctx, sql, ids, user).Scan(&n); err != nil {
		return false, fmt.Errorf("inspections: media: %w", err)
	}
	return n == len(ids), nil
}

// row is what insert writes.
type row struct {
	req       Request
	premiseID int64
	roundID   int64
	inspector int64
	lon, lat  *float64
	hash      []byte
}

// insert records an inspection and its photo links; false when the id exists already (a
// concurrent request with the same id committed first).
func (Store) insert(ctx context.Context, q db.Querier, r row) (bool, error) {
	const sql = `INSERT INTO inspections (id, premise_id, round_id, inspector_id, visited_at, device_point,
			device_accuracy_m, position_crs, outcome, findings, equipment_removed, converted, note, request_hash,
			recheck_of, evidence, participants)
		VALUES ($1::uuid, $2, $3, $4, $5, CASE WHEN $6::float8 IS NOT NULL THEN ST_SetSRID(ST_MakePoint($6, $7), 4326) END,
			$8, $9, $10, $11, $12, $13, $14, $15, $16::uuid, 'pending', coalesce($17::text[], '{}'))
		ON CONFLICT (id) DO NOTHING`
	var acc *float64
	crs := "wgs84"
	if p := r.req.Position; p != nil {
		acc, crs = p.AccuracyM, p.CRS
	}
	tag, err := q.Exec(ctx, sql, r.req.ID, r.premiseID, r.roundID, r.inspector, r.req.VisitedAt, r.lon, r.lat,
		acc, crs, r.req.Outcome, r.req.Findings, r.req.EquipmentRemoved, r.req.Converted, r.req.Note, r.hash,
		r.req.RecheckOf, r.req.Participants)
	if err != nil {
		return false, fmt.Errorf("inspections: record %s: %w", r.req.ID, db.MapError(err))
	}
	if tag.RowsAffected() == 0 {
		return false, nil
	}
	if len(r.req.MediaIDs) > 0 {
		const link = `INSERT INTO inspection_media (inspection_id, media_id, position, inspector_id)
			SELECT $1::uuid, m, p - 1, $3 FROM unnest($2::bigint[]) WITH ORDINALITY AS u(m, p)`
		if _, err := q.Exec(ctx, link, r.req.ID, r.req.MediaIDs, r.inspector); err != nil {
			return false, fmt.Errorf("inspections: link photos of %s: %w", r.req.ID, db.MapError(err))
		}
	}
	return true, nil
}

// citing returns the inspections that cite medium id (any caller: run as the system).
func (Store) citing(ctx context.Context, q db.Querier, mediaID int64) ([]string, error) {
	const sql = `SELECT inspection_id::text FROM inspection_media WHERE media_id = $1`
	rows, err := q.Query(ctx, sql, mediaID)
	if err != nil {
		return nil, fmt.Errorf("inspections: citing %d: %w", mediaID, err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// review overrules a flagged verdict: verified, with the flags it overruled kept.
func (Store) review(ctx context.Context, q db.Querier, id string, by int64, reason string) error {
	const sql = `UPDATE inspections SET evidence = 'verified', reviewed_by = $2, reviewed_at = now(),
			review_reason = $3, reviewed_codes = evidence_flags
		WHERE id = $1::uuid AND evidence = 'flagged'`
	tag, err := q.Exec(ctx, sql, id, by, reason)
	if err != nil {
		return fmt.Errorf("inspections: review %s: %w", id, db.MapError(err))
	}
	if tag.RowsAffected() == 0 {
		return errNotFlagged
	}
	return nil
}

// checkRow is an inspection as the evidence check reads it.
type checkRow struct {
	in            Inspection
	premise       evidence.Point
	reviewedCodes []string
	reviewed      bool
}

func (s Store) forCheck(ctx context.Context, q db.Querier, id string) (checkRow, error) {
	in, err := s.Get(ctx, q, id)
	if err != nil {
		return checkRow{}, err
	}
	var c checkRow
	c.in = in
	const sql = `SELECT ST_X(p.geom), ST_Y(p.geom) FROM premises p WHERE p.id = $1`
	if err := q.QueryRow(ctx, sql, in.PremiseID).Scan(&c.premise.Lon, &c.premise.Lat); err != nil {
		return c, fmt.Errorf("inspections: premise of %s: %w", id, err)
	}
	if in.Evidence.Review != nil {
		c.reviewed, c.reviewedCodes = true, in.Evidence.Review.Codes
	}
	return c, nil
}

// photo is a cited photo as the media jobs left it.
type photo struct {
	evidence.Photo
	status string
	phash  *int64
	sha    []byte
}

func (Store) photos(ctx context.Context, q db.Querier, id string) ([]photo, error) {
	const sql = `SELECT m.id, m.status, ST_X(m.point), ST_Y(m.point), m.taken_at, m.phash, m.sha256
		FROM inspection_media im JOIN media m ON m.id = im.media_id
		WHERE im.inspection_id = $1::uuid ORDER BY im.position`
	rows, err := q.Query(ctx, sql, id)
	if err != nil {
		return nil, fmt.Errorf("inspections: photos of %s: %w", id, err)
	}
	defer rows.Close()
	var out []photo
	for rows.Next() {
		var (
			p        photo
			lon, lat *float64
		)
		if err := rows.Scan(&p.MediaID, &p.status, &lon, &lat, &p.TakenAt, &p.phash, &p.sha); err != nil {
			return nil, fmt.Errorf("inspections: photos of %s: %w", id, err)
		}
		if lon != nil && lat != nil {
			p.GPS = &evidence.Point{Lon: *lon, Lat: *lat}
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// matches returns, for each of photos, the photos attached to visits of premises other than
// premiseID that are near it (near[i], by pHash, with their distance; itself at 0) or have its
// bytes, in visit order, in one statement for all the photos.
func (Store) matches(ctx context.Context, q db.Querier, photos []photo, near [][]Near, premiseID int64) ([][]evidence.Match, error) {
	var (
		ks, ds []int32
		ids    []int64
		sk     []int32
		shas   [][]byte
	)
	for i, p := range photos {
		k := int32(i)
		ks, ids, ds = append(ks, k), append(ids, p.MediaID), append(ds, 0)
		for _, n := range near[i] {
			if n.MediaID != p.MediaID {
				ks, ids, ds = append(ks, k), append(ids, n.MediaID), append(ds, int32(n.Distance))
			}
		}
		sk, shas = append(sk, k), append(shas, p.sha)
	}
	out := make([][]evidence.Match, len(photos))
	if len(photos) == 0 {
		return out, nil
	}
	const sql = `WITH u AS (SELECT * FROM unnest($1::int[], $2::bigint[], $3::int[]) AS u(k, id, d)),
			s AS (SELECT * FROM unnest($4::int[], $5::bytea[]) AS s(k, sha)),
			cand AS (SELECT u.k, u.id, u.d FROM u
				UNION SELECT s.k, m.id, 0 FROM s JOIN media m ON m.sha256 = s.sha
				WHERE NOT EXISTS (SELECT 1 FROM u WHERE u.k = s.k AND u.id = m.id))
		SELECT cand.k, m.id, cand.d, m.sha256 = s.sha, i.id::text, i.premise_id, i.visited_at
		FROM cand JOIN s ON s.k = cand.k JOIN media m ON m.id = cand.id
		JOIN inspection_media im ON im.media_id = m.id
		JOIN inspections i ON i.id = im.inspection_id
		WHERE i.premise_id <> $6
		ORDER BY cand.k, i.visited_at, i.id`
	rows, err := q.Query(ctx, sql, ks, ids, ds, sk, shas, premiseID)
	if err != nil {
		return nil, fmt.Errorf("inspections: photo matches: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			m evidence.Match
			k int32
		)
		if err := rows.Scan(&k, &m.MediaID, &m.Distance, &m.SameBytes, &m.InspectionID, &m.PremiseID, &m.VisitedAt); err != nil {
			return nil, fmt.Errorf("inspections: photo matches: %w", err)
		}
		if m.SameBytes {
			m.Distance = 0
		}
		out[k] = append(out[k], m)
	}
	return out, rows.Err()
}

// neighbours returns the inspector's other visits within window of t either side.
func (Store) neighbours(ctx context.Context, q db.Querier, inspector int64, id string, t time.Time, window time.Duration) ([]evidence.Visit, error) {
	const sql = `SELECT id::text, premise_id, visited_at, ST_X(device_point), ST_Y(device_point) FROM inspections
		WHERE inspector_id = $1 AND id <> $2::uuid AND visited_at BETWEEN $3::timestamptz - $4::interval AND $3::timestamptz + $4::interval
		ORDER BY visited_at`
	rows, err := q.Query(ctx, sql, inspector, id, t, window)
	if err != nil {
		return nil, fmt.Errorf("inspections: neighbours of %s: %w", id, err)
	}
	defer rows.Close()
	var out []evidence.Visit
	for rows.Next() {
		var (
			v        evidence.Visit
			lon, lat *float64
		)
		if err := rows.Scan(&v.ID, &v.PremiseID, &v.VisitedAt, &lon, &lat); err != nil {
			return nil, fmt.Errorf("inspections: neighbours of %s: %w", id, err)
		}
		if lon != nil && lat != nil {
			v.Fix = &evidence.Point{Lon: *lon, Lat: *lat}
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// saveVerdict stores the verdict of the evidence check (the system's update) when it differs
// from the stored one.
func (Store) saveVerdict(ctx context.Context, q db.Querier, id string, v evidence.Verdict) error {
	codes := []string{}
	for _, f := range v.Findings {
		if f.Severity != evidence.Info && !contains(codes, f.Code) {
			codes = append(codes, f.Code)
		}
	}
	findings := v.Findings
	if findings == nil {
		findings = []evidence.Finding{}
	}
	b, err := json.Marshal(findings)
	if err != nil {
		return fmt.Errorf("inspections: verdict of %s: %w", id, err)
	}
	// A re-run that finds what the last one found writes nothing (and so audits nothing):
	// checked_at is when the current verdict was reached.
	const sql = `UPDATE inspections SET evidence = $2, evidence_flags = $3, evidence_findings = $4, checked_at = now()
		WHERE id = $1::uuid AND (checked_at IS NULL OR evidence IS DISTINCT FROM $2
			OR evidence_flags IS DISTINCT FROM $3::text[] OR evidence_findings IS DISTINCT FROM $4::jsonb)`
	if _, err := q.Exec(ctx, sql, id, string(v.Status), codes, b); err != nil {
		return fmt.Errorf("inspections: verdict of %s: %w", id, err)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Rounds returns the rounds the caller sees, the latest first.
func (Store) Rounds(ctx context.Context, q db.Querier, after int64, limit int) ([]Round, error) {
	const sql = `SELECT id, name, starts_at, ends_at, region_id, created_at FROM rounds
		WHERE $1::bigint = 0 OR id < $1 ORDER BY id DESC LIMIT $2`
	rows, err := q.Query(ctx, sql, after, limit)
	if err != nil {
		return nil, fmt.Errorf("inspections: rounds: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Round])
}

// CreateRound opens a round, city-wide (RegionID nil: the city office only) or for a township
// in the caller's area.
func (Store) CreateRound(ctx context.Context, q db.Querier, n NewRound, by int64) (Round, error) {
	n.Name = strings.TrimSpace(n.Name)
	switch {
	case n.Name == "" || len([]rune(n.Name)) > 100:
		return Round{}, invalid("invalid_round", "轮次名称须为 1-100 个字符", "name must be 1-100 characters")
	case n.StartsAt.IsZero() || !n.EndsAt.After(n.StartsAt):
		return Round{}, invalid("invalid_round", "结束时间须晚于开始时间", "endsAt must be after startsAt")
	}
	if n.RegionID != nil {
		var level string
		err := q.QueryRow(ctx, `SELECT level FROM regions WHERE id = $1`, *n.RegionID).Scan(&level)
		if err != nil {
			return Round{}, fmt.Errorf("inspections: round region %d: %w", *n.RegionID, db.MapError(err))
		}
		if level != "township" {
			return Round{}, invalid("invalid_round", "轮次须为全市或某乡镇（街道）", "a round is city-wide or one township's")
		}
	}
	const sql = `INSERT INTO rounds (name, starts_at, ends_at, region_id, created_by) VALUES ($1, $2, $3, $4, nullif($5::bigint, 0))
		RETURNING id, name, starts_at, ends_at, region_id, created_at`
	rows, err := q.Query(ctx, sql, n.Name, n.StartsAt, n.EndsAt, n.RegionID, by)
	if err != nil {
		return Round{}, fmt.Errorf("inspections: create round: %w", db.MapError(err))
	}
	r, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[Round])
	if err != nil {
		return Round{}, fmt.Errorf("inspections: create round: %w", db.MapError(err))
	}
	return r, nil
}

// Stats counts, per inspector whose visits the caller sees, the verdicts, the flags by code and
// the overrules, in a region (0: everywhere visible) and round (0: all).
func (Store) Stats(ctx context.Context, q db.Querier, regionID, roundID int64) ([]WorkerStats, error) {
	const sql = `WITH v AS (
			SELECT i.* FROM inspections i
			WHERE ($1::bigint = 0 OR i.region_path <@ (SELECT r.path FROM regions r WHERE r.id = $1))
			  AND ($2::bigint = 0 OR i.round_id = $2)),
		f AS (SELECT inspector_id, jsonb_object_agg(code, n) AS flags FROM (
			SELECT inspector_id, code, count(*) AS n FROM v, unnest(v.evidence_flags) AS code GROUP BY 1, 2) x GROUP BY 1)
		SELECT v.inspector_id, coalesce(u.username, ''), count(*),
			count(*) FILTER (WHERE evidence = 'pending'), count(*) FILTER (WHERE evidence = 'verified'),
			count(*) FILTER (WHERE evidence = 'flagged'), count(*) FILTER (WHERE evidence = 'rejected'),
			count(*) FILTER (WHERE reviewed_at IS NOT NULL), coalesce(f.flags, '{}')
		FROM v LEFT JOIN users u ON u.id = v.inspector_id LEFT JOIN f ON f.inspector_id = v.inspector_id
		GROUP BY v.inspector_id, u.username, f.flags ORDER BY v.inspector_id`
	rows, err := q.Query(ctx, sql, regionID, roundID)
	if err != nil {
		return nil, fmt.Errorf("inspections: stats: %w", err)
	}
	defer rows.Close()
	out := []WorkerStats{}
	for rows.Next() {
		var w WorkerStats
		if err := rows.Scan(&w.InspectorID, &w.Username, &w.Inspections, &w.Pending, &w.Verified, &w.Flagged,
			&w.Rejected, &w.Overruled, &w.Flags); err != nil {
			return nil, fmt.Errorf("inspections: stats: %w", err)
		}
		out = append(out, w)
	}
	return out, rows.Err()
}

// recheckTask returns the premise of the open re-check task of inspection orig assigned to user.
func (Store) recheckTask(ctx context.Context, q db.Querier, orig string, user int64) (int64, error) {
	const sql = `SELECT premise_id FROM tasks WHERE kind = 'recheck' AND ref = $1 AND status = 'open' AND assignee_id = $2`
	var premise *int64
	err := q.QueryRow(ctx, sql, orig, user).Scan(&premise)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && premise == nil) {
		return 0, errNoRecheck
	}
	if err != nil {
		return 0, fmt.Errorf("inspections: re-check task of %s: %w", orig, err)
	}
	return *premise, nil
}

// dispute marks inspection id as contradicted by the re-check by (the system's update).
func (Store) dispute(ctx context.Context, q db.Querier, id, by string) error {
	if _, err := q.Exec(ctx, `UPDATE inspections SET disputed_by = $2::uuid WHERE id = $1::uuid`, id, by); err != nil {
		return fmt.Errorf("inspections: dispute %s: %w", id, err)
	}
	return nil
}
