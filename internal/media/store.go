package media

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sieve-city/sieve/gis"
	"github.com/sieve-city/sieve/internal/db"
)

// Store holds every SQL statement of the media domain: media, upload sessions and intents,
// surveys and their progress, and what the jobs write. Each method runs in the transaction it
// is given (which decides who acts and so what row-level security shows); none does I/O
// beyond it. The Service opens the transactions.
type Store struct{}

// mediaCols are the columns scanMedium reads; the point and the ground footprint come out as
// GeoJSON from the one gis builder.
var mediaCols = `m.id, m.kind, m.survey_id, m.source, m.uploaded_by, m.sha256, m.size, m.format, m.content_type,
	m.original_name, m.width, m.height, m.status, m.error_code, m.error, m.no_thumbnail, m.taken_at,
	` + gis.AsGeoJSON("m.point") + `, ` + gis.AsGeoJSON("m.footprint") + `, m.altitude_rel, m.phash, m.metadata, m.thumbs,
	m.created_at, m.object_key,
	coalesce((SELECT array_agg(mc.cell_id ORDER BY mc.cell_id) FROM media_cells mc WHERE mc.media_id = m.id), '{}'),
	coalesce(m.metadata->>'takenAtZoneAssumed', ''), m.footprint_clipped, m.no_footprint,
	m.quality_meta || m.quality_pixels, m.duplicate_names, m.linked_survey_ids`

func scanMedium(row pgx.Row) (Medium, error) {
	var (
		m         Medium
		sum       []byte
		point, fp *string
		phash     *int64
		thumbs    []byte
		metadata  []byte
		flags     []byte
	)
	err := row.Scan(&m.ID, &m.Kind, &m.SurveyID, &m.Source, &m.UploadedBy, &sum, &m.Size, &m.Format, &m.ContentType,
		&m.OriginalName, &m.Width, &m.Height, &m.Status, &m.ErrorCode, &m.Error, &m.NoThumbnail, &m.TakenAt,
		&point, &fp, &m.AltitudeRel, &phash, &metadata, &thumbs, &m.CreatedAt, &m.objectKey, &m.CellIDs,
		&m.TakenAtZoneAssumed, &m.FootprintClipped, &m.NoFootprint, &flags, &m.DuplicateNames, &m.LinkedSurveyIDs)
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(flags, &m.Flags); err != nil {
		return m, fmt.Errorf("media: flags of %d: %w", m.ID, err)
	}
	if m.Flags == nil {
		m.Flags = []Flag{}
	}
	if len(m.DuplicateNames) > 0 {
		m.Flags = append(m.Flags, duplicateFlag(m.DuplicateNames))
	}
	m.SHA256 = hex.EncodeToString(sum)
	if point != nil {
		m.Point = json.RawMessage(*point)
	}
	if fp != nil {
		m.Footprint = json.RawMessage(*fp)
	}
	if phash != nil {
		m.PHash = fmt.Sprintf("%016x", uint64(*phash))
	}
	if len(metadata) > 0 {
		m.Metadata = metadata
	}
	m.Thumbnails = []string{}
	if len(thumbs) > 0 {
		if err := json.Unmarshal(thumbs, &m.thumbs); err != nil {
			return m, fmt.Errorf("media: thumbs of %d: %w", m.ID, err)
		}
		for name := range m.thumbs {
			m.Thumbnails = append(m.Thumbnails, name)
		}
	}
	return m, nil
}

// Get returns one medium visible in q's scope, or apperr.ErrNotFound.
func (Store) Get(ctx context.Context, q db.Querier, id int64) (Medium, error) {
	sql := `SELECT ` + mediaCols + ` FROM media m WHERE m.id = $1`
	m, err := scanMedium(q.QueryRow(ctx, sql, id))
	return m, db.MapError(err)
}

// ByIdempotencyKey returns user's medium recorded under key, or apperr.ErrNotFound.
func (Store) ByIdempotencyKey(ctx context.Context, q db.Querier, userID int64, key string) (Medium, error) {
	sql := `SELECT ` + mediaCols + ` FROM media m WHERE m.uploaded_by = $1 AND m.idempotency_key = $2`
	m, err := scanMedium(q.QueryRow(ctx, sql, userID, key))
	return m, db.MapError(err)
}

// SurveyImages lists a survey's images in id order after the id after, of one status ("" any).
func (Store) SurveyImages(ctx context.Context, q db.Querier, surveyID, after int64, limit int, status string) ([]Medium, error) {
	sql := `SELECT ` + mediaCols + ` FROM media m
		WHERE (m.survey_id = $1 OR m.linked_survey_ids @> ARRAY[$1::bigint]) AND m.id > $2
		  AND ($4 = '' OR m.status = $4) ORDER BY m.id LIMIT $3`
	rows, err := q.Query(ctx, sql, surveyID, after, limit, status)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Medium, error) { return scanMedium(r) })
}

// storedCopy is the medium a user already holds with some content, as Slots needs it.
type storedCopy struct {
	id       int64
	surveyID *int64
	name     string
	inSurvey bool // listed in the survey asked about (its own or linked)
}

// copyBySHA returns user's medium with content sum and whether survey (0: none) lists it, or
// pgx.ErrNoRows.
func (Store) copyBySHA(ctx context.Context, q db.Querier, userID int64, sum []byte, survey int64) (storedCopy, error) {
	var c storedCopy
	err := q.QueryRow(ctx, `SELECT id, survey_id, original_name, coalesce(survey_id = $3, false) OR linked_survey_ids @> ARRAY[$3::bigint]
		FROM media WHERE uploaded_by = $1 AND sha256 = $2`, userID, sum, survey).Scan(&c.id, &c.surveyID, &c.name, &c.inSurvey)
	return c, err
}

// linkToSurvey lists drone medium id in survey too.
func (Store) linkToSurvey(ctx context.Context, q db.Querier, id, survey int64) error {
	_, err := q.Exec(ctx, `UPDATE media SET linked_survey_ids = linked_survey_ids || $2::bigint, updated_at = now()
		WHERE id = $1 AND kind = 'drone' AND survey_id <> $2 AND NOT linked_survey_ids @> ARRAY[$2::bigint]`, id, survey)
	return err
}

// addDuplicateName records that medium id's bytes also came under name.
func (Store) addDuplicateName(ctx context.Context, q db.Querier, id int64, name string) error {
	_, err := q.Exec(ctx, `UPDATE media SET duplicate_names = duplicate_names || $2::text, updated_at = now()
		WHERE id = $1 AND original_name <> $2 AND NOT duplicate_names @> ARRAY[$2::text]`, id, name)
	return err
}

// addSessionDuplicate records on pending session id that its bytes also came under name.
func (Store) addSessionDuplicate(ctx context.Context, q db.Querier, id int64, name string) error {
	_, err := q.Exec(ctx, `UPDATE upload_sessions SET duplicate_names = duplicate_names || $2::text, updated_at = now()
		WHERE id = $1 AND file_name <> $2 AND NOT duplicate_names @> ARRAY[$2::text]`, id, name)
	return err
}

// insertMedium records r for user; ok is false (and nothing inserted) when user already has
// this content or this Idempotency-Key.
func (Store) insertMedium(ctx context.Context, q db.Querier, userID int64, r record) (id int64, ok bool, err error) {
	var idem *string
	if r.idem != "" {
		idem = &r.idem
	}
	const sql = `INSERT INTO media (kind, survey_id, uploaded_by, region_path, idempotency_key, sha256, size,
			format, content_type, original_name, object_key, width, height)
		VALUES ($1, $2, $3,
			CASE WHEN $2::bigint IS NULL THEN (SELECT region_path FROM users WHERE id = $3)
			     ELSE (SELECT region_path FROM surveys WHERE id = $2) END,
			$4, $5, $6, $7, $8, $9, $10, $11, $12)
		ON CONFLICT DO NOTHING RETURNING id`
	err = q.QueryRow(ctx, sql, r.kind, r.surveyID, userID, idem, r.sha, r.size, string(r.info.Format),
		r.info.Format.MIMEType(), r.name, r.key, r.info.Width, r.info.Height).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	return id, err == nil, err
}

// firstMedium returns user's first medium with content sum or Idempotency-Key idem.
func (Store) firstMedium(ctx context.Context, q db.Querier, userID int64, sum []byte, idem string) (Medium, error) {
	var key *string
	if idem != "" {
		key = &idem
	}
	sql := `SELECT ` + mediaCols + ` FROM media m WHERE m.uploaded_by = $1
		AND (m.sha256 = $2 OR m.idempotency_key = $3) ORDER BY m.id LIMIT 1`
	return scanMedium(q.QueryRow(ctx, sql, userID, sum, key))
}

// objectOwned reports whether a recorded medium owns the object key.
func (Store) objectOwned(ctx context.Context, q db.Querier, key string) (bool, error) {
	var owned bool
	err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM media WHERE object_key = $1)`, key).Scan(&owned)
	return owned, err
}

// insertIntent notes that user is streaming an object to key, at the time at.
func (Store) insertIntent(ctx context.Context, q db.Querier, key string, userID int64, at time.Time) error {
	_, err := q.Exec(ctx, `INSERT INTO upload_intents (object_key, user_id, created_at) VALUES ($1, $2, $3)`, key, userID, at)
	return err
}

// deleteIntent forgets the upload intent of key.
func (Store) deleteIntent(ctx context.Context, q db.Querier, key string) error {
	_, err := q.Exec(ctx, `DELETE FROM upload_intents WHERE object_key = $1`, key)
	return err
}

// oldIntents returns the keys of (at most 1000) upload intents noted before cutoff.
func (Store) oldIntents(ctx context.Context, q db.Querier, cutoff time.Time) ([]string, error) {
	rows, err := q.Query(ctx, `SELECT object_key FROM upload_intents WHERE created_at < $1 LIMIT 1000`, cutoff)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// session is one upload session (upload_sessions): a file announced for a presigned upload.
type session struct {
	id       int64
	kind     string // single or multipart
	surveyID *int64
	userID   int64
	name     string
	size     int64
	sha      []byte
	key      string
	s3ID     *string
	partSize int64
	status   string // pending, completed, rejected, expired
	code     string
	reason   string
	mediaID  *int64
	expires  time.Time
}

const sessionCols = `id, kind, survey_id, user_id, file_name, size, sha256, object_key, s3_upload_id, part_size,
	status, reason_code, reason, media_id, expires_at`

func scanSession(row pgx.Row) (session, error) {
	var x session
	err := row.Scan(&x.id, &x.kind, &x.surveyID, &x.userID, &x.name, &x.size, &x.sha, &x.key, &x.s3ID, &x.partSize,
		&x.status, &x.code, &x.reason, &x.mediaID, &x.expires)
	return x, err
}

// session returns one upload session visible in q's scope, or pgx.ErrNoRows.
func (Store) session(ctx context.Context, q db.Querier, id int64) (session, error) {
	return scanSession(q.QueryRow(ctx, `SELECT `+sessionCols+` FROM upload_sessions WHERE id = $1`, id))
}

// pendingSession returns user's pending session for content sum, or pgx.ErrNoRows.
func (Store) pendingSession(ctx context.Context, q db.Querier, userID int64, sum []byte) (session, error) {
	return scanSession(q.QueryRow(ctx, `SELECT `+sessionCols+` FROM upload_sessions
		WHERE user_id = $1 AND sha256 = $2 AND status = 'pending'`, userID, sum))
}

// pendingLoad locks user's upload quota for the rest of the transaction (an advisory lock,
// so that concurrent batches of one user count one after the other) and returns the number
// and declared bytes of the user's pending sessions.
func (Store) pendingLoad(ctx context.Context, q db.Querier, userID int64) (n int, bytes int64, err error) {
	if _, err := q.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('sieve-upload-quota', $1))`, userID); err != nil {
		return 0, 0, err
	}
	const sql = `SELECT count(*), coalesce(sum(size), 0) FROM upload_sessions WHERE user_id = $1 AND status = 'pending'`
	err = q.QueryRow(ctx, sql, userID).Scan(&n, &bytes)
	return n, bytes, err
}

// insertSession records a pending session in the survey's area (or, for photos, the user's).
// Only the fields a new session has are read: kind, surveyID, userID, name, size, sha, key,
// s3ID, partSize and expires.
func (Store) insertSession(ctx context.Context, q db.Querier, x session) (int64, error) {
	const sql = `INSERT INTO upload_sessions (kind, survey_id, user_id, region_path, file_name, size, sha256, object_key,
			s3_upload_id, part_size, expires_at)
		VALUES ($1, $2, $3,
			CASE WHEN $2::bigint IS NULL THEN (SELECT region_path FROM users WHERE id = $3)
			     ELSE (SELECT region_path FROM surveys WHERE id = $2) END,
			$4, $5, $6, $7, $8, $9, $10) RETURNING id`
	var id int64
	err := q.QueryRow(ctx, sql, x.kind, x.surveyID, x.userID, x.name, x.size, x.sha, x.key, x.s3ID, x.partSize,
		x.expires).Scan(&id)
	return id, err
}

// extendSession moves a pending session to surveyID (nil: photos) under name, until expires.
func (Store) extendSession(ctx context.Context, q db.Querier, id int64, surveyID *int64, name string, expires time.Time) error {
	const sql = `UPDATE upload_sessions SET survey_id = $2, file_name = $3, expires_at = $4,
		region_path = CASE WHEN $2::bigint IS NULL THEN (SELECT region_path FROM users WHERE id = user_id)
		                   ELSE (SELECT region_path FROM surveys WHERE id = $2) END, updated_at = now()
		WHERE id = $1`
	_, err := q.Exec(ctx, sql, id, surveyID, name, expires)
	return err
}

// supersedeSession ends a pending session that a new one for the same content replaces.
func (Store) supersedeSession(ctx context.Context, q db.Querier, id int64) error {
	_, err := q.Exec(ctx, `UPDATE upload_sessions SET status = 'expired', reason_code = 'superseded',
		reason = '已被新的上传取代', updated_at = now() WHERE id = $1`, id)
	return err
}

// completeSession marks a session completed with its medium.
func (Store) completeSession(ctx context.Context, q db.Querier, id, mediaID int64) error {
	_, err := q.Exec(ctx, `UPDATE upload_sessions SET status = 'completed', media_id = $2, updated_at = now()
		WHERE id = $1`, id, mediaID)
	if err != nil {
		return err
	}
	// Names the same bytes came under in the same batch move onto the medium.
	_, err = q.Exec(ctx, `UPDATE media m SET duplicate_names = (SELECT coalesce(array_agg(DISTINCT n ORDER BY n), '{}')
			FROM unnest(m.duplicate_names || u.duplicate_names) n WHERE n <> m.original_name), updated_at = now()
		FROM upload_sessions u WHERE u.id = $1 AND m.id = $2 AND u.duplicate_names <> '{}'`, id, mediaID)
	return err
}

// rejectSession marks a session rejected, with the code and public reason why.
func (Store) rejectSession(ctx context.Context, q db.Querier, id int64, code, reason string) error {
	_, err := q.Exec(ctx, `UPDATE upload_sessions SET status = 'rejected', reason_code = $2, reason = $3,
		updated_at = now() WHERE id = $1`, id, code, reason)
	return err
}

// expiredSessions returns (at most 1000) pending sessions whose time ended before now.
func (Store) expiredSessions(ctx context.Context, q db.Querier, now time.Time) ([]session, error) {
	rows, err := q.Query(ctx, `SELECT `+sessionCols+` FROM upload_sessions
		WHERE status = 'pending' AND expires_at < $1 ORDER BY expires_at LIMIT 1000`, now)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (session, error) { return scanSession(r) })
}

// expireSession marks a still pending session expired.
func (Store) expireSession(ctx context.Context, q db.Querier, id int64) error {
	_, err := q.Exec(ctx, `UPDATE upload_sessions SET status = 'expired', reason_code = 'upload_expired',
		reason = '上传会话已过期，文件未传完', updated_at = now() WHERE id = $1 AND status = 'pending'`, id)
	return err
}

// unclearedStaging returns the staging keys (with their session ids) of at most 1000 finished
// sessions whose time ended before now and whose staging object was not cleared yet.
func (Store) unclearedStaging(ctx context.Context, q db.Querier, now time.Time) (ids []int64, keys []string, err error) {
	rows, err := q.Query(ctx, `SELECT id, object_key FROM upload_sessions
		WHERE status IN ('completed', 'rejected') AND staging_cleared_at IS NULL AND expires_at < $1
		ORDER BY expires_at LIMIT 1000`, now)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var key string
		if err := rows.Scan(&id, &key); err != nil {
			return nil, nil, err
		}
		ids, keys = append(ids, id), append(keys, key)
	}
	return ids, keys, rows.Err()
}

// stagingCleared notes that the staging objects of sessions ids are removed.
func (Store) stagingCleared(ctx context.Context, q db.Querier, ids []int64) error {
	_, err := q.Exec(ctx, `UPDATE upload_sessions SET staging_cleared_at = now() WHERE id = ANY ($1)`, ids)
	return err
}

// heldUploads returns those of the multipart upload ids that a pending session holds.
func (Store) heldUploads(ctx context.Context, q db.Querier, s3IDs []string) ([]string, error) {
	rows, err := q.Query(ctx, `SELECT s3_upload_id FROM upload_sessions WHERE s3_upload_id = ANY ($1) AND status = 'pending'`, s3IDs)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// stored is what a job needs of a medium.
type stored struct {
	kind          string
	key           string
	size          int64
	width, height int
}

// stored returns what a job needs of medium id.
func (Store) stored(ctx context.Context, q db.Querier, id int64) (stored, error) {
	var st stored
	const sql = `SELECT kind, object_key, size, coalesce(width, 0), coalesce(height, 0) FROM media WHERE id = $1`
	err := q.QueryRow(ctx, sql, id).Scan(&st.kind, &st.key, &st.size, &st.width, &st.height)
	return st, db.MapError(err)
}

// markFailed marks a medium failed, with the code and public reason of its job's failure.
func (Store) markFailed(ctx context.Context, q db.Querier, id int64, code, reason string) error {
	_, err := q.Exec(ctx, `UPDATE media SET status = 'failed', error_code = $2, error = $3, updated_at = now()
		WHERE id = $1`, id, code, reason)
	return err
}

// placement is what the metadata job learnt of a medium.
type placement struct {
	metadata    []byte // imagery.Metadata as JSON
	takenAt     *time.Time
	lon, lat    *float64
	footprint   []byte // WKB polygon
	altitudeRel *float64
	clipped     bool   // the footprint was cut at the configured range
	noFootprint string // why a drone image has none
}

// savePlacement stores a medium's metadata, point and footprint, and returns its status
// after: processed when its thumbnails were made before ("" when the medium is gone).
func (Store) savePlacement(ctx context.Context, q db.Querier, id int64, p placement) (string, error) {
	const sql = `UPDATE media SET metadata = $2, taken_at = $3,
		point = CASE WHEN $4::float8 IS NULL THEN NULL ELSE ST_SetSRID(ST_MakePoint($4, $5), 4326) END,
		footprint = CASE WHEN $6::bytea IS NULL THEN NULL ELSE ST_MakeValid(ST_GeomFromWKB($6, 4326)) END,
		altitude_rel = $7, footprint_clipped = $8, no_footprint = $9, metadata_at = now(), updated_at = now(),
		status = CASE WHEN status = 'failed' THEN status WHEN thumbs_at IS NOT NULL THEN 'processed' ELSE status END
		WHERE id = $1 RETURNING status`
	var status string
	err := q.QueryRow(ctx, sql, id, p.metadata, p.takenAt, p.lon, p.lat, p.footprint, p.altitudeRel, p.clipped, p.noFootprint).Scan(&status)
	if errors.Is(err, pgx.ErrNoRows) { // removed meanwhile: nothing to do
		return "", nil
	}
	return status, err
}

// placeInCells recomputes the grid cells of media ids (place_media, migration 0010).
func (Store) placeInCells(ctx context.Context, q db.Querier, ids []int64) error {
	_, err := q.Exec(ctx, `SELECT place_media($1::bigint[])`, ids)
	return err
}

// linkToSites links media ids to the suspected sites they show (link_media_to_sites): photos
// within nearMetres of a site, drone images whose footprint covers one.
func (Store) linkToSites(ctx context.Context, q db.Querier, ids []int64, nearMetres float64) error {
	_, err := q.Exec(ctx, `SELECT link_media_to_sites($1::bigint[], NULL, $2)`, ids, nearMetres)
	return err
}

// saveThumbs stores a medium's thumbnails (refs as JSON) and perceptual hash, and returns its
// status after: processed when its metadata was read before ("" when the medium is gone).
func (Store) saveThumbs(ctx context.Context, q db.Querier, id int64, refs []byte, phash *int64, noThumb bool, pixelFlags []byte) (string, error) {
	const sql = `UPDATE media SET thumbs = $2, phash = $3, no_thumbnail = $4, quality_pixels = $5, thumbs_at = now(), updated_at = now(),
		status = CASE WHEN status = 'failed' THEN status WHEN metadata_at IS NOT NULL THEN 'processed' ELSE status END
		WHERE id = $1 RETURNING status`
	var status string
	err := q.QueryRow(ctx, sql, id, refs, phash, noThumb, pixelFlags).Scan(&status)
	if errors.Is(err, pgx.ErrNoRows) { // removed meanwhile: nothing to do
		return "", nil
	}
	return status, err
}

// surveyPlace returns the flight date of drone image id's survey and how far its point lies
// outside the survey's region (nil without a point or a region geometry).
func (Store) surveyPlace(ctx context.Context, q db.Querier, id int64) (surveyPlace, error) {
	const sql = `SELECT s.flight_date::text,
			CASE WHEN m.point IS NULL OR r.geom IS NULL THEN NULL ELSE ST_Distance(r.geom::geography, m.point::geography) END
		FROM media m JOIN surveys s ON s.id = m.survey_id JOIN regions r ON r.id = s.region_id WHERE m.id = $1`
	var sp surveyPlace
	err := q.QueryRow(ctx, sql, id).Scan(&sp.flightDate, &sp.outsideM)
	if errors.Is(err, pgx.ErrNoRows) {
		return sp, nil
	}
	return sp, err
}

// saveQualityMeta stores the metadata job's quality flags of medium id (a JSON array of Flag).
func (Store) saveQualityMeta(ctx context.Context, q db.Querier, id int64, flags []byte) error {
	_, err := q.Exec(ctx, `UPDATE media SET quality_meta = $2 WHERE id = $1`, id, flags)
	return err
}

// regionInScope reports whether region id is visible in q's scope.
func (Store) regionInScope(ctx context.Context, q db.Querier, id int64) (bool, error) {
	var ok bool
	err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM regions WHERE id = $1 AND sieve_in_scope(path))`, id).Scan(&ok)
	return ok, err
}

// userRole returns the role of user id, "" when it does not exist (or is not visible in q's
// scope).
func (Store) userRole(ctx context.Context, q db.Querier, id int64) (string, error) {
	var role string
	err := q.QueryRow(ctx, `SELECT role FROM users WHERE id = $1`, id).Scan(&role)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return role, err
}

const surveyCols = `id, region_id, operator_id, name, flight_date::text, drone, camera, created_at`

func scanSurvey(row pgx.Row) (Survey, error) {
	var v Survey
	err := row.Scan(&v.ID, &v.RegionID, &v.OperatorID, &v.Name, &v.FlightDate, &v.Drone, &v.Camera, &v.CreatedAt)
	return v, err
}

// InsertSurvey records a checked survey flown by operator, created by caller.
func (Store) InsertSurvey(ctx context.Context, q db.Querier, caller, operator int64, in NewSurvey) (Survey, error) {
	const sql = `INSERT INTO surveys (region_id, operator_id, name, flight_date, drone, camera, created_by)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ` + surveyCols
	v, err := scanSurvey(q.QueryRow(ctx, sql, in.RegionID, operator, in.Name, in.FlightDate, in.Drone, in.Camera, caller))
	return v, db.MapError(err)
}

// ListSurveys returns the surveys visible in q's scope that match f, newest first, each with
// the count of its stored images.
func (Store) ListSurveys(ctx context.Context, q db.Querier, f SurveyFilter) ([]Survey, error) {
	const sql = `SELECT ` + surveyCols + `, (SELECT count(*) FROM media m
			WHERE m.survey_id = surveys.id OR m.linked_survey_ids @> ARRAY[surveys.id])
		FROM surveys
		WHERE ($1 = 0 OR id < $1)
		  AND ($2 = 0 OR region_path <@ (SELECT path FROM regions WHERE id = $2))
		  AND ($3 = 0 OR operator_id = $3)
		ORDER BY id DESC LIMIT $4`
	rows, err := q.Query(ctx, sql, f.After, f.RegionID, f.OperatorID, f.Limit)
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

// GetSurvey returns one survey visible in q's scope, or apperr.ErrNotFound.
func (Store) GetSurvey(ctx context.Context, q db.Querier, id int64) (Survey, error) {
	const sql = `SELECT ` + surveyCols + ` FROM surveys WHERE id = $1`
	v, err := scanSurvey(q.QueryRow(ctx, sql, id))
	return v, db.MapError(err)
}

// stuckJobs counts the received images of survey id whose media job has been running for
// longer than timeout (stuck), or waits for another attempt (retrying). River's table has no
// row-level security; the images are those of the survey visible in q's scope.
func (Store) stuckJobs(ctx context.Context, q db.Querier, id int64, timeout time.Duration) (stuck, retrying int, err error) {
	const sql = `SELECT
		count(DISTINCT m.id) FILTER (WHERE j.state = 'running' AND j.attempted_at < now() - $2::interval),
		count(DISTINCT m.id) FILTER (WHERE j.state = 'retryable')
		FROM river_job j JOIN media m ON m.id = (j.args->>'media_id')::bigint
		WHERE j.state IN ('running', 'retryable') AND j.kind IN ('media_metadata', 'media_thumbnail')
		  AND m.survey_id = $1 AND m.status = 'received'`
	err = q.QueryRow(ctx, sql, id, timeout).Scan(&stuck, &retrying)
	return stuck, retrying, err
}

// SurveyProgress counts what was declared, received, processed and failed of survey id, with
// reasons.
func (Store) SurveyProgress(ctx context.Context, q db.Querier, id int64) (Progress, error) {
	p := Progress{Failures: []Failure{}}
	const counts = `SELECT
		(SELECT count(DISTINCT sha256) FROM upload_sessions WHERE survey_id = $1)
		  + (SELECT count(*) FROM media m WHERE (m.survey_id = $1 OR m.linked_survey_ids @> ARRAY[$1::bigint])
		     AND NOT EXISTS (SELECT 1 FROM upload_sessions u WHERE u.survey_id = $1 AND u.sha256 = m.sha256)),
		(SELECT coalesce(sum(size), 0) FROM (SELECT DISTINCT ON (sha256) size FROM upload_sessions WHERE survey_id = $1) d),
		(SELECT count(*) FROM upload_sessions WHERE survey_id = $1 AND status = 'pending'),
		(SELECT count(DISTINCT sha256) FROM upload_sessions u WHERE survey_id = $1 AND status IN ('rejected', 'expired')
		   AND NOT EXISTS (SELECT 1 FROM media m WHERE m.survey_id = $1 AND m.sha256 = u.sha256)
		   AND NOT EXISTS (SELECT 1 FROM upload_sessions p WHERE p.survey_id = $1 AND p.sha256 = u.sha256 AND p.status = 'pending')),
		count(*), coalesce(sum(size), 0),
		count(*) FILTER (WHERE status = 'processed'),
		count(*) FILTER (WHERE status = 'failed'),
		count(*) FILTER (WHERE quality_meta <> '[]' OR quality_pixels <> '[]' OR duplicate_names <> '{}'),
		count(*) FILTER (WHERE survey_id <> $1)
		FROM media WHERE survey_id = $1 OR linked_survey_ids @> ARRAY[$1::bigint]`
	var rejected int
	err := q.QueryRow(ctx, counts, id).Scan(&p.Declared, &p.BytesDeclared, &p.Pending, &rejected, &p.Received, &p.BytesReceived, &p.Processed, &p.Failed,
		&p.Flagged, &p.Linked)
	if err != nil {
		return p, err
	}
	if p.Flags, err = surveyFlags(ctx, q, id); err != nil {
		return p, err
	}
	if p.Flags == nil {
		p.Flags = []FlagCount{}
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
	rows, err := q.Query(ctx, failures, id)
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

// surveyFlags counts survey id's images by quality flag, with the first names of each (for a
// duplicate, the stored name and the others it came under).
func surveyFlags(ctx context.Context, q db.Querier, id int64) ([]FlagCount, error) {
	const sql = `SELECT f->>'code', count(*), (array_agg(m.original_name ORDER BY m.original_name))[1:50]
		FROM media m CROSS JOIN LATERAL jsonb_array_elements(m.quality_meta || m.quality_pixels) f
		WHERE m.survey_id = $1 OR m.linked_survey_ids @> ARRAY[$1::bigint]
		GROUP BY 1
		UNION ALL
		SELECT 'duplicate', count(*),
			(array_agg(m.original_name || ' = ' || array_to_string(m.duplicate_names, ', ') ORDER BY m.original_name))[1:50]
		FROM media m WHERE (m.survey_id = $1 OR m.linked_survey_ids @> ARRAY[$1::bigint]) AND m.duplicate_names <> '{}'
		HAVING count(*) > 0
		ORDER BY 1`
	rows, err := q.Query(ctx, sql, id)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (FlagCount, error) {
		var c FlagCount
		err := r.Scan(&c.Code, &c.Count, &c.Names)
		reason := flagReasons[c.Code]
		c.Reason, c.ReasonEn = reason[0], reason[1]
		return c, err
	})
}
