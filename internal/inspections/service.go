package inspections

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/sieve-city/sieve/internal/audit"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/evidence"
	"github.com/sieve-city/sieve/internal/jobs"
	"github.com/sieve-city/sieve/internal/premises"
	"github.com/sieve-city/sieve/internal/tasks"
)

// Recorded is what the Recorded hooks learn of a new inspection.
type Recorded struct {
	ID               string
	PremiseID        int64
	CellID           *int64
	InspectorID      int64
	VisitedAt        time.Time
	Outcome          string
	Findings         []string
	MediaIDs         []int64
	Lon, Lat         float64 // the premise's point (WGS-84)
	EquipmentRemoved *bool
	Converted        *bool
}

// Hooks let the domains that come after inspections act on them (a suspected inspection → a
// site); they are given at wiring time in cmd/sieve. Recorded run in the transaction that
// records a NEW inspection (not on an idempotent replay), acting as its inspector; an error
// refuses the recording.
type Hooks struct {
	Recorded []func(ctx context.Context, tx pgx.Tx, r Recorded) error
}

// Deps are what the service is built with (in cmd/sieve).
type Deps struct {
	Pool     *pgxpool.Pool
	Jobs     jobs.Enqueuer
	Premises *premises.Store // nil: premises.NewStore()
	PHash    PHashIndex      // nil: MediaIndex
	Hooks    Hooks
	Evidence evidence.Config
	Now      func() time.Time
	Log      *slog.Logger
}

// Service is the inspections domain: recording, the evidence job, reviews and re-checks.
type Service struct {
	pool     *pgxpool.Pool
	jobs     jobs.Enqueuer
	premises *premises.Store
	phash    PHashIndex
	hooks    Hooks
	cfg      evidence.Config
	now      func() time.Time
	log      *slog.Logger
	store    Store
	tasks    tasks.Store
}

// New builds the service. Register it with the queue it enqueues through (d.Jobs).
func New(d Deps) (*Service, error) {
	if d.Pool == nil || d.Jobs == nil || d.Now == nil || d.Log == nil {
		return nil, errors.New("inspections: New needs Pool, Jobs, Now and Log")
	}
	if d.Premises == nil {
		d.Premises = premises.NewStore()
	}
	if d.PHash == nil {
		d.PHash = MediaIndex{}
	}
	return &Service{pool: d.Pool, jobs: d.Jobs, premises: d.Premises, phash: d.PHash, hooks: d.Hooks, cfg: d.Evidence,
		now: d.Now, log: d.Log}, nil
}

// Store returns the service's store, for reads in the caller's transaction.
func (s *Service) Store() Store { return s.store }

// ErrRace is Record's answer when a concurrent request with the same id committed first: run
// Record again in a new transaction (it then answers the replay or the conflict).
var ErrRace = errors.New("inspections: a concurrent request recorded the same id; retry")

// Record records the visit req by inspector (always the caller) in the caller's transaction,
// and enqueues its evidence check. The same id with the same body answers the stored record and
// created false; with another body (or another inspector) ErrConflict.
func (s *Service) Record(ctx context.Context, tx pgx.Tx, inspector int64, req Request) (Inspection, bool, error) {
	req = canonical(req)
	if !uuidForm.MatchString(req.ID) {
		return Inspection{}, false, validate(req, s.now())
	}
	hash := hashOf(req)
	if prev, by, ok, err := s.store.recorded(ctx, tx, req.ID); err != nil {
		return Inspection{}, false, err
	} else if ok {
		if by != inspector || !bytes.Equal(prev, hash) {
			return Inspection{}, false, ErrConflict
		}
		in, err := s.store.Get(ctx, tx, req.ID)
		return in, false, err
	}
	if err := validate(req, s.now()); err != nil {
		return Inspection{}, false, err
	}
	if ok, err := s.store.ownPhotos(ctx, tx, req.MediaIDs, inspector); err != nil {
		return Inspection{}, false, err
	} else if !ok {
		return Inspection{}, false, errMediaNotYours
	}
	if req.RecheckOf != nil {
		return s.recordRecheck(ctx, tx, inspector, req, hash)
	}
	var premiseID int64
	if req.NewPremise != nil {
		lon, lat := toWGS84(req.NewPremise.Position)
		p, err := s.premises.Create(ctx, tx, premises.NewPremise{Kind: req.NewPremise.Kind, Name: req.NewPremise.Name,
			Address: req.NewPremise.Address, Lon: &lon, Lat: &lat}, premises.SourceField, inspector)
		if err != nil {
			return Inspection{}, false, err
		}
		premiseID = p.ID
	} else {
		premiseID = *req.PremiseID
	}
	in, err := s.insert(ctx, tx, req, premiseID, inspector, hash)
	if err != nil {
		return Inspection{}, false, err
	}
	return in, true, nil
}

// insert writes the inspection (after the premise and round are found), enqueues its check and
// runs the Recorded hooks.
func (s *Service) insert(ctx context.Context, tx pgx.Tx, req Request, premiseID, inspector int64, hash []byte) (Inspection, error) {
	place, err := s.store.premise(ctx, tx, premiseID)
	if err != nil {
		return Inspection{}, err
	}
	round, err := s.store.roundAt(ctx, tx, req.VisitedAt, place.path)
	if err != nil {
		return Inspection{}, err
	}
	r := row{req: req, premiseID: premiseID, roundID: round, inspector: inspector, hash: hash}
	if req.Position != nil {
		lon, lat := toWGS84(*req.Position)
		r.lon, r.lat = &lon, &lat
	}
	ok, err := s.store.insert(ctx, tx, r)
	if err != nil {
		return Inspection{}, err
	}
	if !ok {
		return Inspection{}, ErrRace
	}
	if err := s.enqueue(ctx, tx, req.ID); err != nil {
		return Inspection{}, err
	}
	rec := Recorded{ID: req.ID, PremiseID: premiseID, CellID: place.cellID, InspectorID: inspector,
		VisitedAt: req.VisitedAt, Outcome: req.Outcome, Findings: req.Findings, MediaIDs: req.MediaIDs,
		Lon: place.lon, Lat: place.lat, EquipmentRemoved: req.EquipmentRemoved, Converted: req.Converted}
	for _, h := range s.hooks.Recorded {
		if err := h(ctx, tx, rec); err != nil {
			return Inspection{}, fmt.Errorf("inspections: recorded hook of %s: %w", req.ID, err)
		}
	}
	return Inspection{ID: req.ID}, nil
}

// recordRecheck records a re-check (抽查回访): only the assignee of the open re-check task of
// the original may, never its inspector. The premise may lie outside the re-checker's cells (a
// worker of the same village, or an inspector), so the rows are written acting as the system
// (one audit summary) once the task says the caller was sent there. A re-check that disagrees
// with the original (clear vs suspected, or not found) flags the original.
func (s *Service) recordRecheck(ctx context.Context, tx pgx.Tx, inspector int64, req Request, hash []byte) (Inspection, bool, error) {
	premiseID, err := s.store.recheckTask(ctx, tx, *req.RecheckOf, inspector)
	if err != nil {
		return Inspection{}, false, err
	}
	if req.PremiseID == nil || *req.PremiseID != premiseID {
		return Inspection{}, false, invalid("invalid_inspection", "抽查须针对原场所",
			"a re-check visits the premise of the inspection it checks (premiseId %d)", premiseID)
	}
	sum := audit.Summary{Entity: "inspections", Action: "recheck"}
	err = db.SystemBulk(ctx, tx, sum, func(sum *audit.Summary) error {
		orig, err := s.store.Get(ctx, tx, *req.RecheckOf)
		if err != nil {
			return err
		}
		if orig.InspectorID == inspector {
			return errNoRecheck
		}
		if _, err := s.insert(ctx, tx, req, premiseID, inspector, hash); err != nil {
			return err
		}
		if _, err := s.tasks.Close(ctx, tx, tasks.Recheck, orig.ID, req.ID, false); err != nil {
			return err
		}
		if disagrees(orig.Outcome, req.Outcome) {
			if err := s.store.dispute(ctx, tx, orig.ID, req.ID); err != nil {
				return err
			}
			if err := s.enqueue(ctx, tx, orig.ID); err != nil {
				return err
			}
		}
		sum.Counts = map[string]int64{"inspections": 1}
		return nil
	})
	if err != nil {
		return Inspection{}, false, err
	}
	in, err := s.store.Get(ctx, tx, req.ID)
	return in, true, err
}

// disagrees says whether a re-check's outcome contradicts the original's.
func disagrees(orig, recheck string) bool {
	switch {
	case recheck == NotFound:
		return orig != NotFound
	case orig == Clear && recheck == Suspected, orig == Suspected && recheck == Clear:
		return true
	}
	return false
}

// Review overrules the flags of a flagged inspection the caller (a coordinator in scope) sees:
// it becomes verified, the flags stay, the change is audited as the caller's.
func (s *Service) Review(ctx context.Context, tx pgx.Tx, by int64, id, reason string) (Inspection, error) {
	reason = strings.TrimSpace(reason)
	if _, err := s.store.Get(ctx, tx, id); err != nil {
		return Inspection{}, err
	}
	if reason == "" || len([]rune(reason)) > 2000 {
		return Inspection{}, invalid("review_reason_required", "须说明复核理由（1-2000 字）", "reason must be 1-2000 characters")
	}
	if err := s.store.review(ctx, tx, id, by, reason); err != nil {
		return Inspection{}, err
	}
	return s.store.Get(ctx, tx, id)
}

// MediaProcessed is the media.Hooks.Processed hook: the evidence of every inspection citing
// medium id is checked again (in the media job's transaction, acting as the system).
func (s *Service) MediaProcessed(ctx context.Context, tx pgx.Tx, mediaID int64) error {
	ids, err := s.store.citing(ctx, tx, mediaID)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := s.enqueue(ctx, tx, id); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) enqueue(ctx context.Context, tx pgx.Tx, id string) error {
	if err := s.jobs.EnqueueTx(ctx, tx, river.InsertManyParams{Args: EvidenceArgs{InspectionID: id}}); err != nil {
		return fmt.Errorf("inspections: enqueue the check of %s: %w", id, err)
	}
	return nil
}

// neighbourWindow is how far either side of a visit the pace rule looks.
const neighbourWindow = 6 * time.Hour

// Check runs the evidence check of inspection id now, acting as the system, and stores its
// verdict; it leaves it pending while a photo is still being processed. Visits of other
// premises that cite near photos and lie later in visit time are checked again (the first
// use keeps its verdict; an earlier visit that arrives late makes the later one reused).
func (s *Service) Check(ctx context.Context, id string) (evidence.Verdict, error) {
	var v evidence.Verdict
	err := db.AsSystem(ctx, s.pool, "evidence", func(tx pgx.Tx) error {
		// Short lookups: compiling the photo scan (JIT) would cost far more than running it.
		if _, err := tx.Exec(ctx, `SET LOCAL jit = off`); err != nil {
			return fmt.Errorf("inspections: check %s: %w", id, err)
		}
		var err error
		v, err = s.check(ctx, tx, id)
		return err
	})
	return v, err
}

// Input gathers what the rules look at for inspection id (acting as the system).
func (s *Service) Input(ctx context.Context, tx pgx.Tx, id string) (evidence.Input, bool, error) {
	c, err := s.store.forCheck(ctx, tx, id)
	if err != nil {
		return evidence.Input{}, false, err
	}
	return s.input(ctx, tx, c)
}

func (s *Service) input(ctx context.Context, tx pgx.Tx, c checkRow) (evidence.Input, bool, error) {
	id := c.in.ID
	in := evidence.Input{Outcome: c.in.Outcome, VisitedAt: c.in.VisitedAt, Premise: c.premise, SentCRS: c.in.SentCRS}
	if p := c.in.Position; p != nil {
		in.Fix = &evidence.Point{Lon: p.Lon, Lat: p.Lat}
		in.AccuracyM = p.AccuracyM
	}
	photos, err := s.store.photos(ctx, tx, id)
	if err != nil {
		return in, false, err
	}
	var hashes []int64
	for _, p := range photos {
		if p.status == "received" {
			return in, false, nil
		}
		if p.phash != nil {
			hashes = append(hashes, *p.phash)
		}
	}
	// One lookup for all the photos' hashes, then one statement for the visits that cite the
	// near photos or the same bytes.
	var near [][]Near
	if len(hashes) > 0 {
		if near, err = s.phash.Similar(ctx, tx, hashes, max(s.cfg.SimilarMaxDistance, s.cfg.ReuseMaxDistance), 100); err != nil {
			return in, false, err
		}
	}
	nearOf := make([][]Near, len(photos))
	for i, k := 0, 0; i < len(photos); i++ {
		if photos[i].phash != nil {
			nearOf[i], k = near[k], k+1
		}
	}
	matches, err := s.store.matches(ctx, tx, photos, nearOf, c.in.PremiseID)
	if err != nil {
		return in, false, err
	}
	for i, p := range photos {
		p.Matches = matches[i]
		in.Photos = append(in.Photos, p.Photo)
	}
	if in.Neighbours, err = s.store.neighbours(ctx, tx, c.in.InspectorID, id, c.in.VisitedAt, neighbourWindow); err != nil {
		return in, false, err
	}
	return in, true, nil
}

func (s *Service) check(ctx context.Context, tx pgx.Tx, id string) (evidence.Verdict, error) {
	c, err := s.store.forCheck(ctx, tx, id)
	if err != nil {
		return evidence.Verdict{}, err
	}
	in, ready, err := s.input(ctx, tx, c)
	if err != nil || !ready {
		return evidence.Verdict{Status: evidence.Pending}, err
	}
	v := evidence.Judge(s.cfg, in)
	if c.in.DisputedBy != nil {
		v.Findings = append(v.Findings, evidence.Finding{Code: "recheck_disagrees", Severity: evidence.Flag,
			Detail: "a re-check by another worker (" + *c.in.DisputedBy + ") found otherwise"})
		if v.Status == evidence.Verified {
			v.Status = evidence.Flagged
		}
	}
	if v.Status == evidence.Flagged && c.reviewed && overruled(v, c.reviewedCodes) {
		v.Status = evidence.Verified
	}
	if err := s.store.saveVerdict(ctx, tx, id, v); err != nil {
		return v, err
	}
	later := map[string]bool{}
	for _, p := range in.Photos {
		for _, m := range p.Matches {
			if m.VisitedAt.After(in.VisitedAt) && !later[m.InspectionID] {
				later[m.InspectionID] = true
				if err := s.enqueue(ctx, tx, m.InspectionID); err != nil {
					return v, err
				}
			}
		}
	}
	return v, nil
}

// overruled says whether every flag of v was overruled by the review (codes).
func overruled(v evidence.Verdict, codes []string) bool {
	for _, f := range v.Findings {
		if f.Severity == evidence.Flag && !contains(codes, f.Code) {
			return false
		}
	}
	return true
}

// EnqueueChecks enqueues the evidence checks of inspections ids in tx (for bulk writers such
// as the demo city, whose rows are inserted set-wise).
func (s *Service) EnqueueChecks(ctx context.Context, tx pgx.Tx, ids []string) error {
	const batch = 5000
	for len(ids) > 0 {
		n := min(batch, len(ids))
		params := make([]river.InsertManyParams, n)
		for i, id := range ids[:n] {
			params[i] = river.InsertManyParams{Args: EvidenceArgs{InspectionID: id}}
		}
		if err := s.jobs.EnqueueTx(ctx, tx, params...); err != nil {
			return fmt.Errorf("inspections: enqueue %d checks: %w", n, err)
		}
		ids = ids[n:]
	}
	return nil
}
