package reports

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sieve-city/sieve/internal/db"
)

const exportSelect = `SELECT e.id, e.region_id, e.kind, e.month, e.format, e.state, coalesce(e.name, ''),
		coalesce(e.content_type, ''), e.size, coalesce(e.sha256, ''), e.error, e.created_at, e.finished_at, e.expires_at,
		e.requested_by, e.requester_role, e.region_path::text, r.level, coalesce(e.object_key, ''),
		e.photos
	FROM report_exports e JOIN regions r ON r.id = e.region_id`

func scanExport(row pgx.Row) (Export, error) {
	var e Export
	var state string
	err := row.Scan(&e.ID, &e.RegionID, &e.Kind, &e.Month, &e.Format, &state, &e.Name, &e.ContentType, &e.Size, &e.SHA256,
		&e.Error, &e.CreatedAt, &e.FinishedAt, &e.ExpiresAt, &e.requestedBy, &e.requesterRole, &e.regionPath, &e.regionLevel,
		&e.objectKey, &e.Photos)
	e.State = ExportState(state)
	return e, err
}

func (Store) export(ctx context.Context, q db.Querier, id int64) (Export, error) {
	e, err := scanExport(q.QueryRow(ctx, exportSelect+` WHERE e.id = $1`, id))
	if err != nil {
		return e, db.MapError(fmt.Errorf("reports: export %d: %w", id, err))
	}
	return e, nil
}

func (Store) exportByKey(ctx context.Context, q db.Querier, user int64, key string) (Export, error) {
	e, err := scanExport(q.QueryRow(ctx, exportSelect+` WHERE e.requested_by = $1 AND e.idempotency_key = $2`, user, key))
	if err != nil {
		return e, db.MapError(fmt.Errorf("reports: export by key: %w", err))
	}
	return e, nil
}

// city is the city region (the root of the tree).
func (Store) city(ctx context.Context, q db.Querier) (int64, error) {
	const sql = `SELECT id FROM regions WHERE level = 'city' ORDER BY id LIMIT 1`
	var id int64
	if err := q.QueryRow(ctx, sql).Scan(&id); err != nil {
		return 0, db.MapError(fmt.Errorf("reports: city: %w", err))
	}
	return id, nil
}

func (Store) insertExport(ctx context.Context, q db.Querier, region int64, r ExportRequest, month string, a db.Actor, key string, now time.Time) (int64, error) {
	const sql = `INSERT INTO report_exports (region_id, kind, month, format, photos, requested_by, requester_role, idempotency_key, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, nullif($8, ''), $9) RETURNING id`
	var id int64
	if err := q.QueryRow(ctx, sql, region, r.Kind, month, r.Format, r.Photos, a.UserID, a.Role, key, now).Scan(&id); err != nil {
		return 0, db.MapError(fmt.Errorf("reports: insert export: %w", err))
	}
	return id, nil
}

func (Store) exportRunning(ctx context.Context, q db.Querier, id int64) error {
	_, err := q.Exec(ctx, `UPDATE report_exports SET state = 'running' WHERE id = $1 AND state IN ('queued', 'running')`, id)
	return db.MapError(err)
}

func (Store) exportFailed(ctx context.Context, q db.Querier, id int64, msg string, now time.Time) error {
	_, err := q.Exec(ctx, `UPDATE report_exports SET state = 'failed', error = left($2, 500), finished_at = $3
		WHERE id = $1 AND state IN ('queued', 'running')`, id, msg, now)
	return db.MapError(err)
}

func (Store) exportReady(ctx context.Context, q db.Querier, id int64, key string, f stored, now, expires time.Time) error {
	const sql = `UPDATE report_exports SET state = 'ready', object_key = $2, name = $3, content_type = $4, size = $5,
			sha256 = $6, finished_at = $7, expires_at = $8
		WHERE id = $1 AND state IN ('queued', 'running')`
	tag, err := q.Exec(ctx, sql, id, key, f.name, f.contentType, f.size, f.sha256, now, expires)
	if err != nil {
		return db.MapError(fmt.Errorf("reports: export %d ready: %w", id, err))
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("reports: export %d was finished by another run", id)
	}
	return nil
}

func (Store) expiredExports(ctx context.Context, q db.Querier, now time.Time) ([]Export, error) {
	rows, err := q.Query(ctx, exportSelect+` WHERE e.state = 'ready' AND e.expires_at <= $1 ORDER BY e.id LIMIT 1000`, now)
	if err != nil {
		return nil, db.MapError(fmt.Errorf("reports: expired exports: %w", err))
	}
	defer rows.Close()
	var out []Export
	for rows.Next() {
		e, err := scanExport(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, db.MapError(rows.Err())
}

func (Store) exportExpired(ctx context.Context, q db.Querier, id int64) error {
	_, err := q.Exec(ctx, `UPDATE report_exports SET state = 'expired' WHERE id = $1 AND state = 'ready'`, id)
	return db.MapError(err)
}

// stored is a file written to the store: what an export's row records of it.
type stored struct {
	name, contentType string
	size              int64
	sha256            string
}

// inFlight is the caller's queued or running export asking the same as r, if any: a download
// page asking again while the first is made waits for that one.
func (Store) inFlight(ctx context.Context, q db.Querier, user, region int64, r ExportRequest, month string) (Export, error) {
	e, err := scanExport(q.QueryRow(ctx, exportSelect+` WHERE e.requested_by = $1 AND e.region_id = $2 AND e.kind = $3
		AND e.month = $4 AND e.format = $5 AND e.photos = $6 AND e.state IN ('queued', 'running')
		ORDER BY e.id DESC LIMIT 1`, user, region, r.Kind, month, r.Format, r.Photos))
	if err != nil {
		return e, db.MapError(fmt.Errorf("reports: export in flight: %w", err))
	}
	return e, nil
}
