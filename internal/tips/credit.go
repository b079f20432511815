package tips

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/db"
)

// Listing is a proposal to list a closed case's responsible person in the credit system
// (联合惩戒), with who the person is and the case they answer for.
type Listing struct {
	ID             int64         `json:"id"`
	SiteID         int64         `json:"siteId"`
	PersonID       int64         `json:"personId"`
	Status         ListingStatus `json:"status"`
	Reason         string        `json:"reason"`
	DecisionReason string        `json:"decisionReason"`
	ProposedBy     *int64        `json:"proposedBy"`
	DecidedBy      *int64        `json:"decidedBy"`
	DecidedAt      *time.Time    `json:"decidedAt"`
	CreatedAt      time.Time     `json:"createdAt"`
	PersonName     string        `json:"personName"`
	PersonRole     string        `json:"personRole"`
	PersonPhone    string        `json:"personPhone"`
	FirmName       string        `json:"firmName"`
	Address        string        `json:"address"`
	Classes        []string      `json:"classes"`
	ClosedAt       *time.Time    `json:"closedAt"`
}

// NewListing is a proposal: the responsible person (a site_persons id) and why.
type NewListing struct {
	PersonID int64  `json:"personId"`
	Reason   string `json:"reason"`
}

// Decision is the city's decision on a proposal.
type Decision struct {
	To     ListingStatus `json:"to"`
	Reason string        `json:"reason"`
}

// ListingFilter narrows a listing of proposals. Zero values do not filter.
type ListingFilter struct {
	Status ListingStatus
	After  int64
	Limit  int
}

var (
	errListingReason = apperr.Invalidf("reason_required", "请填写列入理由（1-500字）", "reason must be 1-500 characters")
	errPersonID      = apperr.Invalidf("person_required", "请指定责任人", "personId must name a responsible person of a site")
	errListingTo     = apperr.Invalidf("invalid_status", "状态无效", "to must be approved or rejected")
	// ErrCaseNotClosed answers a proposal for a person of a case that is not closed (409).
	ErrCaseNotClosed = apperr.New(http.StatusConflict, "case_not_closed",
		"only the responsible persons of a closed case may be proposed for listing", "仅已销号案件的责任人可申请列入失信名单")
	// ErrAlreadyListed answers a second open or approved proposal for one person (409).
	ErrAlreadyListed = apperr.New(http.StatusConflict, "already_listed",
		"this person is proposed or listed already", "该责任人已在申请或名单中")
)

const listingCols = `l.id, l.site_id, l.person_id, l.status, l.reason, l.decision_reason, l.proposed_by, l.decided_by,
	l.decided_at, l.created_at, p.name, p.role, p.phone, s.firm_name, s.address, s.classes, s.closed_at`

const listingFrom = ` FROM credit_listings l JOIN site_persons p ON p.id = l.person_id JOIN sites s ON s.id = l.site_id`

func scanListing(r pgx.Row) (Listing, error) {
	var l Listing
	err := r.Scan(&l.ID, &l.SiteID, &l.PersonID, &l.Status, &l.Reason, &l.DecisionReason, &l.ProposedBy, &l.DecidedBy,
		&l.DecidedAt, &l.CreatedAt, &l.PersonName, &l.PersonRole, &l.PersonPhone, &l.FirmName, &l.Address, &l.Classes, &l.ClosedAt)
	if l.Classes == nil {
		l.Classes = []string{}
	}
	return l, err
}

// Listing returns proposal id if the caller may see it (its site), or apperr.ErrNotFound.
func (Store) Listing(ctx context.Context, q db.Querier, id int64) (Listing, error) {
	l, err := scanListing(q.QueryRow(ctx, `SELECT `+listingCols+listingFrom+` WHERE l.id = $1`, id))
	if err != nil {
		return Listing{}, fmt.Errorf("tips: listing %d: %w", id, db.MapError(err))
	}
	return l, nil
}

// Listings returns the proposals the caller may see that match f, by id.
func (Store) Listings(ctx context.Context, q db.Querier, f ListingFilter) ([]Listing, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	const sql = `SELECT ` + listingCols + listingFrom + ` WHERE l.id > $1 AND ($2 = '' OR l.status = $2) ORDER BY l.id LIMIT $3`
	rows, err := q.Query(ctx, sql, f.After, string(f.Status), f.Limit)
	if err != nil {
		return nil, fmt.Errorf("tips: listings: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Listing, error) { return scanListing(r) })
	if err != nil {
		return nil, fmt.Errorf("tips: scan listings: %w", err)
	}
	return out, nil
}

// Register returns every approved listing the caller may see, in the order they were approved:
// the register (失信惩戒名单) the city exports for the credit system. A city holds at most some
// thousands; the export writes them as they come.
func (Store) Register(ctx context.Context, q db.Querier, each func(Listing) error) error {
	const sql = `SELECT ` + listingCols + listingFrom + ` WHERE l.status = 'approved' ORDER BY l.decided_at, l.id`
	rows, err := q.Query(ctx, sql)
	if err != nil {
		return fmt.Errorf("tips: register: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		l, err := scanListing(rows)
		if err != nil {
			return fmt.Errorf("tips: scan register: %w", err)
		}
		if err := each(l); err != nil {
			return err
		}
	}
	return rows.Err()
}

// ProposeListing proposes a responsible person of a closed case for listing.
func (s *Service) ProposeListing(ctx context.Context, q db.Querier, n NewListing, by int64) (Listing, error) {
	reason := strings.TrimSpace(n.Reason)
	if l := utf8.RuneCountInString(reason); l < 1 || l > 500 {
		return Listing{}, errListingReason
	}
	if n.PersonID <= 0 {
		return Listing{}, errPersonID
	}
	var siteID int64
	var status string
	err := q.QueryRow(ctx, `SELECT p.site_id, s.status FROM site_persons p JOIN sites s ON s.id = p.site_id WHERE p.id = $1`,
		n.PersonID).Scan(&siteID, &status)
	if err != nil {
		return Listing{}, fmt.Errorf("tips: person %d: %w", n.PersonID, db.MapError(err))
	}
	if status != "closed" {
		return Listing{}, ErrCaseNotClosed
	}
	var id int64
	err = q.QueryRow(ctx, `INSERT INTO credit_listings (site_id, person_id, reason, proposed_by)
		VALUES ($1, $2, $3, nullif($4::bigint, 0)) RETURNING id`, siteID, n.PersonID, reason, by).Scan(&id)
	if err != nil {
		err = db.MapError(err)
		if errors.Is(err, apperr.ErrConflict) {
			return Listing{}, ErrAlreadyListed.Wrap(err)
		}
		return Listing{}, fmt.Errorf("tips: propose listing: %w", err)
	}
	return s.Store.Listing(ctx, q, id)
}

// DecideListing approves or rejects proposal id by the listing's workflow (transitions.go).
func (s *Service) DecideListing(ctx context.Context, q db.Querier, id int64, d Decision, c Caller) (Listing, error) {
	l, err := scanListing(q.QueryRow(ctx, `SELECT `+listingCols+listingFrom+` WHERE l.id = $1 FOR UPDATE OF l`, id))
	if err != nil {
		return Listing{}, fmt.Errorf("tips: listing %d: %w", id, db.MapError(err))
	}
	if d.To != ListingApproved && d.To != ListingRejected {
		return Listing{}, errListingTo
	}
	if err := mayDecide(c.Role, l.Status, d.To); err != nil {
		return Listing{}, err
	}
	reason := strings.TrimSpace(d.Reason)
	if utf8.RuneCountInString(reason) > 500 || (d.To == ListingRejected && reason == "") {
		return Listing{}, errReason
	}
	const sql = `UPDATE credit_listings SET status = $2, decision_reason = $3, decided_by = nullif($4::bigint, 0),
		decided_at = now(), updated_at = now() WHERE id = $1`
	if _, err := q.Exec(ctx, sql, id, string(d.To), reason, c.UserID); err != nil {
		return Listing{}, fmt.Errorf("tips: decide listing %d: %w", id, db.MapError(err))
	}
	return s.Store.Listing(ctx, q, id)
}
