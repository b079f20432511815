package tips

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sieve-city/sieve/gis"
	"github.com/sieve-city/sieve/internal/accounts"
	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/media"
	"github.com/sieve-city/sieve/internal/sites"
	"github.com/sieve-city/sieve/internal/tasks"
	"github.com/sieve-city/sieve/internal/throttle"
)

// Deps is what the tips domain needs.
type Deps struct {
	Pool  *pgxpool.Pool
	Media *media.Service // photos: the upload checks and MinIO (nil: tips without photos only)
	Sites *sites.Service // sites opened from tips
	Now   func() time.Time
	Log   *slog.Logger // nil: slog.Default()
}

// Service is the tips domain: the intake, the public status, the handlers' moves, sites from
// tips and the credit listing.
type Service struct {
	Store  Store
	cfg    Config
	pool   *pgxpool.Pool
	media  *media.Service
	sites  *sites.Service
	tasks  tasks.Store
	now    func() time.Time
	logger *slog.Logger
}

// New returns the tips service.
func New(d Deps, cfg Config) (*Service, error) {
	if err := cfg.Reward.Check(); err != nil {
		return nil, err
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Sites == nil {
		d.Sites = sites.New(sites.DefaultConfig(), d.Now)
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	return &Service{cfg: cfg, pool: d.Pool, media: d.Media, sites: d.Sites, now: d.Now, logger: d.Log}, nil
}

func (s *Service) log() *slog.Logger { return s.logger }

// Config returns the service's configuration.
func (s *Service) Config() Config { return s.cfg }

// The public errors of this package.
var (
	errDescription = apperr.Invalidf("invalid_description", "请填写举报内容（1-2000字）", "description must be 1-2000 characters")
	errPlace       = apperr.Invalidf("place_required", "请在地图上选点或填写地址", "a tip needs a map point (lon, lat) or an address")
	errAddress     = apperr.Invalidf("invalid_address", "地址过长（最多300字）", "address must be at most 300 characters")
	errName        = apperr.Invalidf("invalid_name", "姓名过长（最多50字）", "name must be at most 50 characters")
	errPhone       = apperr.Invalidf("invalid_phone", "电话号码无效", "phone must be 5-30 digits, spaces, + or -")
	errTooMany     = apperr.New(http.StatusRequestEntityTooLarge, "too_many_photos", "too many photos for one tip", "照片数量超过上限")
	// ErrThrottled answers a client that posted too many tips (429, with Retry-After).
	ErrThrottled = apperr.New(http.StatusTooManyRequests, "too_many_tips",
		"too many tips from this address or device; try again later", "举报过于频繁，请稍后再试")
	errReason     = apperr.Invalidf("reason_required", "请填写理由", "this move needs a reason (1-500 characters)")
	errNote       = apperr.Invalidf("invalid_public_note", "公开说明过长（最多500字）", "publicNote must be at most 500 characters")
	errDupOf      = apperr.Invalidf("invalid_duplicate_of", "请指定更早的、非重复的原举报", "duplicateOf must name an earlier tip that is not itself a duplicate or invalid")
	errFine       = apperr.Invalidf("invalid_fine", "请填写罚款金额（元，最多两位小数）", "fineYuan must be an amount in yuan ≥ 0 with at most two decimals")
	errPayment    = apperr.Invalidf("payment_ref_required", "请填写发放凭证号", "paymentRef (1-100 characters) is required to record the payment")
	errStatusWord = apperr.Invalidf("invalid_status", "状态无效", "unknown status")
	// ErrNotFirst answers a reward proposed for a tip whose place an earlier valid tip reported.
	ErrNotFirst = apperr.New(http.StatusConflict, "not_first_reporter",
		"an earlier valid tip reported the same place: only the first reporter is rewarded", "同一地点已有更早的属实举报，仅奖励首位举报人")
	errNoPoint = apperr.New(http.StatusConflict, "tip_without_place",
		"the tip has no map point: give lon and lat when verifying it", "该举报没有地图位置，请在核实时补充经纬度")
	errHasSite  = apperr.New(http.StatusConflict, "tip_has_site", "a site was opened from this tip already", "该举报已转为疑似点位")
	errNotValid = apperr.New(http.StatusConflict, "tip_not_valid", "only a tip verified as valid becomes a site", "仅核实属实的举报可转为疑似点位")
)

// Intake is one tip being posted: its claim on the rate limits and the photos stored so far.
// Abort undoes what a failed intake left (photos; the claim only for a failure of the server).
type Intake struct {
	s         *Service
	keys      []string
	at        time.Time
	photos    []media.Screened
	submitted bool
}

// Begin claims a tip against the limits of the client's address and device (the one throttle,
// internal/throttle, as logins use it): past PerHour or PerDay of either, ErrThrottled with the
// wait. Every attempt counts, whether or not it ends as a stored tip (as a login attempt does),
// except those the server fails (Abort with serverFault).
func (s *Service) Begin(ctx context.Context, c Client) (*Intake, error) {
	keys := []string{"tip-addr:" + c.Addr}
	if c.Device != "" {
		sum := sha256.Sum256([]byte(c.Device))
		keys = append(keys, "tip-device:"+hex.EncodeToString(sum[:16]))
	}
	var rules []throttle.Rule
	for _, k := range keys {
		rules = append(rules, s.cfg.throttleRules(k)...)
	}
	at := s.now()
	err := db.AsSystem(ctx, s.pool, "tips", func(tx pgx.Tx) error { return throttle.Claim(ctx, tx, keys[0], rules, keys, at) })
	var th throttle.ErrThrottled
	if errors.As(err, &th) {
		return nil, Throttled{th}
	}
	if err != nil {
		return nil, err
	}
	return &Intake{s: s, keys: keys, at: at}, nil
}

// Throttled is ErrThrottled with the wait, for the Retry-After header.
type Throttled struct{ throttle.ErrThrottled }

func (t Throttled) Error() string { return "tips: throttled" }

// Unwrap gives the public error (429 too_many_tips).
func (t Throttled) Unwrap() error { return ErrThrottled }

// AddPhoto checks and stores one photo of the tip (media.StoreScreened: the checks of every
// upload). Past MaxPhotos it answers 413 too_many_photos.
func (in *Intake) AddPhoto(ctx context.Context, r io.Reader) error {
	if in.s.media == nil {
		return apperr.New(http.StatusServiceUnavailable, "photos_unavailable", "photos cannot be stored now", "暂时无法上传照片")
	}
	if len(in.photos) >= in.s.cfg.MaxPhotos {
		return errTooMany
	}
	st, err := in.s.media.StoreScreened(ctx, r, photoPrefix, in.s.cfg.PhotoMaxBytes)
	if err != nil {
		return err
	}
	in.photos = append(in.photos, st)
	return nil
}

// Abort removes the photos of an intake that did not end as a stored tip, and takes its claim
// back when the failure was the server's (the reporter should not pay for it). After Submit
// succeeded it does nothing.
func (in *Intake) Abort(serverFault bool) {
	if in.submitted {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if len(in.photos) > 0 && in.s.media != nil {
		keys := make([]string, len(in.photos))
		for i, p := range in.photos {
			keys[i] = p.Key
		}
		in.s.media.RemoveScreened(ctx, keys...)
		in.photos = nil
	}
	if serverFault {
		_ = db.AsSystem(ctx, in.s.pool, "tips", func(tx pgx.Tx) error {
			for _, k := range in.keys {
				if err := throttle.Release(ctx, tx, k, in.at); err != nil {
					return err
				}
			}
			return nil
		})
	}
}

// Submit checks the tip and stores it with its contact and photos, places it, hands it to its
// cell's grid worker as a task, and returns its tracking code (shown once: only its hash is
// kept). It acts as the system (nobody is logged in). The reporter's address is not recorded
// with the rows (the audit entries of a tip are read by its township's coordinators, and a
// reporter's identity is kept from them, 举报人信息保密); only the throttle's keys hold it, which
// nobody but the system reads.
func (in *Intake) Submit(ctx context.Context, sub Submission, requestID string) (string, Tip, error) {
	n, err := in.s.check(sub)
	if err != nil {
		return "", Tip{}, err
	}
	n.photos = in.photos
	code, err := NewCode()
	if err != nil {
		return "", Tip{}, err
	}
	n.codeHash = HashCode(code)
	a := db.System("tips")
	a.RequestID = requestID
	var t Tip
	err = db.InScope(ctx, in.s.pool, a, func(tx pgx.Tx) error {
		var err error
		if t, err = in.s.Store.insert(ctx, tx, n, in.s.cfg); err != nil {
			return err
		}
		// Each photo becomes a medium of source tip with the tip's path, its jobs enqueued here
		// (they run if and only if the tip commits).
		for _, p := range n.photos {
			id, err := in.s.media.RecordTipPhoto(ctx, tx, p, t.regionPath)
			if err != nil {
				return err
			}
			if err := in.s.Store.addPhoto(ctx, tx, t.ID, p, &id); err != nil {
				return err
			}
		}
		if err := in.s.Store.addEvent(ctx, tx, t.ID, nil, Received, "", map[string]any{"photos": len(n.photos)}, 0); err != nil {
			return err
		}
		if t.CellID == nil {
			return nil // no cell (an address only, or outside every cell): the city places it
		}
		_, err = in.s.tasks.Add(ctx, tx, verifyTask(t, in.s.now().Add(time.Duration(in.s.cfg.VerifyDays)*24*time.Hour)))
		return err
	})
	if err != nil {
		return "", Tip{}, err
	}
	in.submitted = true
	return code, t, nil
}

func taskRef(id int64) string { return "tip:" + strconv.FormatInt(id, 10) }

// verifyTask is the grid worker's task to check tip t by due (核查群众举报), at the tip's place.
func verifyTask(t Tip, due time.Time) tasks.New {
	return tasks.New{Kind: tasks.Tip, Ref: taskRef(t.ID), Lon: t.Lon, Lat: t.Lat, Title: "核查群众举报", Detail: t.Description,
		DueAt: &due}
}

// check validates a submission.
func (s *Service) check(sub Submission) (newTip, error) {
	n := newTip{description: strings.TrimSpace(sub.Description), address: strings.TrimSpace(sub.Address), crs: "wgs84"}
	if l := utf8.RuneCountInString(n.description); l < 1 || l > 2000 {
		return n, errDescription
	}
	if utf8.RuneCountInString(n.address) > 300 {
		return n, errAddress
	}
	if sub.Lon != nil || sub.Lat != nil {
		if sub.Lon == nil || sub.Lat == nil {
			return n, errPlace
		}
		lon, lat, err := sites.ToWGS84(*sub.Lon, *sub.Lat, sub.CRS)
		if err != nil {
			return n, err
		}
		n.lon, n.lat = &lon, &lat
		if c, err := gis.ParseCRS(sub.CRS); err == nil {
			n.crs = string(c)
		}
	} else if n.address == "" {
		return n, errPlace
	}
	name, phone := strings.TrimSpace(sub.Name), strings.TrimSpace(sub.Phone)
	if utf8.RuneCountInString(name) > 50 {
		return n, errName
	}
	if phone != "" && !phoneLike(phone) {
		return n, errPhone
	}
	if name != "" || phone != "" {
		n.contact = &Contact{Name: name, Phone: phone}
	}
	return n, nil
}

func phoneLike(p string) bool {
	digits := 0
	for _, r := range p {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == ' ' || r == '-' || r == '+':
		default:
			return false
		}
	}
	return digits >= 5 && len(p) <= 30
}

// Status answers the public status call: one lookup of the code's hash on the unique index,
// acting as the system, the same statements whether the code is right or wrong (a wrong one
// is apperr.ErrNotFound).
func (s *Service) Status(ctx context.Context, code string) (PublicStatus, error) {
	var out PublicStatus
	err := db.ReadInScope(ctx, s.pool, db.System("tips"), func(tx pgx.Tx) error {
		var err error
		out, err = s.status(ctx, tx, code)
		return err
	})
	return out, err
}

func (s *Service) status(ctx context.Context, q db.Querier, code string) (PublicStatus, error) {
	_, p, err := s.Store.PublicStatus(ctx, q, HashCode(code))
	return p, err
}

// Caller is who acts on a tip: their user id and role (a move's permission is checked
// against the role, its area by row-level security).
type Caller struct {
	UserID int64
	Role   accounts.Role
}

// Move is a step of a tip's workflow as a handler sends it. Reason is required for invalid
// and reward_rejected; DuplicateOf for duplicate; FineYuan for reward_proposed; PaymentRef
// for reward_paid. A tip with no map point may be given one (Lon, Lat in CRS) when verified.
type Move struct {
	To          Status   `json:"to"`
	Reason      string   `json:"reason"`
	PublicNote  *string  `json:"publicNote"`
	DuplicateOf *int64   `json:"duplicateOf"`
	FineYuan    *float64 `json:"fineYuan"`
	PaymentRef  string   `json:"paymentRef"`
	Lon         *float64 `json:"lon"`
	Lat         *float64 `json:"lat"`
	CRS         string   `json:"crs"`
}

// Move changes tip id's status by the workflow (transitions.go), records the step in
// tip_events, and closes the grid worker's task once the tip is verified.
func (s *Service) Move(ctx context.Context, q db.Querier, id int64, m Move, c Caller) (Tip, error) {
	t, err := s.Store.lock(ctx, q, id)
	if err != nil {
		return Tip{}, err
	}
	if !m.To.valid() {
		return Tip{}, errStatusWord
	}
	if err := mayMove(c.Role, t.Status, m.To); err != nil {
		return Tip{}, err
	}
	reason := strings.TrimSpace(m.Reason)
	if utf8.RuneCountInString(reason) > 500 {
		return Tip{}, errReason
	}
	if m.PublicNote != nil && utf8.RuneCountInString(*m.PublicNote) > 500 {
		return Tip{}, errNote
	}
	ch := change{to: m.To, publicNote: m.PublicNote}
	if reason != "" {
		ch.reason = &reason
	}
	detail := map[string]any{}
	switch m.To {
	case Valid:
		if m.Lon != nil || m.Lat != nil {
			if m.Lon == nil || m.Lat == nil {
				return Tip{}, errPlace
			}
			lon, lat, err := sites.ToWGS84(*m.Lon, *m.Lat, m.CRS)
			if err != nil {
				return Tip{}, err
			}
			ch.lon, ch.lat = &lon, &lat
			detail["lon"], detail["lat"] = lon, lat
		}
	case Invalid, RewardRejected:
		if reason == "" {
			return Tip{}, errReason
		}
	case Duplicate:
		if m.DuplicateOf == nil || *m.DuplicateOf == id {
			return Tip{}, errDupOf
		}
		first, err := s.Store.Get(ctx, q, *m.DuplicateOf)
		if errors.Is(err, apperr.ErrNotFound) || (err == nil && (!first.CreatedAt.Before(t.CreatedAt) ||
			first.Status == Duplicate || first.Status == Invalid)) {
			return Tip{}, errDupOf
		}
		if err != nil {
			return Tip{}, err
		}
		ch.duplicateOf = &first.ID
		detail["duplicateOf"] = first.ID
	case RewardProposed:
		if m.FineYuan == nil {
			return Tip{}, errFine
		}
		fine, ok := toFen(*m.FineYuan)
		if !ok {
			return Tip{}, errFine
		}
		earlier, err := s.Store.earlierValid(ctx, q, t, s.cfg)
		if err != nil {
			return Tip{}, err
		}
		if earlier != 0 {
			return Tip{}, ErrNotFirst.Wrap(fmt.Errorf("tip %d came first", earlier))
		}
		reward := s.cfg.Reward.Reward(fine)
		ch.fineFen, ch.rewardFen = &fine, &reward
		detail["fineFen"], detail["rewardFen"] = fine, reward
	case RewardPaid:
		ref := strings.TrimSpace(m.PaymentRef)
		if ref == "" || utf8.RuneCountInString(ref) > 100 {
			return Tip{}, errPayment
		}
		ch.paymentRef = &ref
		detail["paymentRef"] = ref
	}
	if err := s.Store.update(ctx, q, id, ch); err != nil {
		return Tip{}, err
	}
	from := t.Status
	if err := s.Store.addEvent(ctx, q, id, &from, m.To, reason, detail, c.UserID); err != nil {
		return Tip{}, err
	}
	if from == Received {
		_, err := s.tasks.Close(ctx, q, tasks.Tip, taskRef(id), taskRef(id)+":"+string(m.To), m.To != Valid)
		if err != nil && !errors.Is(err, apperr.ErrNotFound) && !errors.Is(err, tasks.ErrNotOpen) {
			return Tip{}, err
		}
	}
	return s.Store.Get(ctx, q, id)
}

// ToSite opens a suspected site from tip id (internal/sites, source tip, at the tip's point
// unless n gives one) and links the two. The tip must be verified valid (or further on its
// reward's way) and have no site yet.
func (s *Service) ToSite(ctx context.Context, q db.Querier, id int64, n sites.NewSite, by int64) (sites.Site, error) {
	t, err := s.Store.lock(ctx, q, id)
	if err != nil {
		return sites.Site{}, err
	}
	switch {
	case !t.Status.rewarded():
		return sites.Site{}, errNotValid
	case t.SiteID != nil:
		return sites.Site{}, errHasSite
	}
	if n.Lon == nil || n.Lat == nil {
		if t.Lon == nil || t.Lat == nil {
			return sites.Site{}, errNoPoint
		}
		n.Lon, n.Lat, n.CRS = t.Lon, t.Lat, ""
	}
	n.Source, n.SourceRef = sites.FromTip, taskRef(id)
	if n.Address == "" {
		n.Address = t.Address
	}
	site, err := s.sites.Create(ctx, q, n, by)
	if err != nil {
		return sites.Site{}, err
	}
	if err := s.Store.setSite(ctx, q, id, site.ID); err != nil {
		return sites.Site{}, err
	}
	if err := s.Store.addEvent(ctx, q, id, &t.Status, t.Status, "", map[string]any{"siteId": site.ID}, by); err != nil {
		return sites.Site{}, err
	}
	// The tip's photos join the site's media (reason tip), whatever their EXIF position says.
	ps, err := s.Store.Photos(ctx, q, id)
	if err != nil {
		return sites.Site{}, err
	}
	var mediaIDs []int64
	for _, p := range ps {
		if p.MediaID != nil {
			mediaIDs = append(mediaIDs, *p.MediaID)
		}
	}
	if err := s.sites.LinkTipPhotos(ctx, q, site.ID, mediaIDs); err != nil {
		return sites.Site{}, err
	}
	return site, nil
}

// Detail returns tip id with its photos and history.
func (s *Service) Detail(ctx context.Context, q db.Querier, id int64) (Detail, error) {
	t, err := s.Store.Get(ctx, q, id)
	if err != nil {
		return Detail{}, err
	}
	d := Detail{Tip: t}
	if d.PhotoList, err = s.Store.Photos(ctx, q, id); err != nil {
		return Detail{}, err
	}
	if d.Events, err = s.Store.Events(ctx, q, id); err != nil {
		return Detail{}, err
	}
	return d, nil
}

// Photo opens photo photoID of tip id, when the caller may see the tip.
func (s *Service) Photo(ctx context.Context, q db.Querier, id, photoID int64) (Photo, io.ReadCloser, error) {
	ps, err := s.Store.Photos(ctx, q, id)
	if err != nil {
		return Photo{}, nil, err
	}
	for _, p := range ps {
		if p.ID == photoID {
			if s.media == nil {
				return Photo{}, nil, apperr.ErrNotFound
			}
			r, err := s.media.OpenScreened(ctx, p.key)
			return p, r, err
		}
	}
	return Photo{}, nil, fmt.Errorf("tips: photo %d of %d: %w", photoID, id, apperr.ErrNotFound)
}
