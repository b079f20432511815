// Package reports holds the monthly filings (月度报送) of the ledgers 附件2 and 附件3 and the
// final report (总结报告), their deadlines (每月22日前, the final report 10月22日前, §三(二)(三)
// of the seed), and the background exports of ledgers too large to answer in one request (the
// whole city's workbook).
//
// A filing freezes both ledgers as internal/ledgers renders them at filing time, under the
// filer's scope, and stores them in MinIO with their SHA-256; a download serves the stored bytes
// after checking the hash, so later edits of the data never change a filed report. The
// coordinator attaches the scan of the stamped sheets (盖章扫描件) afterwards. A correction is a
// new filing that supersedes the one in force; both stay downloadable. Every object is written
// before the row that names it, under a key nobody names until the transaction commits; the
// periodic cleanup (report_cleanup) removes objects that no row names and expired exports.
//
// The service owns I/O (MinIO, the job queue) and opens short transactions acting as the
// caller; the Store holds the SQL. Deadlines are pure (deadlines.go) and take the injected clock.
package reports

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/blob"
	"github.com/sieve-city/sieve/internal/chinatime"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/jobs"
	"github.com/sieve-city/sieve/internal/ledgers"
)

// Renderer makes one ledger in the caller's transaction (whose row-level security decides what
// it shows). Ledgers adapts internal/ledgers to it.
type Renderer interface {
	Render(ctx context.Context, q db.Querier, req ledgers.Request) (ledgers.File, error)
	// Appendix reads 附件2 of req with its photo appendix (照片附件) in the caller's transaction.
	Appendix(ctx context.Context, q db.Querier, req ledgers.Request) (*ledgers.Appendix, error)
}

// Ledgers is the real renderer: internal/ledgers bound to the caller's transaction.
type Ledgers struct{ Service *ledgers.Service }

// Render renders req with the ledgers service bound to q.
func (l Ledgers) Render(ctx context.Context, q db.Querier, req ledgers.Request) (ledgers.File, error) {
	return l.Service.In(q).Render(ctx, req)
}

// Appendix reads req's photo appendix with the ledgers service bound to q.
func (l Ledgers) Appendix(ctx context.Context, q db.Querier, req ledgers.Request) (*ledgers.Appendix, error) {
	return l.Service.In(q).RenderAppendix(ctx, req)
}

// Config holds what an installation may tune.
type Config struct {
	Schedule Schedule
	// ScanMaxBytes bounds the scan or photo of the stamped sheets (413 scan_too_large past it).
	ScanMaxBytes int64
	// LinkTTL is how long an export's download link works.
	LinkTTL time.Duration
	// ExportRetention is how long a finished export's file is kept.
	ExportRetention time.Duration
	// OrphanGrace is how old an object no row names must be before the cleanup removes it (a
	// filing in flight writes its objects before its row).
	OrphanGrace time.Duration
	// CleanupEvery is how often the cleanup job runs.
	CleanupEvery time.Duration
	// ExportTimeout is the timeout of one export job (the job queue's, set where the queue is
	// wired): a whole city's photo appendix copies thousands of thumbnails. A crashed worker's
	// export is run again only after it (River's rescuer waits for a job's own timeout).
	ExportTimeout time.Duration
}

// DefaultConfig returns the defaults: the seed's schedule, scans up to 20 MB, links for 15
// minutes, exports kept a day, orphans removed after an hour, the cleanup hourly, 30 minutes
// for an export.
func DefaultConfig() Config {
	return Config{Schedule: DefaultSchedule(), ScanMaxBytes: 20 << 20, LinkTTL: 15 * time.Minute,
		ExportRetention: 24 * time.Hour, OrphanGrace: time.Hour, CleanupEvery: time.Hour, ExportTimeout: 30 * time.Minute}
}

// Deps is what the service needs.
type Deps struct {
	Pool    *pgxpool.Pool
	Blob    *blob.Store
	Ledgers Renderer
	Jobs    jobs.Enqueuer
	Now     func() time.Time // the clock (time.Now outside tests)
	Log     *slog.Logger
}

// Service is the filings and exports domain.
type Service struct {
	pool    *pgxpool.Pool
	blob    *blob.Store
	ledgers Renderer
	jobs    jobs.Enqueuer
	now     func() time.Time
	log     *slog.Logger
	cfg     Config
	store   Store
}

// New returns the service.
func New(d Deps, cfg Config) (*Service, error) {
	if d.Pool == nil || d.Blob == nil || d.Ledgers == nil || d.Jobs == nil {
		return nil, errors.New("reports: New needs a pool, a blob store, a ledger renderer and a job queue")
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	return &Service{pool: d.Pool, blob: d.Blob, ledgers: d.Ledgers, jobs: d.Jobs, now: d.Now, log: d.Log, cfg: cfg}, nil
}

// Config returns the service's settings.
func (s *Service) Config() Config { return s.cfg }

// Now is the service's clock.
func (s *Service) Now() time.Time { return s.now() }

// Parts of a filing.
const (
	PartIllegal = "illegal" // 附件2, frozen at filing time
	PartExited  = "exited"  // 附件3, frozen at filing time
	PartScan    = "scan"    // the scan or photo of the stamped sheets
)

// Filing is one filing of a township's month (报送记录).
type Filing struct {
	ID           int64      `json:"id"`
	TownshipID   int64      `json:"townshipId"`
	TownshipName string     `json:"townshipName"`
	Month        string     `json:"month"`
	Kind         Kind       `json:"kind"`
	Summary      string     `json:"summary"`
	SupersedesID *int64     `json:"supersedesId"`
	SupersededBy *int64     `json:"supersededBy"`
	InForce      bool       `json:"inForce"`
	FiledBy      int64      `json:"filedBy"`
	FiledAt      time.Time  `json:"filedAt"`
	Deadline     time.Time  `json:"deadline"`
	OnTime       bool       `json:"onTime"`
	Files        []FileInfo `json:"files"`
	requestHash  string
}

// FileInfo describes a stored file of a filing.
type FileInfo struct {
	Part        string    `json:"part"`
	Name        string    `json:"name"`
	ContentType string    `json:"contentType"`
	Size        int64     `json:"size"`
	SHA256      string    `json:"sha256"`
	AddedAt     time.Time `json:"addedAt"`
	objectKey   string
}

// FilingRequest asks to file a township's month (or to correct the filing in force).
type FilingRequest struct {
	TownshipID int64  `json:"township"`
	Month      string `json:"month"`
	Kind       string `json:"kind,omitempty"`       // monthly (default) | final
	Summary    string `json:"summary,omitempty"`    // the final report's written summary (书面报告)
	Supersedes int64  `json:"supersedes,omitempty"` // the filing in force that this one corrects
}

// The public errors of this package. Codes are part of the API contract.
var (
	errTownship     = apperr.Invalidf("township_required", "请指定乡镇（街道）", "township must name a township or street")
	errKind         = apperr.Invalidf("invalid_kind", "报送类型应为 monthly 或 final", "kind must be monthly or final")
	errFinalMonth   = apperr.Invalidf("invalid_final_month", "总结报告的月份应为报送截止所在月（10月）", "a final report is filed for the month of its deadline (October)")
	errSummary      = apperr.Invalidf("summary_required", "总结报告须附书面总结（1-20000字）", "a final report needs a written summary of 1-20000 characters")
	errSummaryLen   = apperr.Invalidf("summary_too_long", "说明不能超过20000字", "summary is at most 20000 characters")
	ErrAlreadyFiled = apperr.New(http.StatusConflict, "already_filed", "this month is filed already; file a correction (supersedes) instead",
		"本月已报送，如需更正请提交更正报送（supersedes）")
	ErrNotInForce = apperr.New(http.StatusConflict, "not_in_force", "only the filing in force can be corrected",
		"只能更正现行有效的报送")
	errOtherMonth = apperr.Invalidf("supersedes_other_filing", "更正须针对同一乡镇、同一月份、同一类型的报送",
		"a correction is of the same township, month and kind as the filing it supersedes")
	ErrKeyReused = apperr.Invalidf("idempotency_key_reused", "该 Idempotency-Key 已用于另一请求",
		"the Idempotency-Key was used for another request")
	ErrScanTooLarge = apperr.New(http.StatusRequestEntityTooLarge, "scan_too_large", "the scan is too large",
		"扫描件过大")
	ErrScanType = apperr.New(http.StatusUnsupportedMediaType, "unsupported_scan_type",
		"the scan must be a JPEG, PNG or PDF file", "扫描件须为 JPEG、PNG 或 PDF 文件")
	ErrScanCorrupt = apperr.Invalidf("corrupt_scan", "扫描件文件已损坏或不完整", "the scan file is damaged or incomplete")
	ErrScanEmpty   = apperr.New(http.StatusBadRequest, "empty_body", "request body is empty", "请求内容为空")
	ErrScanExists  = apperr.New(http.StatusConflict, "scan_already_attached",
		"this filing has its scan; file a correction to send another", "该报送已附盖章扫描件，如需更换请提交更正报送")
	ErrFileDamaged = apperr.New(http.StatusInternalServerError, "report_file_damaged",
		"the stored file does not match its recorded SHA-256", "存档文件与登记的校验值不符")
	ErrStorage = apperr.New(http.StatusServiceUnavailable, "storage_unavailable",
		"the file store is unavailable; nothing was filed, try again later", "文件存储暂时不可用，本次未保存，请稍后重试")
)

// validate checks a request and returns its kind and month.
func (r *FilingRequest) validate(sc Schedule) (Kind, Month, error) {
	if r.TownshipID <= 0 {
		return "", Month{}, errTownship
	}
	if r.Kind == "" {
		r.Kind = string(Monthly)
	}
	k, err := ParseKind(r.Kind)
	if err != nil {
		return "", Month{}, errKind
	}
	m, err := ParseMonth(r.Month)
	if err != nil {
		return "", Month{}, err
	}
	r.Summary = strings.TrimSpace(r.Summary)
	if !utf8.ValidString(r.Summary) {
		return "", Month{}, errSummary
	}
	n := utf8.RuneCountInString(r.Summary)
	switch {
	case k == Final && m.Month != sc.FinalMonth:
		return "", Month{}, errFinalMonth
	case k == Final && (n == 0 || n > 20000):
		return "", Month{}, errSummary
	case n > 20000:
		return "", Month{}, errSummaryLen
	}
	return k, m, nil
}

// hash is the request's fingerprint: the same request sent again has the same one.
func (r FilingRequest) hash() string {
	b, _ := json.Marshal(r)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// File files a township's month: it renders 附件2 and 附件3 under the caller's scope, stores
// them and records the filing with their hashes. The same request again (by Idempotency-Key, or
// the same content for the same month) answers the filing it made, created false; a second,
// different first filing is 409 already_filed, a correction of a filing no longer in force 409
// not_in_force.
func (s *Service) File(ctx context.Context, a db.Actor, r FilingRequest, key string) (Filing, bool, error) {
	kind, month, err := r.validate(s.cfg.Schedule)
	if err != nil {
		return Filing{}, false, err
	}
	reqHash := r.hash()
	now := s.now()
	var prior *Filing
	var rendered [2]ledgers.File
	err = db.ReadInScope(ctx, s.pool, a, func(tx pgx.Tx) error {
		var err error
		prior, err = s.earlier(ctx, tx, a, r, kind, key, reqHash)
		if err != nil || prior != nil {
			return err
		}
		for i, lk := range []ledgers.Kind{ledgers.Illegal, ledgers.Exited} {
			rendered[i], err = s.ledgers.Render(ctx, tx, ledgers.Request{Kind: lk, TownshipID: r.TownshipID,
				Month: month.String(), Format: "xlsx", FiledOn: now.In(chinatime.Zone)})
			if err != nil {
				return fmt.Errorf("reports: render %s: %w", lk, err)
			}
		}
		return nil
	})
	if err != nil {
		return Filing{}, false, err
	}
	if prior != nil {
		return *prior, false, nil
	}
	// The objects first, under fresh keys that no row names until the filing commits.
	prefix := fmt.Sprintf("reports/%d/%s/%s", r.TownshipID, month, newToken())
	files := make([]FileInfo, 0, 2)
	for i, part := range []string{PartIllegal, PartExited} {
		f := rendered[i]
		fi := FileInfo{Part: part, Name: f.Name, ContentType: f.ContentType, Size: int64(len(f.Body)),
			SHA256: sum(f.Body), AddedAt: now, objectKey: prefix + "-" + part + extension(f.Name, f.ContentType)}
		if err := s.put(ctx, s.blob.BucketMedia, fi.objectKey, f.Body, fi.ContentType); err != nil {
			s.remove(s.blob.BucketMedia, keysOf(files)...)
			return Filing{}, false, err
		}
		files = append(files, fi)
	}
	var out Filing
	err = db.InScope(ctx, s.pool, a, func(tx pgx.Tx) error {
		var sup *int64
		if r.Supersedes != 0 {
			sup = &r.Supersedes
		}
		id, err := s.store.insertFiling(ctx, tx, filingRow{townshipID: r.TownshipID, month: month.String(), kind: kind,
			summary: r.Summary, supersedes: sup, filedBy: a.UserID, filedAt: now, requestHash: reqHash, key: key})
		if err != nil {
			return err
		}
		for _, f := range files {
			if err := s.store.insertFile(ctx, tx, id, f, a.UserID); err != nil {
				return err
			}
		}
		out, err = s.store.get(ctx, tx, id)
		return err
	})
	if err != nil {
		s.remove(s.blob.BucketMedia, keysOf(files)...)
		if errors.Is(err, apperr.ErrConflict) {
			// A twin request committed first (a retry racing the original): answer with it.
			var again *Filing
			lookErr := db.ReadInScope(ctx, s.pool, a, func(tx pgx.Tx) error {
				var err error
				again, err = s.earlier(ctx, tx, a, r, kind, key, reqHash)
				return err
			})
			if lookErr != nil {
				return Filing{}, false, lookErr
			}
			if again != nil {
				return *again, false, nil
			}
		}
		return Filing{}, false, err
	}
	s.decorate(&out)
	return out, true, nil
}

// earlier finds what an earlier identical request filed (nil: nothing, file anew), and checks
// the township and the correction's place in its chain.
func (s *Service) earlier(ctx context.Context, tx pgx.Tx, a db.Actor, r FilingRequest, kind Kind, key, reqHash string) (*Filing, error) {
	same := func(f Filing) *Filing {
		s.decorate(&f)
		return &f
	}
	if key != "" {
		f, err := s.store.byKey(ctx, tx, a.UserID, key)
		switch {
		case err == nil && f.requestHash == reqHash:
			return same(f), nil
		case err == nil:
			return nil, ErrKeyReused
		case !errors.Is(err, apperr.ErrNotFound):
			return nil, err
		}
	}
	if err := s.store.township(ctx, tx, r.TownshipID); err != nil {
		return nil, err
	}
	if r.Supersedes == 0 {
		f, err := s.store.first(ctx, tx, r.TownshipID, r.Month, kind)
		switch {
		case errors.Is(err, apperr.ErrNotFound):
			return nil, nil
		case err != nil:
			return nil, err
		case f.requestHash == reqHash:
			return same(f), nil
		}
		return nil, ErrAlreadyFiled
	}
	old, err := s.store.get(ctx, tx, r.Supersedes)
	if err != nil {
		return nil, err
	}
	if old.TownshipID != r.TownshipID || old.Month != r.Month || old.Kind != kind {
		return nil, errOtherMonth
	}
	if old.SupersededBy == nil {
		return nil, nil
	}
	next, err := s.store.get(ctx, tx, *old.SupersededBy)
	if err != nil {
		return nil, err
	}
	if next.requestHash == reqHash {
		return same(next), nil
	}
	return nil, ErrNotInForce
}

// decorate adds what follows from the schedule.
func (s *Service) decorate(f *Filing) {
	m, err := ParseMonth(f.Month)
	if err != nil {
		return
	}
	f.Deadline = s.cfg.Schedule.Due(m)
	f.OnTime = f.FiledAt.Before(f.Deadline)
	if f.Files == nil {
		f.Files = []FileInfo{}
	}
}

// Get returns a filing in the caller's scope.
func (s *Service) Get(ctx context.Context, a db.Actor, id int64) (Filing, error) {
	var f Filing
	err := db.ReadInScope(ctx, s.pool, a, func(tx pgx.Tx) error {
		var err error
		f, err = s.store.get(ctx, tx, id)
		return err
	})
	s.decorate(&f)
	return f, err
}

// Filter selects filings; zero fields select everything in the caller's scope.
type Filter struct {
	TownshipID int64
	Month      string
	Kind       Kind
	After      int64
	Limit      int
}

// List returns filings in the caller's scope, oldest first, after Filter.After.
func (s *Service) List(ctx context.Context, a db.Actor, f Filter) ([]Filing, error) {
	var out []Filing
	err := db.ReadInScope(ctx, s.pool, a, func(tx pgx.Tx) error {
		var err error
		out, err = s.store.list(ctx, tx, f)
		return err
	})
	for i := range out {
		s.decorate(&out[i])
	}
	return out, err
}

// Open returns one stored file of a filing, after checking its bytes against the SHA-256
// recorded at filing time (a mismatch is 500 report_file_damaged, logged).
func (s *Service) Open(ctx context.Context, a db.Actor, id int64, part string) (FileInfo, []byte, error) {
	var fi FileInfo
	err := db.ReadInScope(ctx, s.pool, a, func(tx pgx.Tx) error {
		var err error
		fi, err = s.store.file(ctx, tx, id, part)
		return err
	})
	if err != nil {
		return fi, nil, err
	}
	body, err := s.get(ctx, s.blob.BucketMedia, fi.objectKey, fi.Size)
	if err != nil {
		return fi, nil, err
	}
	if int64(len(body)) != fi.Size || sum(body) != fi.SHA256 {
		s.log.Error("reports: stored file does not match its hash", "filing", id, "part", part, "key", fi.objectKey,
			"size", len(body), "want_size", fi.Size)
		return fi, nil, ErrFileDamaged
	}
	return fi, body, nil
}

// Store holds the SQL of filings and exports. Its methods take the caller's transaction.
type Store struct{}
