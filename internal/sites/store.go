package sites

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/audit"
	"github.com/sieve-city/sieve/internal/db"
)

// Store reads and writes sites and what hangs on them in the caller's transaction (row-level
// security decides what it sees). It holds nothing.
type Store struct{}

// siteCols are the columns scanSite reads; the geometries are gis.AsGeoJSON("s.point") and
// gis.AsGeoJSON("s.outline"), written out so that the queries stay constants.
const siteCols = `s.id, s.status, ST_AsGeoJSON(ST_ForcePolygonCCW(s.point), 7), ST_AsGeoJSON(ST_ForcePolygonCCW(s.outline), 7),
	ST_X(s.point), ST_Y(s.point), s.cell_id,
	CASE WHEN s.region_path IS NULL THEN NULL ELSE ltree2text(subpath(s.region_path, -1))::bigint END,
	s.source, s.source_ref, s.classes, s.firm_name, s.address, s.industry, s.legal_rep, s.controller, s.contact_phone,
	s.premise_id, s.participants, s.note,
	coalesce((SELECT array_agg(si.inspection_id::text ORDER BY si.linked_at, si.inspection_id) FROM site_inspections si
		WHERE si.site_id = s.id), '{}'),
	(SELECT count(*) FROM site_actions a WHERE a.site_id = s.id AND a.done_at IS NULL AND a.deadline < now()),
	s.status_at, s.closed_at, s.created_by, s.created_at, s.updated_at`

func scanSite(r pgx.Row) (Site, error) {
	var s Site
	var outline *string
	var point string
	err := r.Scan(&s.ID, &s.Status, &point, &outline, &s.Lon, &s.Lat, &s.CellID, &s.RegionID, &s.Source, &s.SourceRef,
		&s.Classes, &s.FirmName, &s.Address, &s.Industry, &s.LegalRep, &s.Controller, &s.ContactPhone, &s.PremiseID,
		&s.Participants, &s.Note, &s.InspectionIDs, &s.OverdueActions, &s.StatusAt, &s.ClosedAt, &s.CreatedBy,
		&s.CreatedAt, &s.UpdatedAt)
	s.Point = []byte(point)
	if outline != nil {
		s.Outline = []byte(*outline)
	}
	return s, err
}

// Get returns site id if the caller may see it, else apperr.ErrNotFound.
func (Store) Get(ctx context.Context, q db.Querier, id int64) (Site, error) {
	const sql = `SELECT ` + siteCols + ` FROM sites s WHERE s.id = $1`
	s, err := scanSite(q.QueryRow(ctx, sql, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Site{}, fmt.Errorf("sites: site %d: %w", id, apperr.ErrNotFound)
	}
	if err != nil {
		return Site{}, fmt.Errorf("sites: get %d: %w", id, err)
	}
	return s, nil
}

// List returns the sites the caller may see that match f, by id. A region is matched through
// its cells (sieve_cells_in: its spatial index works under row-level security) and the sites'
// cell ids, plus the sites in no cell under its path.
func (Store) List(ctx context.Context, q db.Querier, f Filter) ([]Site, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	const sql = `SELECT ` + siteCols + ` FROM sites s
		WHERE s.id > $1
		  AND ($2 = 0 OR s.cell_id IN (SELECT c FROM sieve_cells_in($2) c)
		       OR (s.cell_id IS NULL AND s.region_path <@ (SELECT path FROM regions WHERE id = $2)))
		  AND ($3 = 0 OR s.cell_id = $3)
		  AND ($4 = '' OR s.status = $4)
		  AND ($5 = '' OR $5 = ANY (s.classes))
		ORDER BY s.id LIMIT $6`
	rows, err := q.Query(ctx, sql, f.After, f.RegionID, f.CellID, string(f.Status), string(f.Class), f.Limit)
	if err != nil {
		return nil, fmt.Errorf("sites: list: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Site, error) { return scanSite(r) })
	if err != nil {
		return nil, fmt.Errorf("sites: scan: %w", err)
	}
	return out, nil
}

// inScope reports whether a site at lon, lat would lie in the caller's area: the place it
// would get (sites_place's rule) is inside the caller's scope.
func (Store) inScope(ctx context.Context, q db.Querier, lon, lat float64) (bool, error) {
	const sql = `WITH pt AS (SELECT ST_SetSRID(ST_MakePoint($1::float8, $2::float8), 4326) AS g)
		SELECT sieve_in_scope(coalesce(
			(SELECT c.path FROM region_shapes c, pt WHERE c.level = 'cell' AND ST_Intersects(c.geom, pt.g) ORDER BY c.region_id LIMIT 1),
			(SELECT a.path FROM region_shapes a, pt WHERE a.level <> 'cell' AND ST_Intersects(a.geom, pt.g)
				ORDER BY nlevel(a.path) DESC, a.region_id LIMIT 1)))`
	var ok bool
	if err := q.QueryRow(ctx, sql, lon, lat).Scan(&ok); err != nil {
		return false, fmt.Errorf("sites: place: %w", err)
	}
	return ok, nil
}

// row is a site checked and converted, ready to store.
type row struct {
	lon, lat                                                                  float64
	outline                                                                   []byte
	source                                                                    Source
	sourceRef, firmName, address, industry, legalRep, controller, phone, note string
	classes                                                                   []Class
	premiseID                                                                 *int64
	participants                                                              []string
}

// insert stores a checked site in status suspected and returns its id.
func (Store) insert(ctx context.Context, q db.Querier, r row, by int64) (int64, error) {
	const sql = `INSERT INTO sites (point, outline, source, source_ref, classes, firm_name, address, industry,
			legal_rep, controller, contact_phone, premise_id, participants, note, created_by)
		VALUES (ST_SetSRID(ST_MakePoint($1::float8, $2::float8), 4326),
			CASE WHEN $3::text IS NOT NULL THEN ST_SetSRID(ST_GeomFromGeoJSON($3::text), 4326) END,
			$4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, nullif($16::bigint, 0))
		RETURNING id`
	var outline *string
	if r.outline != nil {
		s := string(r.outline)
		outline = &s
	}
	var id int64
	err := q.QueryRow(ctx, sql, r.lon, r.lat, outline, string(r.source), r.sourceRef, classStrings(r.classes),
		r.firmName, r.address, r.industry, r.legalRep, r.controller, r.phone, r.premiseID, r.participants, r.note,
		by).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("sites: create: %w", db.MapError(err))
	}
	return id, nil
}

// update applies a checked patch (nil: unchanged) and reports whether the place changed.
func (Store) update(ctx context.Context, q db.Querier, id int64, p Patch, lon, lat *float64, outline *string, clearOutline bool) error {
	const sql = `UPDATE sites SET
		point = CASE WHEN $2::float8 IS NULL THEN point ELSE ST_SetSRID(ST_MakePoint($2, $3::float8), 4326) END,
		outline = CASE WHEN $5 THEN NULL WHEN $4::text IS NULL THEN outline ELSE ST_SetSRID(ST_GeomFromGeoJSON($4::text), 4326) END,
		classes = coalesce($6, classes),
		firm_name = coalesce($7, firm_name), address = coalesce($8, address), industry = coalesce($9, industry),
		legal_rep = coalesce($10, legal_rep), controller = coalesce($11, controller),
		contact_phone = coalesce($12, contact_phone), premise_id = coalesce($13, premise_id),
		participants = coalesce($14, participants), note = coalesce($15, note), updated_at = now()
		WHERE id = $1`
	var classes []string
	if p.Classes != nil {
		classes = classStrings(*p.Classes)
	}
	var parts []string
	if p.Participants != nil {
		parts = *p.Participants
		if parts == nil {
			parts = []string{}
		}
	}
	tag, err := q.Exec(ctx, sql, id, lon, lat, outline, clearOutline, classes, p.FirmName, p.Address, p.Industry,
		p.LegalRep, p.Controller, p.ContactPhone, p.PremiseID, parts, p.Note)
	if err != nil {
		return fmt.Errorf("sites: update %d: %w", id, db.MapError(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("sites: update %d: %w", id, apperr.ErrNotFound)
	}
	return nil
}

// setStatus moves site id from status from to status to (the caller checked the move against
// the table) and records the event. It fails with ErrInvalidTransition when the site is no
// longer in status from (a concurrent move).
func (Store) setStatus(ctx context.Context, q db.Querier, id int64, from, to Status, reason string, by int64) error {
	const sql = `UPDATE sites SET status = $3, status_at = now(), updated_at = now(),
		closed_at = CASE WHEN $3 = 'closed' THEN now() END
		WHERE id = $1 AND status = $2`
	tag, err := q.Exec(ctx, sql, id, string(from), string(to))
	if err != nil {
		return fmt.Errorf("sites: move %d: %w", id, db.MapError(err))
	}
	if tag.RowsAffected() == 0 {
		return ErrInvalidTransition
	}
	f := from
	return Store{}.addEvent(ctx, q, id, &f, to, reason, by)
}

// addEvent records a move of site id (from nil: its opening).
func (Store) addEvent(ctx context.Context, q db.Querier, id int64, from *Status, to Status, reason string, by int64) error {
	const sql = `INSERT INTO site_events (site_id, from_status, to_status, reason, by_user, by_actor)
		VALUES ($1, $2, $3, $4, nullif($5::bigint, 0), coalesce(current_setting('sieve.actor', true), ''))`
	var f *string
	if from != nil {
		s := string(*from)
		f = &s
	}
	if _, err := q.Exec(ctx, sql, id, f, string(to), reason, by); err != nil {
		return fmt.Errorf("sites: event of %d: %w", id, db.MapError(err))
	}
	return nil
}

// Events returns the history of site id, oldest first.
func (Store) Events(ctx context.Context, q db.Querier, id int64) ([]Event, error) {
	const sql = `SELECT id, from_status, to_status, reason, by_user, by_actor, at FROM site_events
		WHERE site_id = $1 ORDER BY id`
	rows, err := q.Query(ctx, sql, id)
	if err != nil {
		return nil, fmt.Errorf("sites: events: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Event, error) {
		var e Event
		err := r.Scan(&e.ID, &e.From, &e.To, &e.Reason, &e.By, &e.Actor, &e.At)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("sites: scan events: %w", err)
	}
	return out, nil
}

// linkByPlace links site ids to the stored images of their place (link_media_to_sites:
// drone footprints covering them, photos within nearMetres). media_site_links is written by
// the system only, so it runs as the system in one bulk change (one summary audit entry).
func (Store) linkByPlace(ctx context.Context, q db.Querier, ids []int64, nearMetres float64) (int64, error) {
	var n int64
	sum := audit.Summary{Entity: "media_site_links", Action: "link"}
	err := db.SystemBulk(ctx, q, sum, func(sum *audit.Summary) error {
		if err := q.QueryRow(ctx, `SELECT link_media_to_sites(NULL, $1::bigint[], $2)`, ids, nearMetres).Scan(&n); err != nil {
			return fmt.Errorf("sites: link media: %w", err)
		}
		sum.Counts = map[string]int64{"linked": n}
		return nil
	})
	return n, err
}

// linkMedia links media ids to site id for a reason (manual, inspection, tip), as the system once the
// caller has seen both (visibleMedia). A link by place (footprint, near) takes the given reason,
// which then stays when the site moves; a link by hand or from an inspection keeps its own.
func (Store) linkMedia(ctx context.Context, q db.Querier, id int64, mediaIDs []int64, how string) (int64, error) {
	var n int64
	sum := audit.Summary{Entity: "media_site_links", Action: "link_" + how}
	err := db.SystemBulk(ctx, q, sum, func(sum *audit.Summary) error {
		const sql = `INSERT INTO media_site_links (media_id, site_id, how, distance_m, region_path, site_path)
			SELECT m.id, s.id, $3, ST_Distance(m.point::geography, s.point::geography), m.region_path, s.region_path
			FROM media m, sites s WHERE m.id = ANY ($2) AND s.id = $1
			ON CONFLICT (media_id, site_id) DO UPDATE SET how = EXCLUDED.how
			WHERE media_site_links.how IN ('footprint', 'near')`
		tag, err := q.Exec(ctx, sql, id, mediaIDs, how)
		if err != nil {
			return fmt.Errorf("sites: link media to %d: %w", id, db.MapError(err))
		}
		n = tag.RowsAffected()
		sum.Counts = map[string]int64{"linked": n}
		return nil
	})
	return n, err
}

// unlinkMedia removes the links of media ids to site id, as the system.
func (Store) unlinkMedia(ctx context.Context, q db.Querier, id int64, mediaIDs []int64) (int64, error) {
	var n int64
	sum := audit.Summary{Entity: "media_site_links", Action: "unlink"}
	err := db.SystemBulk(ctx, q, sum, func(sum *audit.Summary) error {
		tag, err := q.Exec(ctx, `DELETE FROM media_site_links WHERE site_id = $1 AND media_id = ANY ($2)`, id, mediaIDs)
		if err != nil {
			return fmt.Errorf("sites: unlink media of %d: %w", id, err)
		}
		n = tag.RowsAffected()
		sum.Counts = map[string]int64{"unlinked": n}
		return nil
	})
	return n, err
}

// visibleMedia returns how many of media ids the caller may see.
func (Store) visibleMedia(ctx context.Context, q db.Querier, ids []int64) (int, error) {
	var n int
	if err := q.QueryRow(ctx, `SELECT count(*) FROM media WHERE id = ANY ($1)`, ids).Scan(&n); err != nil {
		return 0, fmt.Errorf("sites: media: %w", err)
	}
	return n, nil
}

// Media lists the images linked to site id that the caller may see, newest capture first.
func (st Store) Media(ctx context.Context, q db.Querier, id int64) ([]Medium, error) {
	by, err := st.MediaOf(ctx, q, []int64{id})
	if err != nil {
		return nil, err
	}
	if by[id] == nil {
		return []Medium{}, nil // a JSON list, also when empty
	}
	return by[id], nil
}

// MediaOf is Media of many sites in one query, by site (a site without media has no entry):
// the ledgers' photo appendix reads a whole township's cases at once.
func (Store) MediaOf(ctx context.Context, q db.Querier, ids []int64) (map[int64][]Medium, error) {
	const sql = `SELECT l.site_id, m.id, m.kind, m.source, m.survey_id, l.how, l.distance_m, m.taken_at,
			m.thumbs ? 'list', m.thumbs ? 'detail', l.linked_at, coalesce(m.thumbs->'detail'->>'key', '')
		FROM media_site_links l JOIN media m ON m.id = l.media_id
		WHERE l.site_id = ANY ($1)
		ORDER BY l.site_id, m.taken_at DESC NULLS LAST, m.id`
	rows, err := q.Query(ctx, sql, ids)
	if err != nil {
		return nil, fmt.Errorf("sites: media of %d sites: %w", len(ids), err)
	}
	out := map[int64][]Medium{}
	var site int64
	_, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (struct{}, error) {
		var m Medium
		var kind, source string
		var list, detail *bool
		err := r.Scan(&site, &m.MediaID, &kind, &source, &m.SurveyID, &m.Reason, &m.DistanceM, &m.TakenAt, &list, &detail,
			&m.LinkedAt, &m.DetailKey)
		switch {
		case source == "tip":
			m.Source = "tip"
		case kind == "drone":
			m.Source = "drone_survey"
		default:
			m.Source = "phone"
		}
		if list != nil && *list {
			m.Thumbnail = fmt.Sprintf("/api/v1/media/%d/thumbnail?size=list", m.MediaID)
		}
		if detail != nil && *detail {
			m.Detail = fmt.Sprintf("/api/v1/media/%d/thumbnail?size=detail", m.MediaID)
		}
		out[site] = append(out[site], m)
		return struct{}{}, err
	})
	if err != nil {
		return nil, fmt.Errorf("sites: scan media: %w", err)
	}
	return out, nil
}

// linkInspection links an inspection to site id (no-op when linked already).
func (Store) linkInspection(ctx context.Context, q db.Querier, id int64, inspectionID string) error {
	const sql = `INSERT INTO site_inspections (site_id, inspection_id) VALUES ($1, $2::uuid) ON CONFLICT DO NOTHING`
	if _, err := q.Exec(ctx, sql, id, inspectionID); err != nil {
		return fmt.Errorf("sites: link inspection %s: %w", inspectionID, db.MapError(err))
	}
	return nil
}

// openNear finds, as the system (a site of the same place may lie in a neighbouring cell the
// caller does not hold), the open site on premise premiseID or, failing that, the nearest open
// site within metres of lon, lat. It returns 0 when there is none.
func (Store) openNear(ctx context.Context, q db.Querier, premiseID int64, lon, lat, metres float64) (int64, error) {
	var id int64
	err := db.SystemBulk(ctx, q, audit.Summary{Entity: "sites", Action: "find"}, func(*audit.Summary) error {
		const sql = `WITH pt AS (SELECT ST_SetSRID(ST_MakePoint($2::float8, $3::float8), 4326) AS g)
			SELECT coalesce(
				(SELECT s.id FROM sites s WHERE $1 <> 0 AND s.premise_id = $1
					AND s.status NOT IN ('cleared', 'closed') ORDER BY s.id LIMIT 1),
				(SELECT s.id FROM sites s, pt WHERE s.status NOT IN ('cleared', 'closed')
					AND ST_DWithin(s.point::geography, pt.g::geography, $4)
					ORDER BY ST_Distance(s.point::geography, pt.g::geography), s.id LIMIT 1), 0)`
		return q.QueryRow(ctx, sql, premiseID, lon, lat, metres).Scan(&id)
	})
	if err != nil {
		return 0, fmt.Errorf("sites: find open site: %w", err)
	}
	return id, nil
}

// premiseExited reports whether premise id is a firm of the exited-enterprise register: tagged
// exited_hazchem, or linked from the register (read as the system: the register is the city's).
func (Store) premiseExited(ctx context.Context, q db.Querier, id int64) (bool, error) {
	var ok bool
	err := db.SystemBulk(ctx, q, audit.Summary{Entity: "exited_enterprises", Action: "find"}, func(*audit.Summary) error {
		const sql = `SELECT EXISTS (SELECT 1 FROM premises p WHERE p.id = $1 AND 'exited_hazchem' = ANY (p.tags))
			OR EXISTS (SELECT 1 FROM exited_enterprises e WHERE e.premise_id = $1)`
		return q.QueryRow(ctx, sql, id).Scan(&ok)
	})
	if err != nil {
		return false, fmt.Errorf("sites: exited premise %d: %w", id, err)
	}
	return ok, nil
}

const actionCols = `a.id, a.site_id, a.action, a.department, a.responsible, a.deadline, a.amount_yuan::float8, a.evidence,
	a.result, a.done_at, a.done_at IS NULL AND a.deadline < now(), a.created_by, a.created_at`

func scanAction(r pgx.Row, extra ...any) (ActionRecord, error) {
	var a ActionRecord
	dest := append([]any{&a.ID, &a.SiteID, &a.Action, &a.Department, &a.Responsible, &a.Deadline, &a.AmountYuan,
		&a.Evidence, &a.Result, &a.DoneAt, &a.Overdue, &a.CreatedBy, &a.CreatedAt}, extra...)
	err := r.Scan(dest...)
	return a, err
}

// insertAction records a checked action on site id.
func (Store) insertAction(ctx context.Context, q db.Querier, id int64, n NewAction, by int64) (ActionRecord, error) {
	const sql = `INSERT INTO site_actions AS a (site_id, action, department, responsible, deadline, amount_yuan, evidence,
			result, done_at, created_by)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, CASE WHEN $9 THEN now() END, nullif($10::bigint, 0))
		RETURNING ` + actionCols
	ev := n.Evidence
	if ev == nil {
		ev = []int64{}
	}
	a, err := scanAction(q.QueryRow(ctx, sql, id, string(n.Action), string(n.Department), n.Responsible, n.Deadline,
		n.AmountYuan, ev, n.Result, n.Done, by))
	if err != nil {
		return ActionRecord{}, fmt.Errorf("sites: add action to %d: %w", id, db.MapError(err))
	}
	return a, nil
}

// Action returns action id if the caller may see its site.
func (Store) Action(ctx context.Context, q db.Querier, id int64) (ActionRecord, error) {
	const sql = `SELECT ` + actionCols + ` FROM site_actions a WHERE a.id = $1`
	a, err := scanAction(q.QueryRow(ctx, sql, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return ActionRecord{}, fmt.Errorf("sites: action %d: %w", id, apperr.ErrNotFound)
	}
	if err != nil {
		return ActionRecord{}, fmt.Errorf("sites: action %d: %w", id, err)
	}
	return a, nil
}

// updateAction applies a patch to action id.
func (Store) updateAction(ctx context.Context, q db.Querier, id int64, p ActionPatch) (ActionRecord, error) {
	const sql = `UPDATE site_actions a SET result = coalesce($2, result), evidence = coalesce($3, evidence),
		done_at = CASE WHEN $4::boolean IS NULL THEN done_at WHEN $4 THEN coalesce(done_at, now()) ELSE NULL END,
		deadline = coalesce($5, deadline), updated_at = now()
		WHERE a.id = $1 RETURNING ` + actionCols
	var ev []int64
	if p.Evidence != nil {
		ev = *p.Evidence
		if ev == nil {
			ev = []int64{}
		}
	}
	a, err := scanAction(q.QueryRow(ctx, sql, id, p.Result, ev, p.Done, p.Deadline))
	if err != nil {
		return ActionRecord{}, fmt.Errorf("sites: update action %d: %w", id, db.MapError(err))
	}
	return a, nil
}

// Actions lists the actions of site id, oldest first.
func (Store) Actions(ctx context.Context, q db.Querier, id int64) ([]ActionRecord, error) {
	const sql = `SELECT ` + actionCols + ` FROM site_actions a WHERE a.site_id = $1 ORDER BY a.id`
	rows, err := q.Query(ctx, sql, id)
	if err != nil {
		return nil, fmt.Errorf("sites: actions of %d: %w", id, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ActionRecord, error) { return scanAction(r) })
	if err != nil {
		return nil, fmt.Errorf("sites: scan actions: %w", err)
	}
	return out, nil
}

// Overdue lists the overdue actions (deadline passed, not done) of the sites in region
// township (any region; 0: the caller's whole area) that the caller may see, by id (the cursor).
func (Store) Overdue(ctx context.Context, q db.Querier, township int64, after int64, limit int) ([]ActionRecord, error) {
	if limit <= 0 {
		limit = 50
	}
	const sql = `SELECT ` + actionCols + `, s.firm_name, s.cell_id
		FROM site_actions a JOIN sites s ON s.id = a.site_id
		WHERE a.done_at IS NULL AND a.deadline < now() AND a.id > $2
		  AND ($1 = 0 OR s.region_path <@ (SELECT path FROM regions WHERE id = $1))
		ORDER BY a.id LIMIT $3`
	rows, err := q.Query(ctx, sql, township, after, limit)
	if err != nil {
		return nil, fmt.Errorf("sites: overdue: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ActionRecord, error) {
		var name string
		var cell *int64
		a, err := scanAction(r, &name, &cell)
		a.FirmName, a.CellID = name, cell
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("sites: scan overdue: %w", err)
	}
	return out, nil
}

// department returns the department of user id ("" when none).
func (Store) department(ctx context.Context, q db.Querier, userID int64) (Department, error) {
	var d *string
	err := q.QueryRow(ctx, `SELECT department FROM users WHERE id = $1`, userID).Scan(&d)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("sites: department of %d: %w", userID, err)
	}
	if d == nil {
		return "", nil
	}
	return Department(*d), nil
}

// insertPerson adds a checked responsible person to site id.
func (Store) insertPerson(ctx context.Context, q db.Querier, id int64, n NewPerson) (Person, error) {
	const sql = `INSERT INTO site_persons (site_id, role, name, phone, note) VALUES ($1, $2, $3, $4, $5)
		RETURNING id, site_id, role, name, phone, note, created_at`
	var p Person
	err := q.QueryRow(ctx, sql, id, string(n.Role), n.Name, n.Phone, n.Note).Scan(&p.ID, &p.SiteID, &p.Role, &p.Name,
		&p.Phone, &p.Note, &p.CreatedAt)
	if err != nil {
		return Person{}, fmt.Errorf("sites: add person to %d: %w", id, db.MapError(err))
	}
	return p, nil
}

// Persons lists the responsible persons of site id.
func (Store) Persons(ctx context.Context, q db.Querier, id int64) ([]Person, error) {
	const sql = `SELECT id, site_id, role, name, phone, note, created_at FROM site_persons WHERE site_id = $1 ORDER BY id`
	rows, err := q.Query(ctx, sql, id)
	if err != nil {
		return nil, fmt.Errorf("sites: persons of %d: %w", id, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Person, error) {
		var p Person
		err := r.Scan(&p.ID, &p.SiteID, &p.Role, &p.Name, &p.Phone, &p.Note, &p.CreatedAt)
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("sites: scan persons: %w", err)
	}
	return out, nil
}

func classStrings(cs []Class) []string {
	out := make([]string, 0, len(cs))
	seen := map[Class]bool{}
	for _, c := range cs {
		c = Class(strings.TrimSpace(string(c)))
		if c == "" || seen[c] {
			continue
		}
		seen[c] = true
		out = append(out, string(c))
	}
	return out
}

// dueAt is closedAt plus d, for the re-inspection tasks.
func dueAt(closedAt time.Time, d time.Duration) time.Time { return closedAt.Add(d) }

// premiseParticulars fills a new site's firm name, address and contact from its premise.
func (Store) premiseParticulars(ctx context.Context, q db.Querier, id int64, r *row) error {
	const sql = `SELECT name, address, contact_name, contact_phone FROM premises WHERE id = $1`
	var name, address, contact, phone string
	err := q.QueryRow(ctx, sql, id).Scan(&name, &address, &contact, &phone)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sites: premise %d: %w", id, err)
	}
	r.firmName, r.address, r.legalRep, r.phone = name, address, contact, phone
	return nil
}

// joinInspection joins an inspection to the existing site id as the system (the inspector may
// not hold the site's cell): the inspection is linked, the classes it found and the inspector's
// name are added, in one bulk change.
func (Store) joinInspection(ctx context.Context, q db.Querier, id int64, inspectionID string, classes []Class, inspector int64) error {
	sum := audit.Summary{Entity: "sites", Action: "join_inspection"}
	return db.SystemBulk(ctx, q, sum, func(sum *audit.Summary) error {
		if err := (Store{}).linkInspection(ctx, q, id, inspectionID); err != nil {
			return err
		}
		const sql = `UPDATE sites SET
			classes = ARRAY(SELECT DISTINCT c FROM unnest(classes || $2::text[]) c ORDER BY c),
			participants = CASE WHEN u.name IS NULL OR u.name = ANY (participants) OR cardinality(participants) >= 50
				THEN participants ELSE participants || u.name END,
			updated_at = now()
			FROM (SELECT (SELECT coalesce(nullif(display_name, ''), username) FROM users WHERE id = $3) AS name) u
			WHERE sites.id = $1`
		if _, err := q.Exec(ctx, sql, id, classStrings(classes), inspector); err != nil {
			return fmt.Errorf("sites: join inspection %s to %d: %w", inspectionID, id, db.MapError(err))
		}
		sum.Counts = map[string]int64{"joined": 1}
		return nil
	})
}

// userName is user id's display name (or username) as a one-name list, empty when unknown.
func (Store) userName(ctx context.Context, q db.Querier, id int64) ([]string, error) {
	var name string
	err := q.QueryRow(ctx, `SELECT coalesce(nullif(display_name, ''), username) FROM users WHERE id = $1`, id).Scan(&name)
	if errors.Is(err, pgx.ErrNoRows) {
		return []string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sites: user %d: %w", id, err)
	}
	return []string{name}, nil
}
