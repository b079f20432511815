package reports

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sieve-city/sieve/internal/db"
)

// filingRow is what a new filing records.
type filingRow struct {
	townshipID  int64
	month       string
	kind        Kind
	summary     string
	supersedes  *int64
	filedBy     int64
	filedAt     time.Time
	requestHash string
	key         string
}

func (Store) insertFiling(ctx context.Context, q db.Querier, r filingRow) (int64, error) {
	const sql = `INSERT INTO report_filings (township_id, month, kind, summary, supersedes_id, filed_by, filed_at,
			request_sha256, idempotency_key)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, nullif($9, ''))
		RETURNING id`
	var id int64
	err := q.QueryRow(ctx, sql, r.townshipID, r.month, string(r.kind), r.summary, r.supersedes, r.filedBy, r.filedAt,
		r.requestHash, r.key).Scan(&id)
	if err != nil {
		return 0, db.MapError(fmt.Errorf("reports: insert filing: %w", err))
	}
	return id, nil
}

func (Store) insertFile(ctx context.Context, q db.Querier, filing int64, f FileInfo, by int64) error {
	const sql = `INSERT INTO report_files (filing_id, part, object_key, name, content_type, size, sha256, added_by, added_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`
	if _, err := q.Exec(ctx, sql, filing, f.Part, f.objectKey, f.Name, f.ContentType, f.Size, f.SHA256, by, f.AddedAt); err != nil {
		return db.MapError(fmt.Errorf("reports: insert file: %w", err))
	}
	return nil
}

// filingSelect reads filings with their township's name, the filing that supersedes each (if
// one is visible) and their files as JSON; the caller adds WHERE, ORDER and LIMIT.
const filingSelect = `SELECT f.id, f.township_id, r.name, f.month, f.kind, f.summary, f.supersedes_id, n.id, f.filed_by,
		f.filed_at, f.request_sha256,
		coalesce((SELECT json_agg(json_build_object('part', x.part, 'name', x.name, 'contentType', x.content_type,
			'size', x.size, 'sha256', x.sha256, 'addedAt', x.added_at, 'key', x.object_key) ORDER BY x.part)
			FROM report_files x WHERE x.filing_id = f.id), '[]')
	FROM report_filings f
	JOIN regions r ON r.id = f.township_id
	LEFT JOIN report_filings n ON n.supersedes_id = f.id`

type fileJSON struct {
	Part        string    `json:"part"`
	Name        string    `json:"name"`
	ContentType string    `json:"contentType"`
	Size        int64     `json:"size"`
	SHA256      string    `json:"sha256"`
	AddedAt     time.Time `json:"addedAt"`
	Key         string    `json:"key"`
}

func scanFiling(row pgx.Row) (Filing, error) {
	var f Filing
	var kind string
	var files []byte
	err := row.Scan(&f.ID, &f.TownshipID, &f.TownshipName, &f.Month, &kind, &f.Summary, &f.SupersedesID, &f.SupersededBy,
		&f.FiledBy, &f.FiledAt, &f.requestHash, &files)
	if err != nil {
		return f, err
	}
	f.Kind = Kind(kind)
	f.InForce = f.SupersededBy == nil
	var fs []fileJSON
	if err := json.Unmarshal(files, &fs); err != nil {
		return f, fmt.Errorf("reports: files of filing %d: %w", f.ID, err)
	}
	f.Files = make([]FileInfo, len(fs))
	for i, x := range fs {
		f.Files[i] = FileInfo{Part: x.Part, Name: x.Name, ContentType: x.ContentType, Size: x.Size, SHA256: x.SHA256,
			AddedAt: x.AddedAt, objectKey: x.Key}
	}
	return f, nil
}

func (Store) get(ctx context.Context, q db.Querier, id int64) (Filing, error) {
	f, err := scanFiling(q.QueryRow(ctx, filingSelect+` WHERE f.id = $1`, id))
	if err != nil {
		return f, db.MapError(fmt.Errorf("reports: filing %d: %w", id, err))
	}
	return f, nil
}

func (Store) byKey(ctx context.Context, q db.Querier, user int64, key string) (Filing, error) {
	f, err := scanFiling(q.QueryRow(ctx, filingSelect+` WHERE f.filed_by = $1 AND f.idempotency_key = $2`, user, key))
	if err != nil {
		return f, db.MapError(fmt.Errorf("reports: filing by key: %w", err))
	}
	return f, nil
}

// first is the first filing of a township's month and kind (the head of its chain).
func (Store) first(ctx context.Context, q db.Querier, township int64, month string, kind Kind) (Filing, error) {
	f, err := scanFiling(q.QueryRow(ctx, filingSelect+` WHERE f.township_id = $1 AND f.month = $2 AND f.kind = $3
		AND f.supersedes_id IS NULL`, township, month, string(kind)))
	if err != nil {
		return f, db.MapError(fmt.Errorf("reports: first filing: %w", err))
	}
	return f, nil
}

func (Store) list(ctx context.Context, q db.Querier, fl Filter) ([]Filing, error) {
	sql := filingSelect + ` WHERE f.id > $1 AND ($2 = 0 OR f.township_id = $2) AND ($3 = '' OR f.month = $3)
		AND ($4 = '' OR f.kind = $4) ORDER BY f.id LIMIT $5`
	rows, err := q.Query(ctx, sql, fl.After, fl.TownshipID, fl.Month, string(fl.Kind), max(fl.Limit, 1))
	if err != nil {
		return nil, db.MapError(fmt.Errorf("reports: list: %w", err))
	}
	defer rows.Close()
	var out []Filing
	for rows.Next() {
		f, err := scanFiling(rows)
		if err != nil {
			return nil, fmt.Errorf("reports: list: %w", err)
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, db.MapError(fmt.Errorf("reports: list: %w", err))
	}
	return out, nil
}

func (Store) file(ctx context.Context, q db.Querier, id int64, part string) (FileInfo, error) {
	const sql = `SELECT part, name, content_type, size, sha256, added_at, object_key FROM report_files
		WHERE filing_id = $1 AND part = $2`
	var fi FileInfo
	err := q.QueryRow(ctx, sql, id, part).Scan(&fi.Part, &fi.Name, &fi.ContentType, &fi.Size, &fi.SHA256, &fi.AddedAt, &fi.objectKey)
	if err != nil {
		return fi, db.MapError(fmt.Errorf("reports: file %s of filing %d: %w", part, id, err))
	}
	return fi, nil
}

// township checks that id is a township (乡镇/街道) the caller may act in; anything else is
// not found (a village or the city is not a township, another township is out of scope).
func (Store) township(ctx context.Context, q db.Querier, id int64) error {
	const sql = `SELECT name FROM regions WHERE id = $1 AND level = 'township' AND sieve_in_scope(path)`
	var name string
	if err := q.QueryRow(ctx, sql, id).Scan(&name); err != nil {
		return db.MapError(fmt.Errorf("reports: township %d: %w", id, err))
	}
	return nil
}

// statusRow is a township's standing for one month and kind.
type statusRow struct {
	id         int64
	name, code string
	firstFiled *time.Time
	inForce    *int64
	filings    int
	stamped    bool
}

// status lists every township in the caller's scope with its filings of month and kind: when
// it first filed, the filing in force, how many filings, whether the one in force has its scan.
func (Store) status(ctx context.Context, q db.Querier, month string, kind Kind) ([]statusRow, error) {
	const sql = `SELECT r.id, r.name, r.code, agg.first_at, cur.id, coalesce(agg.n, 0), coalesce(cur.stamped, false)
		FROM regions r
		LEFT JOIN LATERAL (SELECT min(f.filed_at) AS first_at, count(*) AS n FROM report_filings f
			WHERE f.township_id = r.id AND f.month = $1 AND f.kind = $2) agg ON true
		LEFT JOIN LATERAL (SELECT f.id,
				EXISTS (SELECT 1 FROM report_files x WHERE x.filing_id = f.id AND x.part = 'scan') AS stamped
			FROM report_filings f
			WHERE f.township_id = r.id AND f.month = $1 AND f.kind = $2
			  AND NOT EXISTS (SELECT 1 FROM report_filings g WHERE g.supersedes_id = f.id)) cur ON true
		WHERE r.level = 'township' AND sieve_in_scope(r.path)
		ORDER BY r.code, r.id`
	rows, err := q.Query(ctx, sql, month, string(kind))
	if err != nil {
		return nil, db.MapError(fmt.Errorf("reports: status: %w", err))
	}
	defer rows.Close()
	var out []statusRow
	for rows.Next() {
		var r statusRow
		if err := rows.Scan(&r.id, &r.name, &r.code, &r.firstFiled, &r.inForce, &r.filings, &r.stamped); err != nil {
			return nil, fmt.Errorf("reports: status: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, db.MapError(fmt.Errorf("reports: status: %w", err))
	}
	return out, nil
}

// namedKeys returns those of keys that a filing's file or an export names.
func (Store) namedKeys(ctx context.Context, q db.Querier, keys []string) (map[string]bool, error) {
	const sql = `SELECT k FROM unnest($1::text[]) AS k
		WHERE EXISTS (SELECT 1 FROM report_files f WHERE f.object_key = k)
		   OR EXISTS (SELECT 1 FROM report_exports e WHERE e.object_key = k)`
	rows, err := q.Query(ctx, sql, keys)
	if err != nil {
		return nil, db.MapError(fmt.Errorf("reports: named keys: %w", err))
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		out[k] = true
	}
	return out, db.MapError(rows.Err())
}
