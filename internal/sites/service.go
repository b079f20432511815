package sites

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twpayne/go-geom"

	"github.com/sieve-city/sieve/gis"
	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/tasks"
)

// Config holds the rules of the sites domain that an installation may tune.
type Config struct {
	// Reinspections are the delays after closure at which a closed site is inspected again
	// (回头看): one task each for the cell's grid worker. Default 30 and 90 days.
	Reinspections []time.Duration
	// NearMetres is how close a photo must be to a site to be linked to it (30 m).
	NearMetres float64
	// SameSiteMetres is how close a new suspected inspection must be to an open site to be
	// linked to it instead of opening a second site (50 m).
	SameSiteMetres float64
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{Reinspections: []time.Duration{30 * 24 * time.Hour, 90 * 24 * time.Hour}, NearMetres: 30,
		SameSiteMetres: 50}
}

// Service is the sites domain: the rules that span statements, over the Store. Its methods take
// the caller's transaction.
type Service struct {
	Store Store
	cfg   Config
	tasks tasks.Store
	now   func() time.Time
}

// New returns the sites service (now is the clock: time.Now outside tests).
func New(cfg Config, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{cfg: cfg, now: now}
}

// Caller is who acts on a site: their user id, and whether they act as an inspector of a
// joint-enforcement department (who record only their own department's actions).
type Caller struct {
	UserID    int64
	Inspector bool
}

// The public errors of this package.
var (
	ErrOutsideScope = apperr.Invalidf("outside_scope", "该位置不在您负责的区域内", "the location is outside your area")
	errLocation     = apperr.Invalidf("invalid_location", "经纬度无效", "lon and lat are required, in degrees, inside China")
	errOutline      = apperr.Invalidf("invalid_outline", "轮廓须为有效的GeoJSON多边形（WGS-84）",
		"outline must be a valid GeoJSON Polygon in WGS-84")
	errSource = apperr.Invalidf("invalid_source", "来源无效", "source must be inspection, drone, tip, lead or manual")
	errClass  = apperr.Invalidf("invalid_class", "违法情形无效",
		"classes must be among unlicensed, beyond_licence, non_chemical_producing, exited_producing, affiliated_leased, factory_in_factory, other")
	errTooLong   = apperr.Invalidf("field_too_long", "字段过长", "a field is too long")
	errStatus    = apperr.Invalidf("invalid_status", "状态无效", "unknown status")
	errNoMedia   = apperr.Invalidf("media_required", "请指定影像", "mediaIds must name at least one medium")
	errAction    = apperr.Invalidf("invalid_action", "处置措施无效", "unknown action")
	errNotOffer  = apperr.Invalidf("action_not_offered", "该处置措施不适用于此点位的违法情形", "the site's classes do not call for this action")
	errDept      = apperr.Invalidf("invalid_department", "部门无效", "department must be public_security, market_regulation, emergency_management, ecology_environment, transport or township")
	errActionReq = apperr.Invalidf("invalid_action_record", "处置记录须有责任人和期限",
		"an action needs a responsible person (1-100 characters) and a deadline")
	errAmount = apperr.Invalidf("amount_required", "罚款须填写金额（仅罚款）", "a fine needs amountYuan (≥ 0), other actions none")
	errPerson = apperr.Invalidf("invalid_person", "责任人信息无效",
		"a person needs a role (legal_representative, actual_controller, landlord, other) and a name (1-100 characters)")
	// ErrOtherDepartment answers an inspector recording another department's action (403).
	ErrOtherDepartment = apperr.New(403, "other_department", "you may record only your own department's actions",
		"您只能记录本部门的处置措施")
)

// Create opens a site by hand (or from a tip, a lead, a drone image: the source says which) in
// status suspected, places it, and links the images already stored of its place.
func (s *Service) Create(ctx context.Context, q db.Querier, n NewSite, by int64) (Site, error) {
	if n.Source == "" {
		n.Source = FromManual
	}
	r, err := checkNew(n)
	if err != nil {
		return Site{}, err
	}
	if err := s.premiseVisible(ctx, q, r.premiseID); err != nil {
		return Site{}, err
	}
	return s.open(ctx, q, r, by, "")
}

// premiseVisible refuses a premise the caller cannot see (a foreign key would accept any).
func (s *Service) premiseVisible(ctx context.Context, q db.Querier, id *int64) error {
	if id == nil {
		return nil
	}
	var ok bool
	if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM premises WHERE id = $1)`, *id).Scan(&ok); err != nil {
		return fmt.Errorf("sites: premise %d: %w", *id, err)
	}
	if !ok {
		return fmt.Errorf("sites: premise %d: %w", *id, apperr.ErrNotFound)
	}
	return nil
}

// open stores a checked site, its opening event and its image links.
func (s *Service) open(ctx context.Context, q db.Querier, r row, by int64, reason string) (Site, error) {
	ok, err := s.Store.inScope(ctx, q, r.lon, r.lat)
	if err != nil {
		return Site{}, err
	}
	if !ok {
		return Site{}, ErrOutsideScope
	}
	id, err := s.Store.insert(ctx, q, r, by)
	if err != nil {
		return Site{}, err
	}
	if err := s.Store.addEvent(ctx, q, id, nil, Suspected, reason, by); err != nil {
		return Site{}, err
	}
	if _, err := s.Store.linkByPlace(ctx, q, []int64{id}, s.cfg.NearMetres); err != nil {
		return Site{}, err
	}
	return s.Store.Get(ctx, q, id)
}

// Update changes a site; a new place re-places it and links the images of its new place.
func (s *Service) Update(ctx context.Context, q db.Querier, id int64, p Patch) (Site, error) {
	if _, err := s.Store.Get(ctx, q, id); err != nil {
		return Site{}, err
	}
	var lon, lat *float64
	if p.Lon != nil || p.Lat != nil {
		if p.Lon == nil || p.Lat == nil {
			return Site{}, errLocation
		}
		x, y, err := toWGS84(*p.Lon, *p.Lat, p.CRS)
		if err != nil {
			return Site{}, err
		}
		ok, err := s.Store.inScope(ctx, q, x, y)
		if err != nil {
			return Site{}, err
		}
		if !ok {
			return Site{}, ErrOutsideScope
		}
		lon, lat = &x, &y
	}
	var outline *string
	clear := false
	if p.Outline != nil {
		if o := *p.Outline; len(o) == 0 || string(o) == "null" {
			clear = true
		} else {
			if err := checkOutline(o); err != nil {
				return Site{}, err
			}
			str := string(o)
			outline = &str
		}
	}
	if p.Classes != nil {
		if err := checkClasses(*p.Classes); err != nil {
			return Site{}, err
		}
	}
	for _, f := range []*string{p.FirmName, p.Address, p.Industry, p.LegalRep, p.Controller, p.ContactPhone} {
		if f != nil {
			*f = strings.TrimSpace(*f)
		}
	}
	if tooLong(p.FirmName, 200) || tooLong(p.Address, 300) || tooLong(p.Industry, 100) || tooLong(p.LegalRep, 100) ||
		tooLong(p.Controller, 100) || tooLong(p.ContactPhone, 30) || tooLong(p.Note, 2000) {
		return Site{}, errTooLong
	}
	if p.Participants != nil {
		parts, err := checkParticipants(*p.Participants)
		if err != nil {
			return Site{}, err
		}
		p.Participants = &parts
	}
	if err := s.premiseVisible(ctx, q, p.PremiseID); err != nil {
		return Site{}, err
	}
	if err := s.Store.update(ctx, q, id, p, lon, lat, outline, clear); err != nil {
		return Site{}, err
	}
	if lon != nil || outline != nil || clear {
		if _, err := s.Store.linkByPlace(ctx, q, []int64{id}, s.cfg.NearMetres); err != nil {
			return Site{}, err
		}
	}
	return s.Store.Get(ctx, q, id)
}

// Move moves the case of site id to status to, for a reason, as user by: the move must be in
// the transition table (else ErrInvalidTransition). Closing a site adds its re-inspection
// tasks (回头看), one per configured delay, for the grid worker of its cell.
func (s *Service) Move(ctx context.Context, q db.Querier, id int64, to Status, reason string, by int64) (Site, error) {
	if !to.valid() {
		return Site{}, errStatus
	}
	if utf8.RuneCountInString(reason) > 2000 {
		return Site{}, errTooLong
	}
	cur, err := s.Store.Get(ctx, q, id)
	if err != nil {
		return Site{}, err
	}
	if !CanMove(cur.Status, to) {
		return Site{}, ErrInvalidTransition
	}
	if err := s.Store.setStatus(ctx, q, id, cur.Status, to, strings.TrimSpace(reason), by); err != nil {
		return Site{}, err
	}
	site, err := s.Store.Get(ctx, q, id)
	if err != nil {
		return Site{}, err
	}
	if to == Closed {
		if err := s.reinspections(ctx, q, site, by); err != nil {
			return Site{}, err
		}
	}
	return site, nil
}

// reinspections adds the re-inspection tasks of a closed site: ref site:<id>:<n>d, due n days
// after closure, at the site's point.
func (s *Service) reinspections(ctx context.Context, q db.Querier, site Site, by int64) error {
	closed := s.now()
	if site.ClosedAt != nil {
		closed = *site.ClosedAt
	}
	for _, d := range s.cfg.Reinspections {
		days := int(d / (24 * time.Hour))
		due := dueAt(closed, d)
		id := site.ID
		lon, lat := site.Lon, site.Lat
		name := site.FirmName
		if name == "" {
			name = site.Address
		}
		title := fmt.Sprintf("回头看：已销号点位 %d 第%d天复查", site.ID, days)
		if name != "" {
			title = fmt.Sprintf("回头看：%s（点位 %d）第%d天复查", name, site.ID, days)
		}
		_, err := s.tasks.Add(ctx, q, tasks.New{Kind: tasks.SiteReinspection, Ref: fmt.Sprintf("site:%d:%dd", site.ID, days),
			SiteID: &id, PremiseID: site.PremiseID, Lon: &lon, Lat: &lat, DueAt: &due, Title: title,
			Detail: "确认生产装置已拆除、未复产", CreatedBy: by})
		if err != nil {
			return fmt.Errorf("sites: re-inspection task of %d: %w", site.ID, err)
		}
	}
	return nil
}

// LinkMedia links media ids to site id by hand; both must be visible to the caller.
func (s *Service) LinkMedia(ctx context.Context, q db.Querier, id int64, mediaIDs []int64) ([]Medium, error) {
	if err := s.checkMedia(ctx, q, id, mediaIDs); err != nil {
		return nil, err
	}
	if _, err := s.Store.linkMedia(ctx, q, id, mediaIDs, "manual"); err != nil {
		return nil, err
	}
	return s.Store.Media(ctx, q, id)
}

// LinkTipPhotos links the photos (media ids) of the tip site id was opened from, with reason
// tip, as the system: the caller (internal/tips ToSite) has just created the site from the tip
// it may see, and the tip's photos are seen with the tip. A link by place (near) becomes tip;
// the link stays when the site moves.
func (s *Service) LinkTipPhotos(ctx context.Context, q db.Querier, id int64, mediaIDs []int64) error {
	if len(mediaIDs) == 0 {
		return nil
	}
	_, err := s.Store.linkMedia(ctx, q, id, uniq(mediaIDs), "tip")
	return err
}

// UnlinkMedia removes the links of media ids to site id, whatever their reason. A link by place
// comes back when the site moves (link_media_to_sites runs again).
func (s *Service) UnlinkMedia(ctx context.Context, q db.Querier, id int64, mediaIDs []int64) ([]Medium, error) {
	if err := s.checkMedia(ctx, q, id, mediaIDs); err != nil {
		return nil, err
	}
	if _, err := s.Store.unlinkMedia(ctx, q, id, mediaIDs); err != nil {
		return nil, err
	}
	return s.Store.Media(ctx, q, id)
}

func (s *Service) checkMedia(ctx context.Context, q db.Querier, id int64, mediaIDs []int64) error {
	if _, err := s.Store.Get(ctx, q, id); err != nil {
		return err
	}
	ids := uniq(mediaIDs)
	if len(ids) == 0 {
		return errNoMedia
	}
	n, err := s.Store.visibleMedia(ctx, q, ids)
	if err != nil {
		return err
	}
	if n != len(ids) {
		return fmt.Errorf("sites: media %v: %w", ids, apperr.ErrNotFound)
	}
	return nil
}

// AddAction records a disposal action on site id. The action must be one the site's classes
// call for (Options); an inspector records only their own department's actions.
func (s *Service) AddAction(ctx context.Context, q db.Querier, id int64, n NewAction, c Caller) (ActionRecord, error) {
	site, err := s.Store.Get(ctx, q, id)
	if err != nil {
		return ActionRecord{}, err
	}
	n.Responsible = strings.TrimSpace(n.Responsible)
	switch {
	case actionNames[n.Action] == "":
		return ActionRecord{}, errAction
	case !slices.Contains(Departments, n.Department):
		return ActionRecord{}, errDept
	case n.Responsible == "" || utf8.RuneCountInString(n.Responsible) > 100 || n.Deadline == nil:
		return ActionRecord{}, errActionReq
	case (n.Action == Fine) != (n.AmountYuan != nil) || (n.AmountYuan != nil && *n.AmountYuan < 0):
		return ActionRecord{}, errAmount
	case utf8.RuneCountInString(n.Result) > 2000:
		return ActionRecord{}, errTooLong
	case !offered(site.Classes, n.Action):
		return ActionRecord{}, errNotOffer
	}
	if err := s.mayRecord(ctx, q, c, n.Department); err != nil {
		return ActionRecord{}, err
	}
	if len(n.Evidence) > 0 {
		ev := uniq(n.Evidence)
		if k, err := s.Store.visibleMedia(ctx, q, ev); err != nil {
			return ActionRecord{}, err
		} else if k != len(ev) {
			return ActionRecord{}, fmt.Errorf("sites: evidence %v: %w", ev, apperr.ErrNotFound)
		}
		n.Evidence = ev
	}
	return s.Store.insertAction(ctx, q, id, n, c.UserID)
}

// UpdateAction records the result, evidence, deadline or completion of action id; an
// inspector only for their own department's actions.
func (s *Service) UpdateAction(ctx context.Context, q db.Querier, id int64, p ActionPatch, c Caller) (ActionRecord, error) {
	a, err := s.Store.Action(ctx, q, id)
	if err != nil {
		return ActionRecord{}, err
	}
	if p.Result != nil && utf8.RuneCountInString(*p.Result) > 2000 {
		return ActionRecord{}, errTooLong
	}
	if err := s.mayRecord(ctx, q, c, a.Department); err != nil {
		return ActionRecord{}, err
	}
	if p.Evidence != nil && len(*p.Evidence) > 0 {
		ev := uniq(*p.Evidence)
		if k, err := s.Store.visibleMedia(ctx, q, ev); err != nil {
			return ActionRecord{}, err
		} else if k != len(ev) {
			return ActionRecord{}, fmt.Errorf("sites: evidence %v: %w", ev, apperr.ErrNotFound)
		}
		p.Evidence = &ev
	}
	return s.Store.updateAction(ctx, q, id, p)
}

// mayRecord refuses an inspector an action of a department other than their own.
func (s *Service) mayRecord(ctx context.Context, q db.Querier, c Caller, d Department) error {
	if !c.Inspector {
		return nil
	}
	mine, err := s.Store.department(ctx, q, c.UserID)
	if err != nil {
		return err
	}
	if mine != d {
		return ErrOtherDepartment
	}
	return nil
}

// AddPerson adds a responsible person to site id.
func (s *Service) AddPerson(ctx context.Context, q db.Querier, id int64, n NewPerson) (Person, error) {
	if _, err := s.Store.Get(ctx, q, id); err != nil {
		return Person{}, err
	}
	n.Name, n.Phone, n.Note = strings.TrimSpace(n.Name), strings.TrimSpace(n.Phone), strings.TrimSpace(n.Note)
	switch n.Role {
	case LegalRepresentative, ActualController, Landlord, OtherPerson:
	default:
		return Person{}, errPerson
	}
	if n.Name == "" || utf8.RuneCountInString(n.Name) > 100 {
		return Person{}, errPerson
	}
	if utf8.RuneCountInString(n.Phone) > 30 || utf8.RuneCountInString(n.Note) > 500 {
		return Person{}, errTooLong
	}
	return s.Store.insertPerson(ctx, q, id, n)
}

// checkNew validates a new site and converts its location.
func checkNew(n NewSite) (row, error) {
	r := row{source: n.Source, sourceRef: strings.TrimSpace(n.SourceRef), firmName: strings.TrimSpace(n.FirmName),
		address: strings.TrimSpace(n.Address), industry: strings.TrimSpace(n.Industry),
		legalRep: strings.TrimSpace(n.LegalRep), controller: strings.TrimSpace(n.Controller),
		phone: strings.TrimSpace(n.ContactPhone), note: strings.TrimSpace(n.Note), premiseID: n.PremiseID}
	switch n.Source {
	case FromInspectionSource, FromDrone, FromTip, FromLead, FromManual:
	default:
		return row{}, errSource
	}
	if n.Lon == nil || n.Lat == nil {
		return row{}, errLocation
	}
	lon, lat, err := toWGS84(*n.Lon, *n.Lat, n.CRS)
	if err != nil {
		return row{}, err
	}
	r.lon, r.lat = lon, lat
	if len(n.Outline) > 0 && string(n.Outline) != "null" {
		if err := checkOutline(n.Outline); err != nil {
			return row{}, err
		}
		r.outline = n.Outline
	}
	if err := checkClasses(n.Classes); err != nil {
		return row{}, err
	}
	r.classes = n.Classes
	if r.classes == nil {
		r.classes = []Class{}
	}
	if tooLong(&r.sourceRef, 100) || tooLong(&r.firmName, 200) || tooLong(&r.address, 300) || tooLong(&r.industry, 100) ||
		tooLong(&r.legalRep, 100) || tooLong(&r.controller, 100) || tooLong(&r.phone, 30) || tooLong(&r.note, 2000) {
		return row{}, errTooLong
	}
	if r.participants, err = checkParticipants(n.Participants); err != nil {
		return row{}, err
	}
	return r, nil
}

func checkClasses(cs []Class) error {
	for _, c := range cs {
		if !slices.Contains(Classes, c) {
			return errClass
		}
	}
	return nil
}

func checkParticipants(in []string) ([]string, error) {
	out := []string{}
	for _, p := range in {
		p = strings.TrimSpace(p)
		if p == "" || slices.Contains(out, p) {
			continue
		}
		if utf8.RuneCountInString(p) > 50 {
			return nil, errTooLong
		}
		out = append(out, p)
	}
	if len(out) > 50 {
		return nil, errTooLong
	}
	return out, nil
}

// checkOutline accepts a GeoJSON Polygon in WGS-84 whose coordinates are sane and in China.
func checkOutline(raw json.RawMessage) error {
	var p struct {
		Type        string         `json:"type"`
		Coordinates [][][2]float64 `json:"coordinates"`
	}
	if err := json.Unmarshal(raw, &p); err != nil || p.Type != "Polygon" || len(p.Coordinates) == 0 ||
		len(p.Coordinates[0]) < 4 {
		return errOutline
	}
	var flat []float64
	for _, c := range p.Coordinates[0] {
		flat = append(flat, c[0], c[1])
	}
	g := geom.NewPolygonFlat(geom.XY, flat, []int{len(flat)})
	if gis.CheckCoordinates(g) != nil || gis.CheckInChina(g) != nil {
		return errOutline
	}
	return nil
}

func tooLong(s *string, n int) bool { return s != nil && utf8.RuneCountInString(*s) > n }

// toWGS84 checks a point and converts it from the named CRS (WGS-84 when empty).
func toWGS84(lon, lat float64, crsName string) (float64, float64, error) {
	crs := gis.WGS84
	if crsName != "" {
		c, err := gis.ParseCRS(crsName)
		if err != nil {
			return 0, 0, apperr.Invalidf("invalid_crs", "坐标系无效", "%s", err.Error())
		}
		crs = c
	}
	pt := geom.NewPointFlat(geom.XY, []float64{lon, lat}).SetSRID(4326)
	if gis.CheckCoordinates(pt) != nil || gis.CheckInChina(pt) != nil {
		return 0, 0, errLocation
	}
	g, err := gis.ToWGS84(pt, crs)
	if err != nil {
		return 0, 0, errLocation
	}
	c := g.FlatCoords()
	return c[0], c[1], nil
}

func uniq(ids []int64) []int64 {
	out := []int64{}
	for _, id := range ids {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// ToWGS84 checks a client's point (degrees, inside China) and converts it from the named CRS
// (wgs84 when empty, cgcs2000, gcj02: a phone map SDK's) to WGS-84, with the public errors
// (invalid_crs, invalid_location): the one conversion of a point sent by a client, shared with
// the tips' intake.
func ToWGS84(lon, lat float64, crsName string) (float64, float64, error) {
	return toWGS84(lon, lat, crsName)
}
