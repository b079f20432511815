package leads

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/audit"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/sites"
	"github.com/sieve-city/sieve/internal/tasks"
)

// Service is the leads domain: imports through the sources, placement, scoring threshold,
// de-duplication, the tasks, outcomes and hit rates. Its methods take the caller's transaction.
type Service struct {
	cfg     Config
	sources map[string]Source
	kinds   []string
	sites   *sites.Service
	tasks   tasks.Store
	now     func() time.Time
}

// NewService returns the leads service over the sources (one per kind; cmd/sieve/wiring.go
// lists them). Confirmed leads become sites through st. now is the clock (time.Now outside
// tests).
func NewService(cfg Config, st *sites.Service, now func() time.Time, sources ...Source) *Service {
	if now == nil {
		now = time.Now
	}
	s := &Service{cfg: cfg, sources: map[string]Source{}, sites: st, now: now}
	for _, src := range sources {
		if _, dup := s.sources[src.Kind()]; !dup {
			s.kinds = append(s.kinds, src.Kind())
		}
		s.sources[src.Kind()] = src
	}
	sort.Strings(s.kinds)
	return s
}

// Kinds are the kinds of the service's sources, sorted.
func (s *Service) Kinds() []string { return s.kinds }

// Config is the service's configuration.
func (s *Service) Config() Config { return s.cfg }

// The public errors of this package.
var (
	ErrNotOpen = apperr.New(http.StatusConflict, "lead_not_open", "the lead was decided already", "该线索已有核查结果")
	errReason  = apperr.Invalidf("reason_required", "排除线索须填写原因（1-500 字）", "clearing a lead needs a reason (1-500 characters)")
	errOutcome = apperr.Invalidf("invalid_outcome", "核查结果应为 confirmed（属实）或 cleared（排除）", "status must be confirmed or cleared")
	errTooBig  = apperr.New(http.StatusRequestEntityTooLarge, "file_too_large", "the file is larger than the leads import limit",
		"文件超过线索导入的大小上限")
)

func (s *Service) errKind(kind string) error {
	return apperr.Invalidf("invalid_kind", "线索类型无效，应为："+strings.Join(s.kinds, "、"), "kind %q: want one of %s", kind,
		strings.Join(s.kinds, ", "))
}

// MaxBytes is the largest file the service takes of any kind (the API's body limit for the
// import route).
func (s *Service) MaxBytes() int64 {
	var m int64
	for _, src := range s.sources {
		m = max(m, s.maxBytes(src))
	}
	return min(m, math.MaxInt64-1<<20) // the API adds room for a multipart envelope
}

// maxBytes is the size limit of src's files: its own when it is Limited, else Config.MaxBytes;
// 0 or less is none (tools and benchmarks).
func (s *Service) maxBytes(src Source) int64 {
	m := s.cfg.MaxBytes
	if l, ok := src.(Limited); ok && l.MaxBytes() > 0 {
		m = l.MaxBytes()
	}
	if m <= 0 {
		return math.MaxInt64
	}
	return m
}

// Import reads one file of kind as a stream (raw bytes: UTF-8 with or without BOM, or
// GBK/GB18030, detected as it goes, see Text) through its source and makes leads of what it
// finds, in tx as the caller (by; 0 for a tool). Memory does not grow with the file: the body is
// hashed, decoded and read by the source on the way through, never held (what a source keeps
// of it is its own rule). A body that fails — past the kind's size limit (413 file_too_large),
// an encoding error, a read error of the caller's — fails the import, and the caller's
// transaction takes nothing of it.
//
//   - the same file again (by SHA-256) adds nothing and answers AlreadyImported;
//   - every bad row is in the report's Errors with its line, code and zh-CN reason; the good
//     rows are imported (a file the source cannot read at all — missing columns — is refused);
//   - a candidate scored below MinScore is no lead; a source record imported before (kind +
//     SourceKey) adds nothing;
//   - a lead is placed from its position, else its premise's (sieve_locate); outside every
//     region it is refused (outside_city), outside the caller's area too (outside_scope);
//   - at the place (same premise, or within DedupMetres) of an open lead or an open site it is
//     kept as a duplicate; otherwise it is open and a task (kind lead) is added for its cell's
//     grid worker, due VerifyWithin from now.
//
// The leads and tasks are one bulk change (one summary audit entry).
func (s *Service) Import(ctx context.Context, tx pgx.Tx, kind, fileName string, body io.Reader, by int64) (ImportReport, error) {
	src, ok := s.sources[kind]
	if !ok {
		return ImportReport{}, s.errKind(kind)
	}
	rep := ImportReport{Kind: kind, Errors: []LineIssue{}, LeadIDs: []int64{}}
	hash := sha256.New()
	text := NewText(&capped{r: body, left: s.maxBytes(src), h: hash})
	if len([]rune(fileName)) > 300 {
		fileName = string([]rune(fileName)[:300])
	}
	cands, bad, err := src.Import(ctx, tx, Input{Name: fileName, Body: text})
	if err == nil { // the source may stop before the end: the hash is the whole file's
		_, err = io.Copy(io.Discard, text)
	}
	rep.Encoding = text.Encoding()
	switch {
	case text.Err() != nil: // the body's failure, not the source's making
		return rep, text.Err()
	case text.Blank():
		return rep, apperr.Invalidf("empty_file", "文件为空", "the file is empty")
	case err != nil:
		return rep, err
	}
	rep.SHA256 = hex.EncodeToString(hash.Sum(nil))
	// The import record lies in the importer's area (a coordinator's one scope path; NULL for
	// the city office and tools, whom sieve_in_scope lets see it). It is claimed once the file
	// is read (its hash is known only then); what the source staged is temporary and goes with
	// the transaction.
	const claim = `INSERT INTO lead_imports (kind, file_name, sha256, encoding, created_by, region_path)
		VALUES ($1, $2, $3, $4, nullif($5::bigint, 0), CASE WHEN NOT sieve_unrestricted() THEN (sieve_scope())[1] END)
		ON CONFLICT (kind, sha256) DO NOTHING RETURNING id`
	err = tx.QueryRow(ctx, claim, kind, fileName, rep.SHA256, rep.Encoding, by).Scan(&rep.ImportID)
	if errors.Is(err, pgx.ErrNoRows) {
		rep.AlreadyImported = true
		// The earlier import's id, when the caller may see it (another area's stays hidden).
		err := tx.QueryRow(ctx, `SELECT id FROM lead_imports WHERE kind = $1 AND sha256 = $2`, kind, rep.SHA256).Scan(&rep.ImportID)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return rep, fmt.Errorf("leads: import: %w", err)
		}
		return rep, nil
	}
	if err != nil {
		return rep, fmt.Errorf("leads: import: %w", db.MapError(err))
	}
	for _, b := range bad {
		rep.Errors = append(rep.Errors, LineIssue{Line: b.Line, Code: b.Code, Message: b.Message})
	}
	rep.Candidates = len(cands)
	summary := audit.Summary{Entity: "leads", Action: "import"}
	err = db.Bulk(ctx, tx, summary, func(sum *audit.Summary) error {
		if err := s.store(ctx, tx, kind, rep.ImportID, cands, by, &rep); err != nil {
			return err
		}
		sum.Counts = map[string]int64{"created": int64(rep.Created), "duplicates": int64(rep.Duplicates)}
		return nil
	})
	if err != nil {
		return rep, err
	}
	sort.SliceStable(rep.Errors, func(i, j int) bool { return rep.Errors[i].Line < rep.Errors[j].Line })
	rep.Refused = len(rep.Errors)
	const counts = `UPDATE lead_imports SET received = $2, created = $3, duplicates = $4, known = $5, refused = $6, below = $7
		WHERE id = $1`
	if _, err := tx.Exec(ctx, counts, rep.ImportID, rep.Candidates+rep.Refused, rep.Created, rep.Duplicates, rep.Known,
		rep.Refused, rep.BelowThreshold); err != nil {
		return rep, fmt.Errorf("leads: import: %w", err)
	}
	return rep, nil
}

// capped reads a file up to its size limit, hashing it: a byte past the limit fails the read
// with errTooBig.
type capped struct {
	r    io.Reader
	left int64 // bytes still allowed
	h    hash.Hash
}

func (c *capped) Read(p []byte) (int, error) {
	if c.left <= 0 {
		// One byte more tells a file of exactly the limit from a larger one.
		var one [1]byte
		if n, err := c.r.Read(one[:]); n > 0 {
			return 0, errTooBig
		} else if err != nil {
			return 0, err
		}
		return 0, nil
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	c.h.Write(p[:n])
	return n, err
}

// lineOf is the line a source put in a candidate's Detail (0 when none).
func lineOf(c Candidate) int {
	switch v := c.Detail["line"].(type) {
	case int:
		return v
	case int64:
		return int(v)
	case float64:
		return int(v)
	}
	return 0
}

// staged is a candidate of an import as the set-wise placement sees it.
type staged struct {
	c      Candidate
	line   int
	detail []byte
}

// store makes leads of the candidates set-wise, in a constant number of statements whatever
// their number (README "Bulk writes"): the candidates go into a temporary table with one COPY;
// one statement places them all (sieve_locate), finds the source records imported before, the
// open leads and sites of each place (the same premise, or within DedupMetres through
// sieve_cells_near: the tables' cell and premise indexes work under row-level security, their
// spatial ones would not) and inserts the leads; one query finds the new leads at each other's
// places, which are then resolved in file order exactly as one at a time would (a lead is a
// duplicate of the first earlier open one; a duplicate is no open lead for the next); and one
// statement each adds the open leads' tasks (tasks.Store.AddMany) and names them on the leads.
//
//   - threshold: a candidate scored below MinScore is no lead (BelowThreshold);
//   - known: a source record imported before, or twice in the file, adds nothing (Known);
//   - refused (by line): no_place, outside_city, outside_scope;
//   - duplicates are kept with the lead and the site they repeat; open leads get a task.
func (s *Service) store(ctx context.Context, tx pgx.Tx, kind string, importID int64, cands []Candidate, by int64,
	rep *ImportReport) error {
	var batch []staged
	seen := make(map[string]struct{}, len(cands))
	for _, c := range cands {
		if math.IsNaN(c.Score) || c.Score < s.cfg.MinScore {
			rep.BelowThreshold++
			continue
		}
		c.Score = min(c.Score, 1)
		c.Name, c.Address, c.SourceKey = clip(c.Name, 200), clip(c.Address, 300), strings.TrimSpace(c.SourceKey)
		if c.SourceKey == "" || utf8.RuneCountInString(c.SourceKey) > 200 {
			return fmt.Errorf("leads: source %s gave a candidate without a key (1-200 characters)", kind)
		}
		if _, dup := seen[c.SourceKey]; dup { // the first of the file took the key
			rep.Known++
			continue
		}
		seen[c.SourceKey] = struct{}{}
		if len(c.Reasons) > 20 {
			c.Reasons = c.Reasons[:20]
		}
		if c.Reasons == nil {
			c.Reasons = []string{}
		}
		detail := []byte("{}")
		if c.Detail != nil {
			var err error
			if detail, err = json.Marshal(c.Detail); err != nil {
				return fmt.Errorf("leads: detail of %s: %w", c.SourceKey, err)
			}
		}
		batch = append(batch, staged{c: c, line: lineOf(c), detail: detail})
	}
	if len(batch) == 0 {
		return nil
	}
	const create = `DROP TABLE IF EXISTS pg_temp.lead_candidates;
		CREATE TEMP TABLE lead_candidates (ord int PRIMARY KEY, source_key text NOT NULL, name text NOT NULL,
			address text NOT NULL, lon float8, lat float8, premise_id bigint, score float8 NOT NULL, reasons text[] NOT NULL,
			detail text NOT NULL) ON COMMIT DROP`
	if _, err := tx.Exec(ctx, create); err != nil {
		return fmt.Errorf("leads: stage candidates: %w", err)
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"lead_candidates"},
		[]string{"ord", "source_key", "name", "address", "lon", "lat", "premise_id", "score", "reasons", "detail"},
		pgx.CopyFromSlice(len(batch), func(i int) ([]any, error) {
			c := batch[i].c
			return []any{int32(i), c.SourceKey, c.Name, c.Address, c.Lon, c.Lat, c.PremiseID, c.Score, c.Reasons,
				string(batch[i].detail)}, nil
		}))
	if err != nil {
		return fmt.Errorf("leads: stage candidates: %w", db.MapError(err))
	}
	if _, err := tx.Exec(ctx, `ANALYZE lead_candidates`); err != nil { // the plan below joins by its size
		return fmt.Errorf("leads: stage candidates: %w", err)
	}
	// p: each candidate's point (its own, else its premise's, if the caller sees it), whether
	// its key is known, where sieve_locate puts it; d: the placeable ones with the open lead and
	// site of their place (as the table was before this statement); the INSERT takes those.
	const place = `WITH p AS MATERIALIZED (
			SELECT c.ord, c.source_key, c.name, c.address, c.premise_id, c.score, c.reasons, c.detail, pt.g,
				CASE WHEN pt.g IS NOT NULL THEN sieve_cells_near(pt.g, $2) END AS cells,
				EXISTS (SELECT 1 FROM leads k WHERE k.kind = $1 AND k.source_key = c.source_key) AS known,
				l.path IS NOT NULL AS located, coalesce(sieve_in_scope(l.path), false) AS in_scope
			FROM lead_candidates c
			CROSS JOIN LATERAL (SELECT coalesce(CASE WHEN c.lon IS NOT NULL THEN ST_SetSRID(ST_MakePoint(c.lon, c.lat), 4326) END,
				(SELECT pr.geom FROM premises pr WHERE pr.id = c.premise_id)) AS g) pt
			LEFT JOIN LATERAL sieve_locate(pt.g) l ON true),
		ok AS MATERIALIZED (
			-- box: a little more than DedupMetres around the point, a cheap first test before the exact one
			SELECT p.*, ST_Expand(p.g, 1.01 * $2 / (111320 * cos(radians(ST_Y(p.g)))), 1.01 * $2 / 110574) AS box
			FROM p WHERE NOT p.known AND p.g IS NOT NULL AND p.located AND p.in_scope),
		pc AS MATERIALIZED (SELECT ok.ord, unnest(ok.cells) AS cell FROM ok),
		lead_near AS (
			SELECT pc.ord, min(o.id) AS id FROM pc JOIN leads o ON o.cell_id = pc.cell AND o.status = 'open'
			JOIN ok ON ok.ord = pc.ord AND o.point && ok.box AND ST_DWithin(o.point::geography, ok.g::geography, $2) GROUP BY pc.ord
			UNION ALL
			SELECT ok.ord, min(o.id) FROM ok JOIN leads o ON o.premise_id = ok.premise_id AND o.status = 'open' GROUP BY ok.ord),
		site_near AS (
			SELECT pc.ord, min(st.id) AS id FROM pc JOIN sites st ON st.cell_id = pc.cell AND st.status NOT IN ('cleared', 'closed')
			JOIN ok ON ok.ord = pc.ord AND st.point && ok.box AND ST_DWithin(st.point::geography, ok.g::geography, $2) GROUP BY pc.ord
			UNION ALL
			SELECT ok.ord, min(st.id) FROM ok JOIN sites st ON st.premise_id = ok.premise_id AND st.status NOT IN ('cleared', 'closed')
			GROUP BY ok.ord),
		d AS MATERIALIZED (
			SELECT ok.ord, ok.source_key, ok.name, ok.address, ok.premise_id, ok.score, ok.reasons, ok.detail, ok.g,
				(SELECT min(x.id) FROM lead_near x WHERE x.ord = ok.ord) AS dup_lead,
				(SELECT min(x.id) FROM site_near x WHERE x.ord = ok.ord) AS dup_site
			FROM ok),
		ins AS (
			INSERT INTO leads (kind, source_key, import_id, status, name, address, point, premise_id, score, reasons, detail,
				duplicate_of, dup_site_id, created_by, due_at)
			SELECT $1, d.source_key, $3, CASE WHEN d.dup_lead IS NULL AND d.dup_site IS NULL THEN 'open' ELSE 'duplicate' END,
				d.name, d.address, d.g, d.premise_id, d.score, d.reasons, d.detail::jsonb, d.dup_lead, d.dup_site,
				nullif($4::bigint, 0), CASE WHEN d.dup_lead IS NULL AND d.dup_site IS NULL THEN $5::timestamptz END
			FROM d ORDER BY d.ord
			ON CONFLICT (kind, source_key) DO NOTHING
			RETURNING id, source_key, status)
		SELECT p.ord, p.known, p.g IS NOT NULL, coalesce(ST_X(p.g), 0), coalesce(ST_Y(p.g), 0), p.located, p.in_scope,
			ins.id, coalesce(ins.status, '')
		FROM p LEFT JOIN ins ON ins.source_key = p.source_key
		ORDER BY p.ord`
	due := s.now().Add(s.cfg.VerifyWithin)
	rows, err := tx.Query(ctx, place, kind, s.cfg.DedupMetres, importID, by, due)
	if err != nil {
		return fmt.Errorf("leads: place the candidates: %w", db.MapError(err))
	}
	type placed struct {
		ord             int32
		lon, lat        float64
		id              *int64
		status          string
		known, hasPoint bool
		located, scope  bool
	}
	var out []placed
	for rows.Next() {
		var r placed
		if err := rows.Scan(&r.ord, &r.known, &r.hasPoint, &r.lon, &r.lat, &r.located, &r.scope, &r.id, &r.status); err != nil {
			rows.Close()
			return fmt.Errorf("leads: place the candidates: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("leads: place the candidates: %w", db.MapError(err))
	}
	var fresh []int64 // the new leads, in file order
	byID := map[int64]int{}
	for i, r := range out {
		refuse := func(code, msg string) {
			rep.Errors = append(rep.Errors, LineIssue{Line: batch[r.ord].line, Code: code, Message: msg})
		}
		switch {
		case r.known: // imported before (from another file)
			rep.Known++
		case !r.hasPoint:
			refuse("no_place", "无位置，且匹配的场所不在您的区域内，无法落入网格")
		case !r.located:
			refuse("outside_city", fmt.Sprintf("位置（%.6f, %.6f）不在本市任何区域内", r.lon, r.lat))
		case !r.scope:
			refuse("outside_scope", "该位置不在您负责的区域内")
		case r.id == nil: // another area's lead has the key
			rep.Known++
		default:
			fresh = append(fresh, *r.id)
			byID[*r.id] = i
		}
	}
	// The new leads at each other's places: a is earlier in the file and open, b later and not
	// yet a duplicate of an earlier lead.
	if len(fresh) > 1 {
		const near = `WITH a AS MATERIALIZED (
				SELECT a.id, a.premise_id, a.point, sieve_cells_near(a.point, $2) AS cells FROM leads a
				WHERE a.id = ANY ($1::bigint[]) AND a.status = 'open'),
			fresh AS MATERIALIZED (SELECT unnest($1::bigint[]) AS id)
			SELECT DISTINCT a.id, b.id FROM a CROSS JOIN LATERAL (
				SELECT b.id, b.duplicate_of FROM leads b WHERE b.premise_id = a.premise_id
				UNION ALL
				SELECT b.id, b.duplicate_of FROM leads b WHERE b.cell_id = ANY (a.cells)
					AND ST_DWithin(b.point::geography, a.point::geography, $2)) b
			WHERE b.id <> a.id AND b.duplicate_of IS NULL AND b.id IN (SELECT id FROM fresh)`
		rows, err := tx.Query(ctx, near, fresh, s.cfg.DedupMetres)
		if err != nil {
			return fmt.Errorf("leads: leads at each other's places: %w", err)
		}
		earlier := map[int][]int{} // b → the a before it in the file
		for rows.Next() {
			var a, b int64
			if err := rows.Scan(&a, &b); err != nil {
				rows.Close()
				return fmt.Errorf("leads: leads at each other's places: %w", err)
			}
			if ia, ib := byID[a], byID[b]; ia < ib {
				earlier[ib] = append(earlier[ib], ia)
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("leads: leads at each other's places: %w", err)
		}
		// In file order, as one lead at a time: b repeats the first earlier lead still open.
		var ids, dups []int64
		for _, id := range fresh {
			ib := byID[id]
			as := earlier[ib]
			sort.Ints(as)
			for _, ia := range as {
				if out[ia].status == Open {
					out[ib].status = Duplicate
					ids, dups = append(ids, id), append(dups, *out[ia].id)
					break
				}
			}
		}
		if len(ids) > 0 {
			const mark = `UPDATE leads l SET status = 'duplicate', duplicate_of = u.dup, due_at = NULL
				FROM unnest($1::bigint[], $2::bigint[]) AS u(id, dup) WHERE l.id = u.id`
			if _, err := tx.Exec(ctx, mark, ids, dups); err != nil {
				return fmt.Errorf("leads: duplicates in the file: %w", err)
			}
		}
	}
	// The open leads' tasks, for their cells' grid workers, in one statement; then each lead
	// names its task, in one more.
	var open []int64
	var news []tasks.New
	for _, id := range fresh {
		r := out[byID[id]]
		rep.LeadIDs = append(rep.LeadIDs, id)
		if r.status != Open {
			rep.Duplicates++
			continue
		}
		rep.Created++
		c := batch[r.ord].c
		title := "核查线索：" + c.Name
		if c.Name == "" {
			title = "核查线索 #" + strconv.FormatInt(id, 10)
		}
		lon, lat := r.lon, r.lat
		open = append(open, id)
		news = append(news, tasks.New{Kind: tasks.Lead, Ref: taskRef(id), PremiseID: c.PremiseID, Lon: &lon, Lat: &lat,
			Title: title, Detail: strings.Join(c.Reasons, "；"), DueAt: &due, CreatedBy: by})
	}
	tids, err := s.tasks.AddMany(ctx, tx, tasks.Lead, news)
	if err != nil {
		return err
	}
	if len(open) > 0 {
		const link = `UPDATE leads l SET task_id = u.task FROM unnest($1::bigint[], $2::bigint[]) AS u(lead, task) WHERE l.id = u.lead`
		if _, err := tx.Exec(ctx, link, open, tids); err != nil {
			return fmt.Errorf("leads: tasks of the leads: %w", err)
		}
	}
	return nil
}

// taskRef is the ref of a lead's task (tasks of kind lead).
func taskRef(id int64) string { return strconv.FormatInt(id, 10) }

func clip(s string, n int) string {
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) > n {
		return string([]rune(s)[:n])
	}
	return s
}

const cols = `l.id, l.kind, l.source_key, l.import_id, l.status, l.name, l.address, ST_X(l.point), ST_Y(l.point), l.premise_id,
	l.cell_id, l.score, l.reasons, l.detail, l.duplicate_of, l.dup_site_id, l.site_id, l.task_id, l.due_at, l.outcome_reason,
	l.outcome_ref, l.outcome_by, l.outcome_at, l.created_at, l.updated_at`

func scan(r pgx.Row) (Lead, error) {
	var l Lead
	var score float32
	err := r.Scan(&l.ID, &l.Kind, &l.SourceKey, &l.ImportID, &l.Status, &l.Name, &l.Address, &l.Lon, &l.Lat, &l.PremiseID,
		&l.CellID, &score, &l.Reasons, &l.Detail, &l.DuplicateOf, &l.DupSiteID, &l.SiteID, &l.TaskID, &l.DueAt, &l.OutcomeReason,
		&l.OutcomeRef, &l.OutcomeBy, &l.OutcomeAt, &l.CreatedAt, &l.UpdatedAt)
	l.Score = math.Round(float64(score)*1000) / 1000
	if l.Reasons == nil {
		l.Reasons = []string{}
	}
	return l, err
}

// Get returns lead id if the caller may see it, or apperr.ErrNotFound.
func (s *Service) Get(ctx context.Context, q db.Querier, id int64) (Lead, error) {
	l, err := scan(q.QueryRow(ctx, `SELECT `+cols+` FROM leads l WHERE l.id = $1`, id))
	if err != nil {
		return Lead{}, fmt.Errorf("leads: get %d: %w", id, db.MapError(err))
	}
	return l, nil
}

// List returns the leads the caller may see that match f, by id.
func (s *Service) List(ctx context.Context, q db.Querier, f Filter) ([]Lead, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	const sql = `SELECT ` + cols + ` FROM leads l
		WHERE l.id > $1 AND ($2 = '' OR l.kind = $2) AND ($3 = '' OR l.status = $3)
		  AND ($4 = 0 OR l.region_path <@ (SELECT r.path FROM regions r WHERE r.id = $4))
		ORDER BY l.id LIMIT $5`
	rows, err := q.Query(ctx, sql, f.After, f.Kind, f.Status, f.RegionID, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("leads: list: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Lead, error) { return scan(r) })
	if err != nil {
		return nil, fmt.Errorf("leads: list: %w", err)
	}
	return out, nil
}

// ParseStatus checks a status name.
func ParseStatus(v string) (string, error) {
	switch v {
	case Open, Confirmed, Cleared, Duplicate:
		return v, nil
	}
	return "", fmt.Errorf("status must be open, confirmed, cleared or duplicate")
}

// HitRates counts, per source kind, what became of the leads the caller may see (inside
// region when not 0): every source of the service has a row, with zeros when it found nothing.
func (s *Service) HitRates(ctx context.Context, q db.Querier, regionID int64) ([]HitRate, error) {
	const sql = `SELECT l.kind, count(*) FILTER (WHERE l.status = 'open'), count(*) FILTER (WHERE l.status = 'confirmed'),
			count(*) FILTER (WHERE l.status = 'cleared'), count(*) FILTER (WHERE l.status = 'duplicate')
		FROM leads l WHERE ($1 = 0 OR l.region_path <@ (SELECT r.path FROM regions r WHERE r.id = $1))
		GROUP BY l.kind`
	rows, err := q.Query(ctx, sql, regionID)
	if err != nil {
		return nil, fmt.Errorf("leads: hit rates: %w", err)
	}
	defer rows.Close()
	by := map[string]HitRate{}
	for rows.Next() {
		var h HitRate
		if err := rows.Scan(&h.Kind, &h.Open, &h.Confirmed, &h.Cleared, &h.Duplicates); err != nil {
			return nil, fmt.Errorf("leads: hit rates: %w", err)
		}
		by[h.Kind] = h
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("leads: hit rates: %w", err)
	}
	kinds := append([]string{}, s.kinds...)
	for k := range by {
		if _, ok := s.sources[k]; !ok {
			kinds = append(kinds, k)
		}
	}
	sort.Strings(kinds)
	out := make([]HitRate, 0, len(kinds))
	for _, k := range kinds {
		h := by[k]
		h.Kind = k
		h.Leads = h.Open + h.Confirmed + h.Cleared
		if h.Leads > 0 {
			h.SiteShare = math.Round(float64(h.Confirmed)/float64(h.Leads)*10000) / 10000
		}
		out = append(out, h)
	}
	return out, nil
}

// Decide records a coordinator's outcome of open lead id: confirmed (the site given, which the
// caller must see, or a new site of source lead at the lead's place) or cleared with a reason.
// The lead's task is done. A lead decided before is ErrNotOpen.
func (s *Service) Decide(ctx context.Context, tx pgx.Tx, id int64, o Outcome, by int64) (Lead, error) {
	l, err := s.Get(ctx, tx, id)
	if err != nil {
		return Lead{}, err
	}
	o.Reason = strings.TrimSpace(o.Reason)
	switch o.Status {
	case Confirmed:
		if utf8.RuneCountInString(o.Reason) > 500 {
			return Lead{}, errReason
		}
	case Cleared:
		if o.Reason == "" || utf8.RuneCountInString(o.Reason) > 500 {
			return Lead{}, errReason
		}
	default:
		return Lead{}, errOutcome
	}
	if l.Status != Open {
		return Lead{}, ErrNotOpen
	}
	if o.Status == Cleared {
		return s.clear(ctx, tx, l, o.Reason, "", by)
	}
	return s.confirm(ctx, tx, l, o.SiteID, o.Reason, "", by)
}

// confirm makes open lead l confirmed with site siteID (nil: a new site of source lead).
func (s *Service) confirm(ctx context.Context, tx pgx.Tx, l Lead, siteID *int64, reason, ref string, by int64) (Lead, error) {
	if siteID != nil {
		if _, err := s.sites.Store.Get(ctx, tx, *siteID); err != nil {
			return Lead{}, err
		}
	} else {
		lon, lat := l.Lon, l.Lat
		note := "大数据线索（" + l.Kind + " #" + strconv.FormatInt(l.ID, 10) + "）：" + strings.Join(l.Reasons, "；")
		site, err := s.sites.Create(ctx, tx, sites.NewSite{Lon: &lon, Lat: &lat, Source: sites.FromLead,
			SourceRef: "lead:" + strconv.FormatInt(l.ID, 10), FirmName: clip(l.Name, 200), Address: clip(l.Address, 300),
			PremiseID: l.PremiseID, Note: clip(note, 2000)}, by)
		if err != nil {
			return Lead{}, err
		}
		siteID = &site.ID
	}
	if reason == "" {
		reason = "核查属实"
	}
	const sql = `UPDATE leads SET status = 'confirmed', site_id = $2, outcome_reason = $3, outcome_ref = $4,
			outcome_by = nullif($5::bigint, 0), outcome_at = now(), updated_at = now()
		WHERE id = $1 AND status = 'open'`
	if err := s.decided(ctx, tx, l, sql, *siteID, reason, ref, by); err != nil {
		return Lead{}, err
	}
	if err := s.closeTask(ctx, tx, l.ID, "site:"+strconv.FormatInt(*siteID, 10)); err != nil {
		return Lead{}, err
	}
	return s.Get(ctx, tx, l.ID)
}

// clear makes open lead l cleared with reason.
func (s *Service) clear(ctx context.Context, tx pgx.Tx, l Lead, reason, ref string, by int64) (Lead, error) {
	const sql = `UPDATE leads SET status = 'cleared', outcome_reason = $3, outcome_ref = $4,
			outcome_by = nullif($5::bigint, 0), outcome_at = now(), updated_at = now()
		WHERE id = $1 AND status = 'open' AND $2::bigint IS NULL`
	if err := s.decided(ctx, tx, l, sql, nil, reason, ref, by); err != nil {
		return Lead{}, err
	}
	done := "cleared"
	if ref != "" {
		done = ref
	}
	if err := s.closeTask(ctx, tx, l.ID, done); err != nil {
		return Lead{}, err
	}
	return s.Get(ctx, tx, l.ID)
}

func (s *Service) decided(ctx context.Context, tx pgx.Tx, l Lead, sql string, site any, reason, ref string, by int64) error {
	tag, err := tx.Exec(ctx, sql, l.ID, site, clip(reason, 500), clip(ref, 100), by)
	if err != nil {
		return fmt.Errorf("leads: decide %d: %w", l.ID, db.MapError(err))
	}
	if tag.RowsAffected() == 0 {
		return ErrNotOpen
	}
	return nil
}

// closeTask marks the lead's open task done; a task closed or gone already is no error.
func (s *Service) closeTask(ctx context.Context, tx pgx.Tx, id int64, doneRef string) error {
	_, err := s.tasks.Close(ctx, tx, tasks.Lead, taskRef(id), doneRef, false)
	if err != nil && !errors.Is(err, apperr.ErrNotFound) && !errors.Is(err, tasks.ErrNotOpen) {
		return err
	}
	return nil
}
