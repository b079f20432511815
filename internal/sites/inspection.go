package sites

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sieve-city/sieve/internal/inspections"
)

// SuspectedVisit is what FromInspection needs of an inspection: the inspections domain fills it
// from the inspection it recorded (its hook, wired in cmd/sieve).
type SuspectedVisit struct {
	InspectionID string // the inspection's uuid
	PremiseID    int64
	Lon, Lat     float64 // WGS-84: the premise's point (or the device's when there is no premise)
	InspectorID  int64
	VisitedAt    time.Time
	Findings     []string // inspections.findings: the classes found
	MediaIDs     []int64  // the inspection's photos
	// For a firm of the exited-enterprise register (附件3): 生产装置是否拆除, 是否存在转产情况.
	EquipmentRemoved, Converted *bool
}

// FromInspection opens a site from a suspected inspection, or links the inspection to the open
// site of the same place: the open site on the same premise or, failing that, the nearest open
// site within SameSiteMetres (a site of the place gets the inspection, its photos and any new
// classes instead of a second site). A check of an exited firm that finds production
// (EquipmentRemoved false, or the finding exited_producing) opens a site classed
// exited_producing. A visit that found nothing opens nothing: it returns 0, false.
//
// It runs in the inspection's transaction (tx), whose actor must be allowed to write at the
// place (the inspector, or the system). The open site is looked for, and an inspection joined
// to it, as the system (one bulk change with its summary audit entry), so a site in a
// neighbouring cell the inspector does not hold is found and joined too. The inspector is
// named among the site's participants (工作参与人员).
func (s *Service) FromInspection(ctx context.Context, tx pgx.Tx, v SuspectedVisit) (siteID int64, created bool, err error) {
	classes := make([]Class, 0, len(v.Findings)+1)
	for _, f := range v.Findings {
		if c := Class(f); slices.Contains(Classes, c) && !slices.Contains(classes, c) {
			classes = append(classes, c)
		}
	}
	if v.PremiseID != 0 && !slices.Contains(classes, ExitedProducing) && v.EquipmentRemoved != nil && !*v.EquipmentRemoved {
		exited, err := s.Store.premiseExited(ctx, tx, v.PremiseID)
		if err != nil {
			return 0, false, err
		}
		if exited {
			classes = append(classes, ExitedProducing)
		}
	}
	if len(classes) == 0 {
		return 0, false, nil
	}
	id, err := s.Store.openNear(ctx, tx, v.PremiseID, v.Lon, v.Lat, s.cfg.SameSiteMetres)
	if err != nil {
		return 0, false, err
	}
	if id == 0 {
		who, err := s.Store.userName(ctx, tx, v.InspectorID)
		if err != nil {
			return 0, false, err
		}
		r := row{lon: v.Lon, lat: v.Lat, source: FromInspectionSource, sourceRef: v.InspectionID, classes: classes,
			participants: who}
		if v.PremiseID != 0 {
			p := v.PremiseID
			r.premiseID = &p
			if err := s.Store.premiseParticulars(ctx, tx, p, &r); err != nil {
				return 0, false, err
			}
		}
		site, err := s.open(ctx, tx, r, v.InspectorID, "排查发现疑似（inspection "+v.InspectionID+"）")
		if err != nil {
			return 0, false, fmt.Errorf("sites: from inspection %s: %w", v.InspectionID, err)
		}
		id, created = site.ID, true
		if err := s.Store.linkInspection(ctx, tx, id, v.InspectionID); err != nil {
			return 0, false, err
		}
	} else if err := s.Store.joinInspection(ctx, tx, id, v.InspectionID, classes, v.InspectorID); err != nil {
		return 0, false, err
	}
	if ids := uniq(v.MediaIDs); len(ids) > 0 {
		if _, err := s.Store.linkMedia(ctx, tx, id, ids, "inspection"); err != nil {
			return 0, false, err
		}
	}
	return id, created, nil
}

// InspectionHook is the inspections → sites hook (inspections.Hooks.Recorded, given at wiring
// time): a suspected inspection, or an exited firm's check that finds production, opens a site
// or joins the open site of the same place, in the transaction that records the inspection.
func InspectionHook(s *Service) func(context.Context, pgx.Tx, inspections.Recorded) error {
	return func(ctx context.Context, tx pgx.Tx, r inspections.Recorded) error {
		if r.Outcome != "suspected" && (r.EquipmentRemoved == nil || *r.EquipmentRemoved) {
			return nil
		}
		_, _, err := s.FromInspection(ctx, tx, SuspectedVisit{InspectionID: r.ID, PremiseID: r.PremiseID,
			Lon: r.Lon, Lat: r.Lat, InspectorID: r.InspectorID, VisitedAt: r.VisitedAt, Findings: r.Findings,
			MediaIDs: r.MediaIDs, EquipmentRemoved: r.EquipmentRemoved, Converted: r.Converted})
		return err
	}
}
