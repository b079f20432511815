// Package changes is the change feed (变更流) and the phone sync built on it: what a grid
// worker's phone fetches with GET /api/v1/sync to hold, offline, the premises of its cells, its
// open work and its own inspections with their verdicts.
//
// The feed is the changes table (migration 0017): statement triggers on premises, inspections,
// tasks and cell_assignments write one row per changed row, in the same transaction as the
// change, with a sequence number and the writing transaction's id. Bulk writes (db.Bulk) feed
// it set-wise through the same triggers; nothing writes it from Go.
//
// A sync page is read in the caller's scoped transaction (Feed.Sync): without a cursor it is a
// full snapshot of the caller's cells, paged; with one it is the delta since, built from the
// feed and the current rows: an upsert carries the row as it is now, a tombstone says why the
// phone must drop it. Changes are served in rounds between two database snapshots: a round
// brings the changes of the transactions committed in its target snapshot and not in the base,
// so a transaction still running while a sync reads is brought by a later one whatever order
// the commits came in. The job in prune.go deletes changes older than the retention; a cursor
// from before the deleted ones answers 410 cursor_expired and the phone starts over.
package changes

import (
	"net/http"
	"time"

	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/tasks"
)

// Item kinds.
const (
	KindPremise    = "premise"
	KindTask       = "task"
	KindInspection = "inspection"
	// KindCell is a tombstone only: the cell is no longer the caller's, so the phone drops what it
	// holds for that cell (its premises, and the tasks it holds because they lie there).
	KindCell = "cell"
)

// Item operations.
const (
	OpUpsert = "upsert"
	OpDelete = "delete"
)

// Tombstone reasons: stable codes, with a message in Item.Message.
const (
	ReasonMovedOut   = "moved_out"       // a premise or task moved out of the caller's cells
	ReasonUnassigned = "cell_unassigned" // the cell is no longer the caller's
	ReasonDeleted    = "deleted"         // the row is gone
	ReasonClosed     = "closed"          // a task was done or cancelled
)

// reasonText is a tombstone's message in English and Chinese, by kind and reason or by reason.
var reasonText = map[string][2]string{
	KindPremise + ":" + ReasonMovedOut: {"premise moved out of your cells", "场所已移出您的网格"},
	KindTask + ":" + ReasonMovedOut:    {"task moved out of your cells or given to someone else", "任务已移出您的网格或改派他人"},
	ReasonMovedOut:                     {"moved out of your cells", "已移出您的网格"},
	ReasonUnassigned:                   {"cell no longer yours", "该网格已不归您负责"},
	ReasonDeleted:                      {"deleted", "已删除"},
	ReasonClosed:                       {"task closed", "任务已结束"},
}

// Item is one entry of a sync page: an upsert carries exactly one of Premise, Task, Inspection
// (by Kind); a tombstone (Op delete) carries the reason instead.
type Item struct {
	Kind       string      `json:"kind"`
	ID         string      `json:"id"` // premise and task ids as text, inspection uuids, cell ids
	Op         string      `json:"op"`
	Reason     string      `json:"reason,omitempty"`
	Message    string      `json:"message,omitempty"`
	Premise    *Premise    `json:"premise,omitempty"`
	Task       *tasks.Task `json:"task,omitempty"`
	Inspection *Inspection `json:"inspection,omitempty"`
}

// Premise is a premise as the phone holds it, with whether it is due (待排查): the round in
// force for it has no inspection of it yet (none, or only rejected ones).
type Premise struct {
	ID           int64     `json:"id"`
	Kind         string    `json:"kind"`
	Name         string    `json:"name"`
	Address      string    `json:"address"`
	ContactName  string    `json:"contactName"`
	ContactPhone string    `json:"contactPhone"`
	Tags         []string  `json:"tags"`
	Lon          float64   `json:"lon"`
	Lat          float64   `json:"lat"`
	CellID       *int64    `json:"cellId"`
	Due          bool      `json:"due"`
	RoundID      *int64    `json:"roundId"` // the round in force for it, if any
	UpdatedAt    time.Time `json:"updatedAt"`
}

// Inspection is one of the caller's own inspections with its evidence verdict.
type Inspection struct {
	ID          string    `json:"id"`
	PremiseID   int64     `json:"premiseId"`
	CellID      *int64    `json:"cellId"`
	InspectorID int64     `json:"inspectorId"`
	VisitedAt   time.Time `json:"visitedAt"`
	Outcome     string    `json:"outcome"`
	Evidence    string    `json:"evidence"`
	RoundID     int64     `json:"roundId"`
}

// Page is one answer of GET /sync. Reset is set on the first page of a full snapshot: the phone
// clears what it holds before applying it. HasMore says to ask again at once with Cursor;
// otherwise Cursor is kept for the next sync.
type Page struct {
	Items   []Item `json:"items"`
	Cursor  string `json:"cursor"`
	HasMore bool   `json:"hasMore"`
	Reset   bool   `json:"reset"`
}

// Config is the feed's settings.
type Config struct {
	// Retention is how long changes are kept (SIEVE_SYNC_RETENTION, 30 days): a cursor older than
	// that answers 410 cursor_expired.
	Retention time.Duration
	// PruneEvery is how often the pruning job runs (SIEVE_SYNC_PRUNE_EVERY).
	PruneEvery time.Duration
	// PageSize is the most items one page holds (at most 500).
	PageSize int
}

// DefaultConfig is 30 days of retention, pruned hourly, pages of 500.
func DefaultConfig() Config {
	return Config{Retention: 30 * 24 * time.Hour, PruneEvery: time.Hour, PageSize: MaxPageSize}
}

// MaxPageSize is the largest page sync answers.
const MaxPageSize = 500

// The errors of sync.
var (
	// ErrCursorExpired answers a cursor older than the retention: start over without one.
	ErrCursorExpired = apperr.New(http.StatusGone, "cursor_expired",
		"the sync cursor is too old: sync again without a cursor", "同步游标已过期，请重新全量同步")
	// ErrBadCursor answers a cursor this server did not make.
	ErrBadCursor = apperr.New(http.StatusBadRequest, "invalid_cursor", "malformed sync cursor", "同步游标无效")
)
