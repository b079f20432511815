package db

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/audit"
)

// Actor is who a transaction acts for. Its fields become the transaction-local settings that
// the row-level security policies and the audit trigger read (see migration 0002).
type Actor struct {
	UserID     int64    // 0 for system actors
	Username   string   // or "system:<tool>" for system actors
	Role       string   // accounts.Role
	Scope      []string // region paths (ltree) the actor may act in; empty with city_admin
	System     bool     // tools, migrations and jobs: unrestricted
	RemoteAddr string
	RequestID  string
}

// System returns an unrestricted actor for a tool or background job, named for the audit log.
func System(what string) Actor {
	return Actor{Username: "system:" + what, System: true}
}

// Querier is what stores need to run SQL: a pgx.Tx (normally) or a pool/conn.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	CopyFrom(ctx context.Context, table pgx.Identifier, cols []string, src pgx.CopyFromSource) (int64, error)
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// InScope runs fn in a transaction acting as a: every query inside sees and changes only what
// a's area allows, and every audited write is attributed to a. This is the one way request code
// reaches the database; a query run outside it sees nothing (the policies fail closed).
func InScope(ctx context.Context, pool *pgxpool.Pool, a Actor, fn func(tx pgx.Tx) error) error {
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if err := SetActor(ctx, tx, a); err != nil {
			return err
		}
		return fn(tx)
	})
	return MapError(err)
}

// ReadInScope is InScope for a read-only transaction.
func ReadInScope(ctx context.Context, pool *pgxpool.Pool, a Actor, fn func(tx pgx.Tx) error) error {
	err := pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if err := SetActor(ctx, tx, a); err != nil {
			return err
		}
		return fn(tx)
	})
	return MapError(err)
}

// ReadBatch runs the reads queued in b (their QueryRow/Query/Exec callbacks) in one round trip,
// read-only and scoped to a, as ReadInScope would run them one by one: the actor's settings go
// first in the same pipeline, without BEGIN or COMMIT. In the extended protocol everything up
// to a Sync message is one implicit transaction and a batch ends with one Sync, so the
// settings (local to the transaction, read-only included) end with the batch
// (TestReadBatchSettingsEndWithIt). Each statement reads its own snapshot (READ COMMITTED), as
// in ReadInScope. For hot reads of a few statements (a map tile and its ETag state): two to four
// round trips fewer than ReadInScope. A lead (nil: none) is read by the settings statement
// itself, before the queued reads.
func ReadBatch(ctx context.Context, pool *pgxpool.Pool, a Actor, lead *Lead, b *pgx.Batch) error {
	run := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, len(b.QueuedQueries)+1)}
	if lead == nil {
		settings, args, err := ReadOnlySettings(a)
		if err != nil {
			return err
		}
		run.Queue(settings, args...)
	} else {
		settings, args, err := readOnlySettingsFrom(a, len(lead.Args))
		if err != nil {
			return err
		}
		if !strings.HasPrefix(lead.SQL, "SELECT ") {
			return fmt.Errorf("db: a lead read is a SELECT of expressions: %.40q", lead.SQL)
		}
		run.Queue(lead.SQL+", "+strings.TrimPrefix(settings, "SELECT "), append(append([]any(nil), lead.Args...), args...)...).
			QueryRow(func(row pgx.Row) error { return lead.Scan(ledRow{row}) })
	}
	run.QueuedQueries = append(run.QueuedQueries, b.QueuedQueries...)
	return MapError(pool.SendBatch(ctx, run).Close())
}

// Lead is a read that needs no scope (it reads sequences, or tables whose read policy is true,
// like the map tiles' change states) and no FROM of its own: ReadBatch runs it as part of its
// settings statement, which saves the server a statement (~20 µs of the 0.25 ms the API adds
// to a map tile).
type Lead struct {
	// SQL is one SELECT of expressions without FROM ("SELECT concat_ws(...)"), with parameters
	// $1..$n: Args.
	SQL  string
	Args []any
	// Scan reads SQL's columns (and only those: the settings' come after them).
	Scan func(pgx.Row) error
}

// ledRow is a lead's row: the settings' columns after the lead's are skipped.
type ledRow struct{ pgx.Row }

func (r ledRow) Scan(dest ...any) error {
	return r.Row.Scan(append(dest, make([]any, readOnlySettingsColumns)...)...)
}

// ReadOnlySettings is ActorSettings with the transaction made read-only too: the first
// statement of a batch whose implicit transaction reads as a (ReadBatch, and changes.Feed.Sync
// on its own connection). A caller may append further set_config calls to the SELECT.
func ReadOnlySettings(a Actor) (string, []any, error) { return readOnlySettingsFrom(a, 0) }

// readOnlySettingsFrom is ReadOnlySettings with its parameters numbered after the first n.
func readOnlySettingsFrom(a Actor, n int) (string, []any, error) {
	settings, args, err := actorSettingsFrom(a, n)
	return settings + `, set_config('transaction_read_only', 'on', true)`, args, err
}

// readOnlySettingsColumns is the number of columns of ReadOnlySettings' SELECT.
const readOnlySettingsColumns = len(actorSettingNames) + 1

// AsSystem runs fn in a transaction as an unrestricted system actor named what.
func AsSystem(ctx context.Context, pool *pgxpool.Pool, what string, fn func(tx pgx.Tx) error) error {
	return InScope(ctx, pool, System(what), fn)
}

// Bulk runs fn as one bulk change inside q's transaction, and records it: the per-row audit
// trigger is off while fn runs (sieve.bulk, read by the triggers' WHEN conditions), fn fills in
// the counts of s (and may refine the rest), and Bulk then writes s as the change's one audit
// entry (audit.RecordSummary) — none when every count is zero, since nothing changed. The
// settings in force before come back after fn.
//
// Bulk is the one place where a set-wise write is recorded: callers say what they change
// (entity, action, region) and how much, and never write audit rows themselves. The phone-sync
// change feed (the changes table, migration 0017, read by internal/changes for GET /sync) needs
// nothing from Bulk or its callers: statement-level AFTER triggers with transition tables on
// premises, inspections, tasks and cell_assignments write one sequenced row per changed row (its
// cell before and after, a tombstone for a delete) in the same transaction, with one
// INSERT ... SELECT per statement, so a bulk statement feeds it set-wise. sieve.bulk does not
// switch them off, and no writer, in Bulk or outside it, can forget the feed.
func Bulk(ctx context.Context, q Querier, s audit.Summary, fn func(s *audit.Summary) error) error {
	return withSettings(ctx, q, []string{"sieve.bulk"}, []string{"on"}, summarised(ctx, q, s, fn))
}

// SystemBulk is Bulk acting as the system: for bookkeeping that the caller was allowed to start
// but whose rows its own policies would not all let it touch (rewriting the path copies of a
// region that moved, placing media in new cells). The summary is still the caller's.
func SystemBulk(ctx context.Context, q Querier, s audit.Summary, fn func(s *audit.Summary) error) error {
	return withSettings(ctx, q, []string{"sieve.bulk", "sieve.system"}, []string{"on", "on"}, summarised(ctx, q, s, fn))
}

// summarised runs fn and then writes its summary.
func summarised(ctx context.Context, q Querier, s audit.Summary, fn func(s *audit.Summary) error) func() error {
	return func() error {
		if err := fn(&s); err != nil {
			return err
		}
		if !s.Changed() {
			return nil
		}
		return audit.RecordSummary(ctx, q, s)
	}
}

// withSettings runs fn with the transaction-local settings names set to values, and sets them
// back afterwards (not after a failure: the transaction is then aborted anyway).
func withSettings(ctx context.Context, q Querier, names, values []string, fn func() error) error {
	const get = `SELECT array_agg(coalesce(current_setting(n, true), '') ORDER BY i)
		FROM unnest($1::text[]) WITH ORDINALITY AS s(n, i)`
	const set = `SELECT count(set_config(n, v, true)) FROM unnest($1::text[], $2::text[]) AS s(n, v)`
	var old []string
	if err := q.QueryRow(ctx, get, names).Scan(&old); err != nil {
		return fmt.Errorf("db: read settings: %w", err)
	}
	if _, err := q.Exec(ctx, set, names, values); err != nil {
		return fmt.Errorf("db: settings: %w", err)
	}
	if err := fn(); err != nil {
		return err
	}
	if _, err := q.Exec(ctx, set, names, old); err != nil {
		return fmt.Errorf("db: restore settings: %w", err)
	}
	return nil
}

// SetActor sets the transaction-local settings for a in one round trip.
func SetActor(ctx context.Context, tx pgx.Tx, a Actor) error {
	q, args, err := ActorSettings(a)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, q, args...); err != nil {
		return fmt.Errorf("db: set actor: %w", err)
	}
	return nil
}

// ActorSettings is the statement SetActor runs and its arguments, for a caller that sends it in
// a batch with what follows (changes.Feed.Sync: BEGIN, the settings and the page's first read
// in one round trip).
func ActorSettings(a Actor) (string, []any, error) { return actorSettingsFrom(a, 0) }

// actorSettingNames are the transaction-local settings an Actor becomes, in the order of
// actorSettingsFrom's arguments.
var actorSettingNames = [...]string{"sieve.user_id", "sieve.role", "sieve.scope", "sieve.system", "sieve.actor",
	"sieve.remote_addr", "sieve.request_id"}

// actorSettingsFrom is ActorSettings with its parameters numbered after the first n (a lead
// read's, ReadBatch).
func actorSettingsFrom(a Actor, n int) (string, []any, error) {
	uid, system := "", "off"
	if a.UserID != 0 {
		uid = strconv.FormatInt(a.UserID, 10)
	}
	if a.System {
		system = "on"
	}
	for _, p := range a.Scope {
		if !validPath(p) {
			return "", nil, fmt.Errorf("db: bad scope path %q", p)
		}
	}
	q := ""
	if n < len(actorSettingsSQL) {
		q = actorSettingsSQL[n]
	} else {
		q = actorSettingsSelect(n)
	}
	return q, []any{uid, a.Role, strings.Join(a.Scope, ","), system, a.Username, a.RemoteAddr, a.RequestID}, nil
}

// actorSettingsSQL is actorSettingsSelect(n) for the first few n, built once: SetActor runs it
// for every scoped transaction.
var actorSettingsSQL = func() (out [4]string) {
	for n := range out {
		out[n] = actorSettingsSelect(n)
	}
	return out
}()

// actorSettingsSelect is the SELECT of set_config calls of actorSettingNames, with parameters
// $n+1.. in order.
func actorSettingsSelect(n int) string {
	calls := make([]string, len(actorSettingNames))
	for i, name := range actorSettingNames {
		calls[i] = "set_config('" + name + "', $" + strconv.Itoa(n+i+1) + ", true)"
	}
	return "SELECT " + strings.Join(calls, ", ")
}

// validPath accepts ltree paths of region ids: digits separated by dots.
func validPath(p string) bool {
	if p == "" {
		return false
	}
	for _, part := range strings.Split(p, ".") {
		if part == "" {
			return false
		}
		for _, r := range part {
			if r < '0' || r > '9' {
				return false
			}
		}
	}
	return true
}

// ErrDatabaseUnavailable is the answer when PostgreSQL cannot be reached or is shutting down:
// nothing was done, and the same request may be sent again shortly (the API adds Retry-After).
var ErrDatabaseUnavailable = apperr.New(http.StatusServiceUnavailable, "database_unavailable",
	"the database is unavailable; nothing was changed, try again later", "数据库暂时不可用，本次未做任何更改，请稍后重试")

// errBadText is PostgreSQL's refusal of text it cannot store (a NUL character, bytes that are
// not UTF-8) that reached it from a file or a field the API's edge check does not read.
var errBadText = apperr.New(http.StatusBadRequest, "invalid_text",
	"text must be valid UTF-8 without NUL characters", "文本须为有效的UTF-8编码，且不能包含空字符(NUL)")

// MapError turns PostgreSQL errors that callers caused into public errors: a duplicate into
// 409, a violated check into 422, a row-level security refusal into 404 (never reveal what lies
// outside the caller's area), a missing row into ErrNotFound, text PostgreSQL cannot store into
// 400 invalid_text; and a database that cannot be reached (refused or lost connections, a
// server shutting down) into 503 ErrDatabaseUnavailable. A cancelled or timed-out context
// and other errors pass unchanged.
func MapError(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := apperr.As(err); ok {
		return err
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return apperr.ErrNotFound.Wrap(err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if unreachable(err) {
		return ErrDatabaseUnavailable.Wrap(err)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "22021", "22P05": // character_not_in_repertoire, untranslatable_character (NUL)
			return errBadText.Wrap(err)
		case "23505": // unique_violation
			return apperr.ErrConflict.Wrap(err)
		case "23514", "23502", "22001", "22P02", "22003": // check, not null, too long, bad text, out of range
			return apperr.ErrInvalid.Wrap(err)
		case "23503": // foreign_key_violation: the referenced thing does not exist (for you)
			return apperr.ErrNotFound.Wrap(err)
		case "42501": // insufficient_privilege: row-level security
			return apperr.ErrNotFound.Wrap(err)
		}
	}
	return err
}

// unreachable reports whether err says the database could not be reached or went away: a
// failed connect, a connection lost or closed mid-query, a closed pool, or the server's
// connection and shutdown errors (class 08, 57P01-57P03, too many connections).
func unreachable(err error) bool {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" ||
			pe.Code == "57P03" || pe.Code == "53300"
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "closed pool") || strings.Contains(msg, "conn closed")
}
