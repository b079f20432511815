// Package audit owns the audit log (审计日志): every entry written from Go goes through Record
// (a named action such as a login) or RecordSummary (the one entry of a bulk change, which
// db.Bulk writes), and List reads the log. Row changes are recorded by the database itself: a
// trigger on every audited table records who, when, what, from where, and the row before and
// after (migration 0002), so no write path can forget it; a bulk change switches that trigger
// off and is summarised instead. The log is append-only.
package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Querier is what audit needs of the caller's transaction (a pgx.Tx or a db.Querier). It is
// declared here rather than taken from package db because db builds on audit (db.Bulk writes
// its summary through RecordSummary).
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

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

// Action is a named action to record, one that is not a row change: a login, say. Fields left
// empty come from the transaction's actor (the settings db.SetActor makes).
type Action struct {
	Action     string // "login"
	Entity     string // "session"
	EntityID   string
	UserID     int64  // 0: the transaction's user
	Actor      string // "": the transaction's actor
	RegionPath string // the ltree path the entry belongs to; "": the actor's first scope path
	RemoteAddr string // "": the transaction's
	After      any    // encoded as JSON; nil for none
}

// Summary is the one entry of a bulk change (db.Bulk): what changed (Entity: a table or domain
// object; Action: import, reassign, place ...), where (RegionID, 0 for the actor's own area, so
// that the people of that area can read it) and how much (Counts). The entry's after is the
// counts, with "region" when RegionID is set.
type Summary struct {
	Entity   string
	Action   string
	RegionID int64
	Counts   map[string]int64
}

// Changed says whether the change touched anything (some count is not zero).
func (s Summary) Changed() bool {
	for _, n := range s.Counts {
		if n != 0 {
			return true
		}
	}
	return false
}

// Record writes one named action.
func Record(ctx context.Context, q Querier, a Action) error {
	if err := insert(ctx, q, a, 0); err != nil {
		return fmt.Errorf("audit: record %s %s: %w", a.Entity, a.Action, err)
	}
	return nil
}

// RecordSummary writes the entry of a bulk change, attributed to the transaction's actor.
// Callers use db.Bulk, which calls it.
func RecordSummary(ctx context.Context, q Querier, s Summary) error {
	after := make(map[string]any, len(s.Counts)+1)
	for k, n := range s.Counts {
		after[k] = n
	}
	if s.RegionID != 0 {
		after["region"] = s.RegionID
	}
	a := Action{Action: s.Action, Entity: s.Entity, After: after}
	if err := insert(ctx, q, a, s.RegionID); err != nil {
		return fmt.Errorf("audit: summary %s %s: %w", s.Entity, s.Action, err)
	}
	return nil
}

// insert is the one statement that writes audit_log from Go (the row trigger, audit_row, is its
// database twin). The entry's area is a.RegionPath, else region regionID's path, else the
// actor's first scope path (none for the city office and the system: only they read those).
func insert(ctx context.Context, q Querier, a Action, regionID int64) error {
	const sql = `INSERT INTO audit_log (user_id, actor, action, entity, entity_id, region_path, remote_addr, request_id, after)
		VALUES (coalesce(nullif($1::bigint, 0), sieve_user_id()),
			coalesce(nullif($2, ''), nullif(current_setting('sieve.actor', true), ''), 'unknown'),
			$3, $4, $5,
			coalesce(nullif($6, '')::ltree, (SELECT path FROM regions WHERE id = nullif($7::bigint, 0)), (sieve_scope())[1]),
			coalesce(nullif($8, ''), current_setting('sieve.remote_addr', true), ''),
			coalesce(current_setting('sieve.request_id', true), ''), $9)`
	_, err := q.Exec(ctx, sql, a.UserID, a.Actor, a.Action, a.Entity, a.EntityID, a.RegionPath, regionID, a.RemoteAddr, a.After)
	return err
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
func List(ctx context.Context, q Querier, f Filter) ([]Entry, error) {
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
