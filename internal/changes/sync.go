package changes

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

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
	rounds     string
	pruned     bool
	changeRows []change
	premises   map[int64]Premise // the current state of the premises the changes name, as the caller sees them
}

// nullPremise is a premise joined to a change row, all NULL when the row is not a premise's or
// the premise is gone or out of sight.
type nullPremise struct {
	id, cellID, roundID                            *int64
	kind, name, address, contactName, contactPhone *string
	tags                                           []string
	lon, lat                                       *float64
	updatedAt                                      *time.Time
	due                                            *bool
}

func (n nullPremise) premise() Premise {
	return Premise{ID: *n.id, Kind: *n.kind, Name: *n.name, Address: *n.address, ContactName: *n.contactName,
		ContactPhone: *n.contactPhone, Tags: n.tags, Lon: *n.lon, Lat: *n.lat, CellID: n.cellID, UpdatedAt: *n.updatedAt,
		RoundID: n.roundID, Due: *n.due}
}

// change is one row of the feed that concerns the caller.
type change struct {
	xid, seq              int64
	entity, id, op        string
	cellBefore, cellAfter *int64
	userBefore, userAfter *int64
}

// Sync answers one page for user (the caller of tx, a transaction scoped to them) from the
// cursor of the previous page ("" for a full snapshot). english picks the tombstones' message
// language.
//
// The caller's cells are their cell assignments (网格员包片); a caller without any (a
// coordinator, the city office) gets an empty snapshot: sync is the grid worker's tool.
func (f *Feed) Sync(ctx context.Context, tx pgx.Tx, user int64, cursorText string, english bool) (Page, error) {
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
	st, err := f.readState(ctx, tx, user, cur, full)
	if err != nil {
		return Page{}, err
	}
	if st.pruned {
		return Page{}, ErrCursorExpired
	}
	b := &builder{f: f, tx: tx, user: user, cells: st.cells, english: english, budget: f.cfg.PageSize, items: []Item{},
		seen: map[string]bool{}, known: st.premises}
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
// current state of the premises they name, in one statement. A round's changes are those whose
// transaction is visible in the target snapshot and not in the base; the xid range between the
// base's xmin and the target's xmax bounds the index scan. The premise id is computed inside
// the changes' subquery, so that the join to premises compares plain bigint columns: a
// leakproof condition, which keeps it an index lookup under row-level security.
func (f *Feed) readState(ctx context.Context, tx pgx.Tx, user int64, cur cursor, full bool) (state, error) {
	const q = `WITH st AS (
		SELECT coalesce(nullif($2, '')::pg_snapshot, pg_current_snapshot()) AS target,
		  nullif($3, '')::pg_snapshot AS base,
		  coalesce((SELECT array_agg(a.cell_id ORDER BY a.cell_id) FROM cell_assignments a WHERE a.user_id = $1), '{}') AS cells,
		  coalesce((SELECT string_agg(r.id::text, ',' ORDER BY r.id) FROM rounds r
		            WHERE r.starts_at <= now() AND r.ends_at > now()), '') AS rounds,
		  (SELECT p.xid FROM changes_pruned p) AS pruned), ` + roundsInForce + `
		SELECT st.target::text, st.cells, st.rounds,
		  coalesce(st.pruned >= pg_snapshot_xmax(st.base)::text::bigint
		    OR EXISTS (SELECT 1 FROM pg_snapshot_xip(st.base) x WHERE x::text::bigint <= st.pruned), false),
		  c.xid, c.seq, c.entity, c.entity_id, c.op, c.cell_before, c.cell_after, c.user_before, c.user_after, pp.*
		FROM st LEFT JOIN LATERAL (
		  SELECT c.*, CASE WHEN c.entity = 'premise' THEN c.entity_id::bigint END AS premise_id FROM changes c
		  WHERE NOT $6 AND c.xid >= pg_snapshot_xmin(st.base)::text::bigint
		    AND c.xid < pg_snapshot_xmax(st.target)::text::bigint AND (c.xid, c.seq) > ($4::bigint, $5::bigint)
		    AND pg_visible_in_snapshot(c.xid::text::xid8, st.target)
		    AND NOT pg_visible_in_snapshot(c.xid::text::xid8, st.base)
		    AND (c.cell_before = ANY (st.cells) OR c.cell_after = ANY (st.cells) OR c.user_before = $1 OR c.user_after = $1)
		  ORDER BY c.xid, c.seq LIMIT $7) c ON true
		LEFT JOIN LATERAL (SELECT ` + premiseSelect + ` FROM premises p ` + premiseTail + `
		  WHERE p.id = c.premise_id) pp ON true
		ORDER BY c.xid, c.seq`
	// Sync's statements are prepared (pgx caches them) and their plans do not depend on the values:
	// planning them anew for each call would cost more than running them, so this transaction
	// uses the generic plans, set in the same round trip.
	const generic = `SELECT set_config('plan_cache_mode', 'force_generic_plan', true)`
	var batch pgx.Batch
	batch.Queue(generic)
	batch.Queue(q, user, cur.G, cur.B, cur.X, cur.S, full, f.cfg.PageSize)
	br := tx.SendBatch(ctx, &batch)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return state{}, fmt.Errorf("changes: plans: %w", err)
	}
	rows, err := br.Query()
	if err != nil {
		return state{}, fmt.Errorf("changes: read feed: %w", err)
	}
	defer rows.Close()
	st := state{premises: map[int64]Premise{}}
	for rows.Next() {
		var (
			xid, seq       *int64
			entity, id, op *string
			cb, ca, ub, ua *int64
			p              nullPremise
		)
		if err := rows.Scan(&st.target, &st.cells, &st.rounds, &st.pruned,
			&xid, &seq, &entity, &id, &op, &cb, &ca, &ub, &ua,
			&p.id, &p.kind, &p.name, &p.address, &p.contactName, &p.contactPhone, &p.tags,
			&p.lon, &p.lat, &p.cellID, &p.updatedAt, &p.roundID, &p.due); err != nil {
			return state{}, fmt.Errorf("changes: read feed: %w", err)
		}
		if xid != nil {
			st.changeRows = append(st.changeRows, change{xid: *xid, seq: *seq, entity: *entity, id: *id, op: *op,
				cellBefore: cb, cellAfter: ca, userBefore: ub, userAfter: ua})
		}
		if p.id != nil {
			st.premises[*p.id] = p.premise()
		}
	}
	if err := rows.Err(); err != nil {
		return state{}, fmt.Errorf("changes: read feed: %w", err)
	}
	rows.Close()
	if err := br.Close(); err != nil {
		return state{}, fmt.Errorf("changes: read feed: %w", err)
	}
	return st, nil
}

// builder collects the items of one page.
type builder struct {
	known   map[int64]Premise // premises read with the feed (readState)
	f       *Feed
	tx      pgx.Tx
	user    int64
	cells   []int64
	english bool
	budget  int
	items   []Item
	seen    map[string]bool
}

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
			if ps, err = premisesOf(ctx, b.tx, premisesInCells, cur.F, after, limit); err == nil {
				last, more = take(ps, b.budget, func(p Premise) string { return strconv.FormatInt(p.ID, 10) }, b.upsertPremise)
			}
		case phaseTasks:
			after, _ := strconv.ParseInt(cur.A, 10, 64)
			var ts []tasks.Task
			if ts, err = tasksOf(ctx, b.tx, tasksInCells, cur.F, after, b.user, cur.O, limit); err == nil {
				last, more = take(ts, b.budget, func(t tasks.Task) string { return strconv.FormatInt(t.ID, 10) }, b.upsertTask)
			}
		case phaseInspections:
			var is []Inspection
			if is, err = ownInspections(ctx, b.tx, b.user, cur.A, limit); err == nil {
				last, more = take(is, b.budget, func(in Inspection) string { return in.ID }, b.upsertInspection)
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

// take sends up to budget rows and says the last id sent and whether rows held more.
func take[T any](rows []T, budget int, id func(T) string, send func(T)) (last string, more bool) {
	for _, r := range rows[:min(len(rows), budget)] {
		send(r)
		last = id(r)
	}
	return last, len(rows) > budget
}

// apply turns a prefix of rows into items within the budget, reading the rows' current state in
// one round trip, and moves the cursor past it. It stops after a cell assignment that made a
// cell the caller's, whose content is then to be filled (returned). n is how many rows it took.
func (b *builder) apply(ctx context.Context, cur *cursor, rows []change) (n int, fill []int64, err error) {
	keys := map[string]bool{}
	cost := func(k string) int {
		if keys[k] || b.seen[k] {
			return 0
		}
		return 1
	}
	var taskIDs []int64
	var inspectionIDs []string
	for _, r := range rows {
		var ks []string
		switch r.entity {
		case KindPremise:
			ks = []string{"p:" + r.id}
		case KindTask:
			ks = []string{"t:" + r.id}
		case KindInspection:
			ks = []string{"i:" + r.id, "ip:" + r.id} // the inspection and the premise it makes due or not
		case "cell_assignment":
			if !b.mine(r.userBefore, r.userAfter) {
				break
			}
			if cell := r.cellBefore; r.op == OpDelete && cell != nil && !slices.Contains(b.cells, *cell) {
				ks = []string{"c:" + strconv.FormatInt(*cell, 10)}
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
	for id, p := range b.known {
		ps[id] = p
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
				b.upsertInspection(in)
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
func (b *builder) premiseItem(id int64, ps map[int64]Premise, op string, tombstone bool) {
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
func (b *builder) taskItem(id int64, ts map[int64]tasks.Task, op string) {
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

func (b *builder) taskIsMine(t tasks.Task) bool {
	if t.Status != tasks.Open {
		return false
	}
	if t.AssigneeID != nil {
		return *t.AssigneeID == b.user
	}
	return b.inCells(t.CellID)
}

func (b *builder) once(key string) bool {
	if b.seen[key] {
		return false
	}
	b.seen[key] = true
	return true
}

func (b *builder) upsertPremise(p Premise) {
	if b.once("p:" + strconv.FormatInt(p.ID, 10)) {
		b.add(Item{Kind: KindPremise, ID: strconv.FormatInt(p.ID, 10), Op: OpUpsert, Premise: &p})
	}
}

func (b *builder) upsertTask(t tasks.Task) {
	if b.once("t:" + strconv.FormatInt(t.ID, 10)) {
		b.add(Item{Kind: KindTask, ID: strconv.FormatInt(t.ID, 10), Op: OpUpsert, Task: &t})
	}
}

func (b *builder) upsertInspection(in Inspection) {
	if b.once("i:" + in.ID) {
		b.add(Item{Kind: KindInspection, ID: in.ID, Op: OpUpsert, Inspection: &in})
	}
}

func (b *builder) tombstone(kind, id, reason string) {
	if b.once(kind[:1] + ":" + id) {
		b.add(Item{Kind: kind, ID: id, Op: OpDelete, Reason: reason})
	}
}
