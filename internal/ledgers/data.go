package ledgers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/audit"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/sites"
)

// What "month" selects: a ledger of month M is the township's cases as they stood at the end of
// M (midnight starting M+1 in China Standard Time). 附件2 lists the sites opened before then whose
// case status at that instant (the last site_events move before it) was verified illegal or
// later (verified_illegal, under_disposal, rectified, closed): a site cleared (排除) or still
// suspected is not on it, a site verified in a later month is not either. 问题整改情况 writes
// the disposal actions recorded before then, each done or not as of then. The site's
// particulars (firm, address, classes, participants, contact) are not versioned: they are
// printed as they are now. 附件3 lists the township's firms of the exited-enterprise register,
// each with its latest check (an inspection of its premise that answered 生产装置是否拆除 or
// 是否存在转产情况) visited before then. 附件1 is the register itself (firms added after then
// are left out).

// township is a township (or, for the whole city, the city) a ledger is made for.
type township struct {
	ID   int64
	Code string
	Name string
	Path string
}

// illegalRow is one line of 附件2.
type illegalRow struct {
	TownshipID   int64
	SiteID       int64
	Firm         string
	Address      string
	Industry     string
	Classes      []sites.Class
	Status       sites.Status // as of the month's end
	Participants []string
	LegalRep     string
	Phone        string
	Actions      []actionLine
}

// actionLine is a disposal action as of the month's end.
type actionLine struct {
	Action      sites.Action
	Department  sites.Department
	Responsible string
	Deadline    time.Time
	AmountYuan  *float64
	Result      string
	DoneAt      *time.Time // nil also when done after the month's end
}

// exitedRow is one line of 附件3 (and, without the check, of 附件1).
type exitedRow struct {
	TownshipID int64
	Seq        int
	Name       string
	Address    string
	Checked    bool // a check before the month's end exists
	CheckedAt  time.Time
	Removed    *bool // 生产装置是否拆除
	Converted  *bool // 是否存在转产情况
	People     []string
	Note       string
}

// errNoTownship is a township that does not exist or lies outside the caller's area.
var errNoTownship = fmt.Errorf("ledgers: township: %w", apperr.ErrNotFound)

// city returns the city and its townships in the caller's scope: the whole city is the city
// office's (a caller whose scope does not hold the city gets not found).
func city(ctx context.Context, q db.Querier) (township, []township, error) {
	var c township
	err := q.QueryRow(ctx, `SELECT id, code, name, path::text FROM regions WHERE level = 'city' AND sieve_in_scope(path)
		ORDER BY id LIMIT 1`).Scan(&c.ID, &c.Code, &c.Name, &c.Path)
	if err == pgx.ErrNoRows {
		return township{}, nil, errNoTownship
	}
	if err != nil {
		return township{}, nil, fmt.Errorf("ledgers: city: %w", err)
	}
	rows, err := q.Query(ctx, `SELECT id, code, name, path::text FROM regions
		WHERE level = 'township' AND path <@ $1::ltree ORDER BY code, id`, c.Path)
	if err != nil {
		return township{}, nil, fmt.Errorf("ledgers: townships: %w", err)
	}
	ts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (township, error) {
		var t township
		return t, r.Scan(&t.ID, &t.Code, &t.Name, &t.Path)
	})
	if err != nil {
		return township{}, nil, fmt.Errorf("ledgers: townships: %w", err)
	}
	return c, ts, nil
}

// oneTownship returns township id when the caller's scope holds all of it (a village user reads
// the township's name, but not its ledger).
func oneTownship(ctx context.Context, q db.Querier, id int64) (township, error) {
	var t township
	err := q.QueryRow(ctx, `SELECT id, code, name, path::text FROM regions
		WHERE id = $1 AND level = 'township' AND sieve_in_scope(path)`, id).Scan(&t.ID, &t.Code, &t.Name, &t.Path)
	if err == pgx.ErrNoRows {
		return township{}, errNoTownship
	}
	if err != nil {
		return township{}, fmt.Errorf("ledgers: township %d: %w", id, err)
	}
	return t, nil
}

// townFinder returns a function giving the township (of ts) that a region path lies in.
func townFinder(ts []township) func(path string) int64 {
	byPath := make(map[string]int64, len(ts))
	for _, t := range ts {
		byPath[t.Path] = t.ID
	}
	return func(path string) int64 {
		for p := path; p != ""; {
			if id, ok := byPath[p]; ok {
				return id
			}
			i := strings.LastIndexByte(p, '.')
			if i < 0 {
				break
			}
			p = p[:i]
		}
		return 0
	}
}

// pathsOf returns the townships' paths, in order.
func pathsOf(ts []township) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Path
	}
	return out
}

// illegalRows reads 附件2's lines of the townships as of end, by township (in the order given)
// then site id. Row-level security applies: the caller's transaction sees only their area.
func illegalRows(ctx context.Context, q db.Querier, ts []township, end time.Time) ([]illegalRow, error) {
	rows, err := q.Query(ctx, illegalSQL, pathsOf(ts), end)
	if err != nil {
		return nil, fmt.Errorf("ledgers: illegal sites: %w", err)
	}
	townOf := townFinder(ts)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (illegalRow, error) {
		var x illegalRow
		var path string
		var classes []string
		var status string
		err := r.Scan(&path, &x.SiteID, &x.Firm, &x.Address, &x.Industry, &classes, &status, &x.Participants,
			&x.LegalRep, &x.Phone)
		x.TownshipID = townOf(path)
		for _, c := range classes {
			x.Classes = append(x.Classes, sites.Class(c))
		}
		x.Status = sites.Status(status)
		return x, err
	})
	if err != nil {
		return nil, fmt.Errorf("ledgers: scan illegal sites: %w", err)
	}
	// By township in the order given, then by site id (the query's order).
	order := make(map[int64]int, len(ts))
	for i, t := range ts {
		order[t.ID] = i
	}
	slices.SortStableFunc(out, func(a, b illegalRow) int { return order[a.TownshipID] - order[b.TownshipID] })
	if len(out) == 0 {
		return out, nil
	}
	at := make(map[int64]int, len(out))
	siteIDs := make([]int64, len(out))
	for i, x := range out {
		at[x.SiteID] = i
		siteIDs[i] = x.SiteID
	}
	// The actions of these sites are visible exactly when their site is (the site_actions
	// policies), and the sites were just read under the caller's policies in this transaction:
	// they are read as the system, which spares the policy's per-row look-up of the site (it was
	// four fifths of the ledger's database time for 2,000 cases).
	err = db.SystemBulk(ctx, q, audit.Summary{Entity: "site_actions", Action: "ledger"}, func(*audit.Summary) error {
		arows, err := q.Query(ctx, actsSQL, siteIDs, end)
		if err != nil {
			return fmt.Errorf("ledgers: actions: %w", err)
		}
		defer arows.Close()
		for arows.Next() {
			var site int64
			var a actionLine
			var action, dept string
			if err := arows.Scan(&site, &action, &dept, &a.Responsible, &a.Deadline, &a.AmountYuan, &a.Result, &a.DoneAt); err != nil {
				return fmt.Errorf("ledgers: scan actions: %w", err)
			}
			a.Action, a.Department = sites.Action(action), sites.Department(dept)
			out[at[site]].Actions = append(out[at[site]].Actions, a)
		}
		if err := arows.Err(); err != nil {
			return fmt.Errorf("ledgers: actions: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// illegalSQL reads 附件2's sites: of the townships $1 (ids) / $2 (paths), opened before $3, with
// their status at $3.
const illegalSQL = `
		WITH site AS MATERIALIZED (
			SELECT s.*,
				-- The status at $2: the site's own when it last moved before then (every move sets
				-- status_at with its site_events row), else that of its last move before then.
				CASE WHEN s.status_at < $2 THEN s.status ELSE coalesce((SELECT e.to_status FROM site_events e
					WHERE e.site_id = s.id AND e.at < $2 ORDER BY e.at DESC, e.id DESC LIMIT 1), 'suspected') END AS status_then
			FROM sites s
			WHERE s.region_path <@ $1::ltree[] AND s.created_at < $2)
		SELECT s.region_path::text, s.id, s.firm_name, s.address, s.industry, s.classes, s.status_then, s.participants,
			coalesce(nullif(s.legal_rep, ''), (SELECT p.name FROM site_persons p
				WHERE p.site_id = s.id AND p.role = 'legal_representative' ORDER BY p.id LIMIT 1), ''),
			coalesce(nullif(s.contact_phone, ''), (SELECT p.phone FROM site_persons p
				WHERE p.site_id = s.id AND p.role = 'legal_representative' ORDER BY p.id LIMIT 1), '')
		FROM site s
		WHERE s.status_then IN ('verified_illegal', 'under_disposal', 'rectified', 'closed')
		ORDER BY s.id`

// actsSQL reads the disposal actions of the sites $1 recorded before $2, done or not at $2.
const actsSQL = `SELECT site_id, action, department, responsible, deadline, amount_yuan::float8, result,
			CASE WHEN done_at < $2 THEN done_at END
		FROM site_actions WHERE site_id = ANY ($1) AND created_at < $2 ORDER BY site_id, created_at, id`

// exitedRows reads the register's firms of the townships (added before end), each with its
// latest check visited before end, by township then 序号. withChecks false skips the checks
// (附件1). The register is readable by every signed-in user, so the townships (already checked
// against the caller's scope) are what narrows it; the checks are inspections, under their own
// row-level security.
func exitedRows(ctx context.Context, q db.Querier, ts []township, end time.Time, withChecks bool) ([]exitedRow, error) {
	ids := make([]int64, len(ts))
	for i, t := range ts {
		ids[i] = t.ID
	}
	const sql = `
		WITH town AS (SELECT * FROM unnest($1::bigint[], $2::ltree[]) WITH ORDINALITY AS u(id, path, ord))
		SELECT t.id, e.seq, e.name, e.address, e.note, c.visited_at, c.equipment_removed, c.converted, c.note,
			coalesce(c.people, '{}')
		FROM exited_enterprises e
		JOIN town t ON e.region_path <@ t.path
		LEFT JOIN LATERAL (
			SELECT i.visited_at, i.equipment_removed, i.converted, i.note,
				array_remove(ARRAY[coalesce(nullif(u.display_name, ''), u.username)], NULL) || i.participants AS people
			FROM inspections i LEFT JOIN users u ON u.id = i.inspector_id
			WHERE $4 AND i.premise_id = coalesce(e.premise_id, (SELECT p.id FROM premises p
					WHERE p.name = e.name AND 'exited_hazchem' = ANY (p.tags) ORDER BY p.id LIMIT 1))
				AND i.visited_at < $3 AND (i.equipment_removed IS NOT NULL OR i.converted IS NOT NULL)
			ORDER BY i.visited_at DESC, i.received_at DESC LIMIT 1) c ON true
		WHERE e.created_at < $3
		ORDER BY t.ord, e.seq, e.id`
	rows, err := q.Query(ctx, sql, ids, pathsOf(ts), end, withChecks)
	if err != nil {
		return nil, fmt.Errorf("ledgers: exited register: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (exitedRow, error) {
		var x exitedRow
		var regNote string
		var at *time.Time
		var checkNote *string
		err := r.Scan(&x.TownshipID, &x.Seq, &x.Name, &x.Address, &regNote, &at, &x.Removed, &x.Converted, &checkNote, &x.People)
		if at != nil {
			x.Checked, x.CheckedAt = true, *at
		}
		var notes []string
		if checkNote != nil && strings.TrimSpace(*checkNote) != "" {
			notes = append(notes, strings.TrimSpace(*checkNote))
		}
		if strings.TrimSpace(regNote) != "" {
			notes = append(notes, strings.TrimSpace(regNote))
		}
		x.Note = strings.Join(notes, "；")
		return x, err
	})
	if err != nil {
		return nil, fmt.Errorf("ledgers: scan exited register: %w", err)
	}
	return out, nil
}

// registerRows reads the whole register for the city's 附件1 (one list, as the seed's), firms of
// no known township included.
func registerRows(ctx context.Context, q db.Querier, end time.Time) ([]exitedRow, error) {
	rows, err := q.Query(ctx, `SELECT seq, name, address FROM exited_enterprises WHERE created_at < $1 ORDER BY seq, id`, end)
	if err != nil {
		return nil, fmt.Errorf("ledgers: exited register: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (exitedRow, error) {
		var x exitedRow
		return x, r.Scan(&x.Seq, &x.Name, &x.Address)
	})
	if err != nil {
		return nil, fmt.Errorf("ledgers: scan exited register: %w", err)
	}
	return out, nil
}

// home is Service.Home.
func home(ctx context.Context, q db.Querier) (int64, error) {
	var cityWide bool
	if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM regions WHERE level = 'city' AND sieve_in_scope(path))`).
		Scan(&cityWide); err != nil {
		return 0, fmt.Errorf("ledgers: home: %w", err)
	}
	if cityWide {
		return 0, nil
	}
	rows, err := q.Query(ctx, `SELECT id FROM regions WHERE level = 'township' AND sieve_in_scope(path) ORDER BY code, id LIMIT 2`)
	if err != nil {
		return 0, fmt.Errorf("ledgers: home: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return 0, fmt.Errorf("ledgers: home: %w", err)
	}
	if len(ids) != 1 {
		return 0, errNoTownship
	}
	return ids[0], nil
}
