// Package audit reads the audit log (审计日志). Entries are written by the database itself: a
// trigger on every audited table records who, when, what, from where, and the row before and
// after (migration 0002), so no write path can forget it. The log is append-only.
package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sieve-city/sieve/internal/db"
)

// Entry is one recorded write.
type Entry struct {
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

// Filter narrows a listing; entries come newest first, Before is the cursor (an entry id).
type Filter struct {
	Entity   string
	EntityID string
	UserID   int64
	Since    time.Time
	Before   int64
	Limit    int
}

// List returns entries visible to the caller (row-level security: their area's entries).
func List(ctx context.Context, q db.Querier, f Filter) ([]Entry, error) {
	const sql = `SELECT id, at, user_id, actor, action, entity, entity_id, remote_addr, request_id, before, after
		FROM audit_log
		WHERE ($1 = '' OR entity = $1) AND ($2 = '' OR entity_id = $2) AND ($3 = 0 OR user_id = $3)
		  AND at >= $4 AND ($5 = 0 OR id < $5)
		ORDER BY id DESC LIMIT $6`
	rows, err := q.Query(ctx, sql, f.Entity, f.EntityID, f.UserID, f.Since, f.Before, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("audit: list: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Entry, error) {
		var e Entry
		err := r.Scan(&e.ID, &e.At, &e.UserID, &e.Actor, &e.Action, &e.Entity, &e.EntityID,
			&e.RemoteAddr, &e.RequestID, &e.Before, &e.After)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("audit: scan: %w", err)
	}
	return out, nil
}
