package changes

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/tasks"
)

// Feed serves sync pages from the change feed and prunes it (prune.go). It holds its settings,
// the clock and, for the pruning job only, the pool.
type Feed struct {
	cfg  Config
	now  func() time.Time
	deps Deps
}

// Deps is what the pruning job needs; Sync uses the caller's transaction.
type Deps struct {
	Pool *pgxpool.Pool
}

// New returns a Feed. A zero PageSize, Retention or PruneEvery takes the default; now is the
// clock (time.Now in production).
func New(cfg Config, deps Deps, now func() time.Time) *Feed {
	def := DefaultConfig()
	if cfg.PageSize <= 0 || cfg.PageSize > MaxPageSize {
		cfg.PageSize = def.PageSize
	}
	if cfg.Retention <= 0 {
		cfg.Retention = def.Retention
	}
	if cfg.PruneEvery <= 0 {
		cfg.PruneEvery = def.PruneEvery
	}
	if now == nil {
		now = time.Now
	}
	return &Feed{cfg: cfg, now: now, deps: deps}
}

// Config returns the settings in force.
func (f *Feed) Config() Config { return f.cfg }

// cursor is the opaque position a sync page hands back (base64url JSON).
//
// B is the base snapshot (pg_snapshot as text, "xmin:xmax:xip,..."): every change whose
// transaction is visible in it (committed when it was taken) is reflected in what the phone
// holds. A delta round serves the changes visible in its target snapshot G (taken when the round
// began) and not in B, in (xid, seq) order; X and S are the last one served. When a round is
// complete, G becomes the base. A transaction still running when G was taken is invisible in G,
// so it is served by a later round whatever order the commits came in: nothing is missed, and
// only the transactions that really are in progress are waited for.
//
// While cells are being filled (a snapshot, or cells newly assigned), F lists them, P is the
// phase (premises, tasks, inspections) and A the last id sent in it; O says the fill is a full
// snapshot (it also sends the caller's tasks outside the cells and own inspections). R is the
// rounds in force when the phone's premises were last sent, so a new round re-sends them with
// their due flags. T is when the cursor was made.
type cursor struct {
	V int     `json:"v"`
	B string  `json:"b"`
	G string  `json:"g,omitempty"`
	X int64   `json:"x,omitempty"`
	S int64   `json:"s,omitempty"`
	R string  `json:"r"`
	T int64   `json:"t"`
	F []int64 `json:"f,omitempty"`
	P int     `json:"p,omitempty"`
	A string  `json:"a,omitempty"`
	O bool    `json:"o,omitempty"`
}

const cursorVersion = 2

// Fill phases.
const (
	phasePremises = iota
	phaseTasks
	phaseInspections
	phaseDone
)

// validSnapshot checks a pg_snapshot's text form, xmin:xmax:xip,... (all numbers).
func validSnapshot(s string) bool {
	parts := strings.Split(s, ":")
	if len(parts) != 3 || len(s) > 3000 {
		return false
	}
	xip := []string{}
	if parts[2] != "" {
		xip = strings.Split(parts[2], ",")
	}
	for _, n := range append(parts[:2], xip...) {
		if _, err := strconv.ParseUint(n, 10, 64); err != nil {
			return false
		}
	}
	return true
}

func (c cursor) encode() string {
	b, _ := json.Marshal(c) // a struct of numbers and strings always encodes
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (cursor, error) {
	var c cursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, &c) != nil || c.V != cursorVersion || c.P < 0 || c.P > phaseDone ||
		!validSnapshot(c.B) || (c.G != "" && !validSnapshot(c.G)) {
		return c, ErrBadCursor
	}
	return c, nil
}

// state is what a page reads first: the round's target snapshot, the caller's cells, the rounds
// in force, whether the retention job deleted changes the base may not have seen (some
// transaction at or below the cut was not visible in it), and the first page's worth of changes
// of the round that concern the caller.
type state struct {
	target     string
	cells      []int64
	rounds     string  // their ids, as the cursor keeps them
	inForce    []round // the rounds in force, in the rule's order (roundFor)
	pruned     bool
	changeRows []change
	premises   map[int64]*Premise // the current state of the premises the changes name, as the caller sees them
}

// nullPremise is a premise row of readState, all NULL in its rows of changes. Its fields are
// values (no allocation per column scanned).
type nullPremise struct {
	id, cellID                                     pgtype.Int8
	kind, name, address, contactName, contactPhone pgtype.Text
	tags                                           []string
	lon, lat                                       pgtype.Float8
	updatedAt                                      pgtype.Timestamptz
	path                                           pgtype.Text
	done                                           []int64
}

func (n nullPremise) premise(rounds []round) *Premise {
	p := &Premise{ID: n.id.Int64, Kind: n.kind.String, Name: n.name.String, Address: n.address.String,
		ContactName: n.contactName.String, ContactPhone: n.contactPhone.String, Tags: n.tags, Lon: n.lon.Float64,
		Lat: n.lat.Float64, CellID: ptr(n.cellID), UpdatedAt: n.updatedAt.Time}
	resolve(p, rounds, n.path, n.done)
	return p
}

func ptr(v pgtype.Int8) *int64 {
	if !v.Valid {
		return nil
	}
	return &v.Int64
}

// snapshot is a pg_snapshot parsed: transactions below xmin are visible in it, those at or
// above xmax are not, and between them those not in xip are.
type snapshot struct {
	xmin, xmax int64
	xip        []int64
}

// parseSnapshot parses the text form xmin:xmax:xip,... of a snapshot validSnapshot accepted
// ("" is the zero snapshot).
func parseSnapshot(s string) snapshot {
	var sn snapshot
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return sn
	}
	sn.xmin, _ = strconv.ParseInt(parts[0], 10, 64)
	sn.xmax, _ = strconv.ParseInt(parts[1], 10, 64)
	sn.xip = []int64{}
	if parts[2] != "" {
		for _, x := range strings.Split(parts[2], ",") {
			n, _ := strconv.ParseInt(x, 10, 64)
			sn.xip = append(sn.xip, n)
		}
	}
	return sn
}

// change is one row of the feed that concerns the caller.
type change struct {
	xid, seq              int64
	entity, id, op        string
	cellBefore, cellAfter *int64
	userBefore, userAfter *int64
}

// Sync answers one page for the actor a (the caller, scoped as the API scopes them) from the
// cursor of the previous page ("" for a full snapshot). english picks the tombstones' message
// language.
//
// The caller's cells are their cell assignments (网格员包片); a caller without any (a
// coordinator, the city office) gets an empty snapshot: sync is the grid worker's tool.
//
// It reads on one connection of pool, in read-only READ COMMITTED transactions scoped to a. The
// page's first statement (readState) is sent in one round trip with its transaction's BEGIN,
// the actor's settings and the COMMIT, so a delta of changed premises (the common page) costs
// one round trip, like the bare query that selects the same rows. Reads after it (a fill, the
// current tasks and inspections) run in a second such transaction on the connection, begun when
// first needed. Every statement of a READ COMMITTED transaction reads its own snapshot, and the
// cursor's snapshots are taken inside readState's statement, so this reads what one transaction
// would.
func (f *Feed) Sync(ctx context.Context, pool *pgxpool.Pool, a db.Actor, cursorText string, english bool) (Page, error) {
	full := cursorText == ""
	var cur cursor
	if !full {
		var err error
		if cur, err = decodeCursor(cursorText); err != nil {
			return Page{}, err
		}
		if f.now().Sub(time.Unix(cur.T, 0)) > f.cfg.Retention {
			return Page{}, ErrCursorExpired
		}
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return Page{}, db.MapError(err)
	}
	defer conn.Release()
	rest := &later{conn: conn, actor: a}
	page, err := f.sync(ctx, rest, a, cur, full, english)
	if err == nil {
		err = rest.commit(ctx)
	}
	if err != nil {
		rest.rollback()
		return Page{}, db.MapError(err)
	}
	return page, nil
}

func (f *Feed) sync(ctx context.Context, rest *later, a db.Actor, cur cursor, full, english bool) (Page, error) {
	user := a.UserID
	st, err := f.readState(ctx, rest.conn, a, cur, full)
	if err != nil {
		return Page{}, err
	}
	if st.pruned {
		return Page{}, ErrCursorExpired
	}
	b := &builder{f: f, tx: rest, user: user, cells: st.cells, rounds: st.inForce, english: english, budget: f.cfg.PageSize, items: make([]Item, 0, min(f.cfg.PageSize, max(len(st.changeRows), 16))),
		seen: make(map[itemKey]bool, len(st.changeRows)), known: st.premises}
	if full {
		// Every change visible in the snapshot taken now is in what this transaction reads next.
		cur = cursor{B: st.target, R: st.rounds, F: st.cells, O: true}
	} else {
		if cur.G == "" {
			cur.G, cur.X, cur.S = st.target, 0, 0 // a new round
		}
		// A fill keeps only the cells still the caller's; a new round re-sends every premise.
		cur.F = slices.DeleteFunc(cur.F, func(c int64) bool { return !slices.Contains(st.cells, c) })
		if cur.R != st.rounds {
			cur.F, cur.P, cur.A, cur.R = st.cells, phasePremises, "", st.rounds
		}
	}
	more, err := b.run(ctx, &cur, st.changeRows, full)
	if err != nil {
		return Page{}, err
	}
	if !more && !full {
		cur.B, cur.G, cur.X, cur.S = cur.G, "", 0, 0 // the round is complete
	}
	cur.V, cur.T = cursorVersion, f.now().Unix()
	return Page{Items: b.items, Cursor: cur.encode(), HasMore: more, Reset: full}, nil
}

// readState reads the round's target snapshot (the one in the cursor, or now's for a new round
// or a full snapshot), the caller's cells, the rounds in force and the retention mark, and the
// first page's worth of the round's changes after the cursor that concern the caller with the
// current state of the premises they name, in one statement, sent in one round trip after the
// actor's settings. No BEGIN or COMMIT: in the extended protocol everything up to a Sync message
// is one implicit transaction, and a batch ends with one Sync, so the settings (local to the
// transaction, read-only included) end with the batch, as with BEGIN … COMMIT, two statements
// fewer (TestSyncSettingsEndWithTheBatch).
//
// A round's changes are those whose transaction is visible in the target snapshot and not in the
// base. The snapshots in the cursor are parsed here and their tests passed as numbers (no
// snapshot parsed or built per row). For a new round the target is the statement's own snapshot
// (pg_current_snapshot() is the statement's snapshot in READ COMMITTED), in which every change
// row the statement reads is visible: only the base is tested. The index scan on (xid, seq)
// starts at the later of the cursor's position and the base's xmin and runs in feed order, so
// that the LIMIT stops it.
//
// The statement answers three kinds of rows (its first column): the state, once; the changes;
// and the premises the changes name, looked up all at once by id (a leakproof bigint = ANY,
// which stays an index condition under row-level security; one lookup per change row cost
// twice as much), each with the rounds in force in which it has an inspection that counts: a
// probe of inspections_premise per premise, cheaper than joining an aggregate of all of them
// (a sort and a merge join: 0.25 ms of a 0.8 ms statement at 50 premises).
func (f *Feed) readState(ctx context.Context, conn *pgxpool.Conn, a db.Actor, cur cursor, full bool) (state, error) {
	const q = `WITH rs AS MATERIALIZED (SELECT r.id, r.region_path, r.starts_at FROM rounds r
		  WHERE r.starts_at <= now() AND r.ends_at > now()),
		st AS MATERIALIZED (SELECT CASE WHEN $2 THEN pg_current_snapshot()::text ELSE '' END AS target,
		    coalesce((SELECT array_agg(a.cell_id ORDER BY a.cell_id) FROM cell_assignments a WHERE a.user_id = $1), '{}') AS cells,
		    coalesce((SELECT string_agg(r.id::text, ',' ORDER BY r.id) FROM rs r), '') AS rounds,
		    coalesce((SELECT array_agg(r.id ORDER BY r.region_path IS NULL, nlevel(r.region_path) DESC, r.starts_at DESC, r.id DESC)
		      FROM rs r), '{}') AS round_ids,
		    coalesce((SELECT array_agg(coalesce(r.region_path::text, '') ORDER BY r.region_path IS NULL, nlevel(r.region_path) DESC,
		      r.starts_at DESC, r.id DESC) FROM rs r), '{}') AS round_paths,
		    (SELECT p.xid FROM changes_pruned p) AS pruned),
		c AS MATERIALIZED (SELECT c.xid, c.seq, c.entity, c.entity_id, c.op, c.cell_before, c.cell_after, c.user_before,
		    c.user_after, CASE WHEN c.entity = 'premise' THEN c.entity_id::bigint END AS premise_id
		  FROM changes c
		  WHERE NOT $3 AND (c.xid, c.seq) > ($4, $5)
		    AND ($2 OR c.xid < $6 OR (c.xid < $7 AND c.xid <> ALL ($8)))
		    AND (c.xid >= $9 OR c.xid = ANY ($10))
		    AND (c.cell_before = ANY ((SELECT st.cells FROM st)::bigint[]) OR c.cell_after = ANY ((SELECT st.cells FROM st)::bigint[])
		      OR c.user_before = $1 OR c.user_after = $1)
		  ORDER BY c.xid, c.seq LIMIT $11)
		SELECT 0, st.target, st.cells, st.rounds, st.round_ids, st.round_paths, st.pruned,
		  NULL::bigint, NULL::bigint, NULL::text, NULL::text, NULL::text, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint,
		  NULL::bigint, NULL::text, NULL::text, NULL::text, NULL::text, NULL::text, NULL::text[], NULL::float8, NULL::float8,
		  NULL::bigint, NULL::timestamptz, NULL::text, NULL::bigint[]
		FROM st
		UNION ALL
		SELECT 1, NULL, NULL, NULL, NULL, NULL, NULL,
		  c.xid, c.seq, c.entity, c.entity_id, c.op, c.cell_before, c.cell_after, c.user_before, c.user_after,
		  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
		FROM c
		UNION ALL
		SELECT 2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
		  ` + premiseCols + `, ARRAY(SELECT i.round_id FROM inspections i WHERE i.premise_id = p.id
		    AND i.round_id = ANY ((SELECT st.round_ids FROM st)::bigint[]) AND i.evidence <> 'rejected')
		FROM premises p
		WHERE p.id = ANY ((SELECT array_agg(c.premise_id) FROM c)::bigint[])`
	base, goal := parseSnapshot(cur.B), parseSnapshot(cur.G)
	newRound := cur.G == ""
	if goal.xip == nil {
		goal.xip = []int64{}
	}
	if base.xip == nil {
		base.xip = []int64{}
	}
	// The changes after the cursor's position and not visible in the base (none below its xmin).
	fromX, fromS := cur.X, cur.S
	if fromX < base.xmin {
		fromX, fromS = base.xmin, 0 // seq starts at 1
	}
	var batch pgx.Batch
	if err := queueBegin(&batch, a, false); err != nil {
		return state{}, err
	}
	batch.Queue(q, a.UserID, newRound, full, fromX, fromS, goal.xmin, goal.xmax, goal.xip, base.xmax, base.xip, f.cfg.PageSize)
	br := conn.SendBatch(ctx, &batch)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return state{}, fmt.Errorf("changes: settings: %w", err)
	}
	rows, err := br.Query()
	if err != nil {
		return state{}, fmt.Errorf("changes: read feed: %w", err)
	}
	defer rows.Close()
	st := state{changeRows: make([]change, 0, min(f.cfg.PageSize, 32))}
	var (
		part     int32
		pruned   pgtype.Int8
		rounds   string
		ids      []int64
		paths    []string
		premises []nullPremise // read before the state row (never in practice: UNION ALL keeps its order)
		stated   bool
		ch       change
		cb, ca   pgtype.Int8
		ub, ua   pgtype.Int8
		p        nullPremise
	)
	// Each kind of row is scanned into its own columns only (nil skips a column).
	const columns = 29
	only := func(from int, dest ...any) []any {
		d := make([]any, columns)
		copy(d[from:], dest)
		return d
	}
	kind := only(0, &part)
	binaryKind := rows.FieldDescriptions()[0].Format == pgx.BinaryFormatCode
	stateRow := only(1, &st.target, &st.cells, &rounds, &ids, &paths, &pruned)
	changeRow := only(7, &ch.xid, &ch.seq, &ch.entity, &ch.id, &ch.op, &cb, &ca, &ub, &ua)
	premiseRow := only(16, &p.id, &p.kind, &p.name, &p.address, &p.contactName, &p.contactPhone, &p.tags,
		&p.lon, &p.lat, &p.cellID, &p.updatedAt, &p.path, &p.done)
	for rows.Next() {
		// The row's kind from its first column's bytes when it comes binary (an int4): one
		// scan of the 29 columns fewer per row.
		if v := rows.RawValues()[0]; binaryKind && len(v) == 4 {
			part = int32(binary.BigEndian.Uint32(v))
		} else if err := rows.Scan(kind...); err != nil {
			return state{}, fmt.Errorf("changes: read feed: %w", err)
		}
		var err error
		switch part {
		case 0:
			if err = rows.Scan(stateRow...); err == nil {
				st.rounds, stated = rounds, true
				st.inForce = make([]round, len(ids))
				for i := range ids {
					st.inForce[i] = round{id: ids[i], path: paths[i]}
				}
			}
		case 1:
			if err = rows.Scan(changeRow...); err == nil {
				ch.cellBefore, ch.cellAfter, ch.userBefore, ch.userAfter = ptr(cb), ptr(ca), ptr(ub), ptr(ua)
				st.changeRows = append(st.changeRows, ch)
			}
		case 2:
			p.tags, p.done = nil, nil
			if st.premises == nil {
				st.premises = make(map[int64]*Premise, len(st.changeRows)) // the premise rows follow the changes
			}
			if err = rows.Scan(premiseRow...); err == nil {
				if stated {
					st.premises[p.id.Int64] = p.premise(st.inForce)
				} else {
					premises = append(premises, p)
				}
			}
		}
		if err != nil {
			return state{}, fmt.Errorf("changes: read feed: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return state{}, fmt.Errorf("changes: read feed: %w", err)
	}
	if st.premises == nil {
		st.premises = map[int64]*Premise{}
	}
	for _, p := range premises {
		st.premises[p.id.Int64] = p.premise(st.inForce)
	}
	// The feed's order is the contract: UNION ALL keeps it in practice, and sorting makes sure.
	slices.SortFunc(st.changeRows, func(a, b change) int {
		return cmp.Or(cmp.Compare(a.xid, b.xid), cmp.Compare(a.seq, b.seq))
	})
	if !newRound {
		st.target = cur.G
	}
	// The retention job deleted changes the base may not have seen: some transaction at or below
	// the cut was not visible in it.
	if pruned.Valid && !full {
		st.pruned = pruned.Int64 >= base.xmax || slices.ContainsFunc(base.xip, func(x int64) bool { return x <= pruned.Int64 })
	}
	rows.Close()
	if err := br.Close(); err != nil {
		return state{}, fmt.Errorf("changes: read feed: %w", err)
	}
	return st, nil
}

// readOnly is the transactions Sync reads in.
var readOnly = pgx.TxOptions{IsoLevel: pgx.ReadCommitted, AccessMode: pgx.ReadOnly}

// queueBegin queues, first in b, the start of a read-only transaction scoped to a: the actor's
// settings and the generic plans, after BEGIN with tx (b then begins a pgx.Tx:
// BatchResults.Tx), or as the first statement of the batch's implicit transaction without
// (readState: one statement queued, read-only set with the settings). Sync's statements are
// prepared (pgx caches them) and their plans do not depend on the values: planning them anew
// for each call would cost more than running them, so its transactions use the generic plans.
func queueBegin(b *pgx.Batch, a db.Actor, tx bool) error {
	settings := db.ActorSettings
	if tx {
		b.BeginTx(readOnly)
	} else {
		settings = db.ReadOnlySettings
	}
	q, args, err := settings(a)
	if err != nil {
		return err
	}
	// The settings are one SELECT of set_config calls: the plans' setting joins it.
	b.Queue(q+`, set_config('plan_cache_mode', 'force_generic_plan', true)`, args...)
	return nil
}

// querier is what the builder reads with.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// later is a page's reads after its first statement: a read-only transaction scoped to the
// actor on the page's connection, begun when first needed (a delta of premises needs none).
type later struct {
	conn  *pgxpool.Conn
	actor db.Actor
	tx    pgx.Tx
}

func (l *later) begin(ctx context.Context) error {
	if l.tx != nil {
		return nil
	}
	var b pgx.Batch
	if err := queueBegin(&b, l.actor, true); err != nil {
		return err
	}
	br := l.conn.SendBatch(ctx, &b)
	tx := br.Tx()
	if err := br.Close(); err != nil {
		_ = tx.Rollback(ctx)
		return fmt.Errorf("changes: begin: %w", err)
	}
	l.tx = tx
	return nil
}

func (l *later) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if err := l.begin(ctx); err != nil {
		return nil, err
	}
	return l.tx.Query(ctx, sql, args...)
}

func (l *later) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if err := l.begin(ctx); err != nil {
		return pgx.FailedBatchResults(b, err)
	}
	return l.tx.SendBatch(ctx, b)
}

// commit ends the transaction if one was begun.
func (l *later) commit(ctx context.Context) error {
	if l.tx == nil {
		return nil
	}
	if err := l.tx.Commit(ctx); err != nil {
		return fmt.Errorf("changes: commit: %w", err)
	}
	return nil
}

// rollback leaves the connection idle after a failure: the transaction begun for the later
// reads, or readState's own, which a failed statement leaves open and aborted (its COMMIT
// is skipped). When that fails too, the pool drops the connection on release.
func (l *later) rollback() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if l.tx != nil {
		_ = l.tx.Rollback(ctx)
	}
	if l.conn.Conn().PgConn().TxStatus() != 'I' {
		_, _ = l.conn.Exec(ctx, `ROLLBACK`)
	}
}

// builder collects the items of one page.
type builder struct {
	known   map[int64]*Premise // premises read with the feed (readState)
	f       *Feed
	tx      querier
	rounds  []round // in force, in the rule's order
	user    int64
	cells   []int64
	english bool
	budget  int
	items   []Item
	seen    map[itemKey]bool // what the page holds already
}

// itemKey names an item of a page (kind: p premise, t task, i inspection, c cell; ip the premise
// an inspection names, for the budget), without building a string per item.
type itemKey struct{ kind, id string }

func (b *builder) add(it Item) {
	if it.Op == OpDelete {
		t, ok := reasonText[it.Kind+":"+it.Reason]
		if !ok {
			t = reasonText[it.Reason]
		}
		it.Message = t[1]
		if b.english {
			it.Message = t[0]
		}
	}
	b.items = append(b.items, it)
	b.budget--
}

// run fills the page: the fill in progress first, then the changes in feed order (a cell newly
// assigned starts a fill of its content, sent before the changes after it). It reports whether
// more is to come at once.
func (b *builder) run(ctx context.Context, cur *cursor, rows []change, full bool) (bool, error) {
	readFull := len(rows) == b.f.cfg.PageSize // the feed may hold more than was read
	for {
		if len(cur.F) > 0 && cur.P < phaseDone {
			done, err := b.fill(ctx, cur)
			if err != nil || !done {
				return true, err
			}
		}
		cur.F, cur.P, cur.A, cur.O = nil, 0, "", false
		if full || len(rows) == 0 {
			return !full && readFull, nil
		}
		n, fill, err := b.apply(ctx, cur, rows)
		if err != nil {
			return false, err
		}
		rows = rows[n:]
		if len(fill) == 0 {
			return len(rows) > 0 || readFull, nil
		}
		cur.F, cur.P, cur.A = fill, phasePremises, ""
	}
}

// fill sends the content of the cells in cur.F from where the cursor stands, within the budget.
// It reports whether the fill is complete. Each phase reads one row more than the budget, to
// know whether it has more.
func (b *builder) fill(ctx context.Context, cur *cursor) (bool, error) {
	for cur.P < phaseDone {
		if cur.P == phaseInspections && !cur.O {
			cur.P, cur.A = phaseDone, ""
			continue
		}
		if b.budget <= 0 {
			return false, nil
		}
		limit := b.budget + 1
		var last string
		var more bool
		var err error
		switch cur.P {
		case phasePremises:
			after, _ := strconv.ParseInt(cur.A, 10, 64)
			var ps []Premise
			if ps, err = premisesOf(ctx, b.tx, b.rounds, cur.F, after, limit); err == nil {
				last, more = take(ps, b.budget, func(p *Premise) string { return strconv.FormatInt(p.ID, 10) }, b.upsertPremise)
			}
		case phaseTasks:
			after, _ := strconv.ParseInt(cur.A, 10, 64)
			var ts []tasks.Task
			if ts, err = tasksOf(ctx, b.tx, tasksInCells, cur.F, after, b.user, cur.O, limit); err == nil {
				last, more = take(ts, b.budget, func(t *tasks.Task) string { return strconv.FormatInt(t.ID, 10) }, b.upsertTask)
			}
		case phaseInspections:
			var is []Inspection
			if is, err = ownInspections(ctx, b.tx, b.user, cur.A, limit); err == nil {
				last, more = take(is, b.budget, func(in *Inspection) string { return in.ID }, b.upsertInspection)
			}
		}
		if err != nil {
			return false, err
		}
		if more {
			cur.A = last
			return false, nil
		}
		cur.P, cur.A = cur.P+1, ""
	}
	return true, nil
}

// take sends up to budget rows (each by its address: the page's item points into rows) and says
// the last id sent and whether rows held more.
func take[T any](rows []T, budget int, id func(*T) string, send func(*T)) (last string, more bool) {
	for i := range rows[:min(len(rows), budget)] {
		send(&rows[i])
		last = id(&rows[i])
	}
	return last, len(rows) > budget
}

// apply turns a prefix of rows into items within the budget, reading the rows' current state in
// one round trip, and moves the cursor past it. It stops after a cell assignment that made a
// cell the caller's, whose content is then to be filled (returned). n is how many rows it took.
func (b *builder) apply(ctx context.Context, cur *cursor, rows []change) (n int, fill []int64, err error) {
	keys := make(map[itemKey]bool, min(len(rows), b.budget))
	cost := func(k itemKey) int {
		if keys[k] || b.seen[k] {
			return 0
		}
		return 1
	}
	var taskIDs []int64
	var inspectionIDs []string
	for _, r := range rows {
		var ks []itemKey
		switch r.entity {
		case KindPremise:
			ks = []itemKey{{"p", r.id}}
		case KindTask:
			ks = []itemKey{{"t", r.id}}
		case KindInspection:
			ks = []itemKey{{"i", r.id}, {"ip", r.id}} // the inspection and the premise it makes due or not
		case "cell_assignment":
			if !b.mine(r.userBefore, r.userAfter) {
				break
			}
			if cell := r.cellBefore; r.op == OpDelete && cell != nil && !slices.Contains(b.cells, *cell) {
				ks = []itemKey{{"c", strconv.FormatInt(*cell, 10)}}
			}
		}
		c := 0
		for _, k := range ks {
			c += cost(k)
		}
		if c > b.budget-len(keys) {
			break
		}
		for _, k := range ks {
			keys[k] = true
		}
		n++
		switch r.entity {
		case KindPremise: // read with the feed: b.known
		case KindTask:
			id, _ := strconv.ParseInt(r.id, 10, 64)
			taskIDs = append(taskIDs, id)
		case KindInspection:
			inspectionIDs = append(inspectionIDs, r.id)
		case "cell_assignment":
			if cell := r.cellAfter; b.mine(r.userBefore, r.userAfter) && r.op == OpUpsert && cell != nil && slices.Contains(b.cells, *cell) {
				fill = []int64{*cell}
			}
		}
		if fill != nil {
			break
		}
	}
	if n == 0 {
		return 0, nil, nil
	}
	cur.X, cur.S = rows[n-1].xid, rows[n-1].seq
	ps, ts, is, err := b.current(ctx, nil, taskIDs, inspectionIDs)
	if err != nil {
		return 0, nil, err
	}
	// The premises read with the feed, and those of the inspections read now (rarer: copied).
	if len(ps) == 0 {
		ps = b.known
	} else {
		for id, p := range b.known {
			ps[id] = p
		}
	}
	for _, r := range rows[:n] {
		switch r.entity {
		case KindPremise:
			id, _ := strconv.ParseInt(r.id, 10, 64)
			b.premiseItem(id, ps, r.op, true)
		case KindTask:
			id, _ := strconv.ParseInt(r.id, 10, 64)
			b.taskItem(id, ts, r.op)
		case KindInspection:
			in, ok := is[r.id]
			switch {
			case ok && in.InspectorID == b.user:
				b.upsertInspection(&in)
			case !ok && r.op == OpDelete && b.mine(r.userBefore, r.userAfter):
				b.tombstone(KindInspection, r.id, ReasonDeleted)
			}
			if ok {
				b.premiseItem(in.PremiseID, ps, OpUpsert, false)
			}
		case "cell_assignment":
			if cell := r.cellBefore; b.mine(r.userBefore, r.userAfter) && r.op == OpDelete && cell != nil && !slices.Contains(b.cells, *cell) {
				b.tombstone(KindCell, strconv.FormatInt(*cell, 10), ReasonUnassigned)
			}
		}
	}
	return n, fill, nil
}

func (b *builder) mine(ids ...*int64) bool {
	for _, id := range ids {
		if id != nil && *id == b.user {
			return true
		}
	}
	return false
}

func (b *builder) inCells(cell *int64) bool { return cell != nil && slices.Contains(b.cells, *cell) }

// premiseItem sends premise id as it is now: an upsert while it lies in the caller's cells, else
// a tombstone (when tombstone is set: the change was the premise's own, so the phone may hold it).
func (b *builder) premiseItem(id int64, ps map[int64]*Premise, op string, tombstone bool) {
	p, ok := ps[id]
	switch {
	case ok && b.inCells(p.CellID):
		b.upsertPremise(p)
	case !tombstone:
	case !ok && op == OpDelete:
		b.tombstone(KindPremise, strconv.FormatInt(id, 10), ReasonDeleted)
	default:
		b.tombstone(KindPremise, strconv.FormatInt(id, 10), ReasonMovedOut)
	}
}

// taskItem sends task id as it is now: an upsert while it is open and the caller's (in their
// cells for anyone of the cell, or assigned to them), else a tombstone.
func (b *builder) taskItem(id int64, ts map[int64]*tasks.Task, op string) {
	t, ok := ts[id]
	key := strconv.FormatInt(id, 10)
	switch {
	case ok && b.taskIsMine(t):
		b.upsertTask(t)
	case !ok && op == OpDelete:
		b.tombstone(KindTask, key, ReasonDeleted)
	case ok && t.Status != tasks.Open:
		b.tombstone(KindTask, key, ReasonClosed)
	default:
		b.tombstone(KindTask, key, ReasonMovedOut)
	}
}

func (b *builder) taskIsMine(t *tasks.Task) bool {
	if t.Status != tasks.Open {
		return false
	}
	if t.AssigneeID != nil {
		return *t.AssigneeID == b.user
	}
	return b.inCells(t.CellID)
}

func (b *builder) once(key itemKey) bool {
	if b.seen[key] {
		return false
	}
	b.seen[key] = true
	return true
}

func (b *builder) upsertPremise(p *Premise) {
	if id := strconv.FormatInt(p.ID, 10); b.once(itemKey{"p", id}) {
		b.add(Item{Kind: KindPremise, ID: id, Op: OpUpsert, Premise: p})
	}
}

func (b *builder) upsertTask(t *tasks.Task) {
	if id := strconv.FormatInt(t.ID, 10); b.once(itemKey{"t", id}) {
		b.add(Item{Kind: KindTask, ID: id, Op: OpUpsert, Task: t})
	}
}

func (b *builder) upsertInspection(in *Inspection) {
	if b.once(itemKey{"i", in.ID}) {
		b.add(Item{Kind: KindInspection, ID: in.ID, Op: OpUpsert, Inspection: in})
	}
}

func (b *builder) tombstone(kind, id, reason string) {
	if b.once(itemKey{kind[:1], id}) {
		b.add(Item{Kind: kind, ID: id, Op: OpDelete, Reason: reason})
	}
}
