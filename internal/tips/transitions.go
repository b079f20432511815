package tips

import (
	"net/http"

	"github.com/sieve-city/sieve/internal/accounts"
	"github.com/sieve-city/sieve/internal/apperr"
)

// Status is where a tip stands (举报办理状态).
type Status string

// The statuses of a tip.
const (
	Received       Status = "received"        // 已受理: posted, not yet verified
	Valid          Status = "valid"           // 属实: verified as a real problem
	Invalid        Status = "invalid"         // 不属实: verified as nothing (with a reason)
	Duplicate      Status = "duplicate"       // 重复举报: the same place as an earlier tip
	RewardProposed Status = "reward_proposed" // 奖励已申报: the fine and the reward recorded by the township
	RewardApproved Status = "reward_approved" // 奖励已批准: approved by the city
	RewardRejected Status = "reward_rejected" // 奖励未批准: refused by the city (may be proposed again)
	RewardPaid     Status = "reward_paid"     // 奖励已发放
)

// Statuses lists every status, in workflow order.
var Statuses = []Status{Received, Valid, Invalid, Duplicate, RewardProposed, RewardApproved, RewardRejected, RewardPaid}

// ListingStatus is where a credit-listing proposal stands.
type ListingStatus string

// The statuses of a credit listing.
const (
	ListingProposed ListingStatus = "proposed" // 拟列入: proposed by the township
	ListingApproved ListingStatus = "approved" // 已列入: approved by the city, in the register
	ListingRejected ListingStatus = "rejected" // 不予列入
)

// ListingStatuses lists every listing status.
var ListingStatuses = []ListingStatus{ListingProposed, ListingApproved, ListingRejected}

// moves is the tip's workflow, the one table of it: from a status, the statuses a tip may move
// to and the permission each move needs. The township verifies and proposes the reward; the city
// (accounts.PermApproveRewards) approves or refuses it and records the payment. A move not in
// this table is 409 invalid_transition; one the caller's role lacks is 403.
var moves = map[Status]map[Status]accounts.Permission{
	Received:       {Valid: accounts.PermHandleTips, Invalid: accounts.PermHandleTips, Duplicate: accounts.PermHandleTips},
	Valid:          {RewardProposed: accounts.PermHandleTips, Duplicate: accounts.PermHandleTips},
	RewardProposed: {RewardApproved: accounts.PermApproveRewards, RewardRejected: accounts.PermApproveRewards},
	RewardRejected: {RewardProposed: accounts.PermHandleTips},
	RewardApproved: {RewardPaid: accounts.PermApproveRewards},
}

// listingMoves is the credit listing's workflow: the city decides a proposal.
var listingMoves = map[ListingStatus]map[ListingStatus]accounts.Permission{
	ListingProposed: {ListingApproved: accounts.PermDecideListing, ListingRejected: accounts.PermDecideListing},
}

// ErrInvalidTransition answers a move the workflow does not allow (409 invalid_transition).
var ErrInvalidTransition = apperr.New(http.StatusConflict, "invalid_transition",
	"the tip cannot move from its status to that one", "举报不能从当前状态变更为该状态")

// errListingTransition answers a decision on a listing that is decided already.
var errListingTransition = apperr.New(http.StatusConflict, "invalid_transition",
	"the listing is decided already", "该列入申请已有决定")

// MovePermission returns the permission a tip's move needs, and whether the workflow has it.
func MovePermission(from, to Status) (accounts.Permission, bool) {
	p, ok := moves[from][to]
	return p, ok
}

// mayMove checks a move against the table and the caller's role.
func mayMove(role accounts.Role, from, to Status) error {
	p, ok := MovePermission(from, to)
	if !ok {
		return ErrInvalidTransition
	}
	if !role.Can(p) {
		return apperr.ErrForbidden
	}
	return nil
}

// mayDecide checks a listing decision against the table and the caller's role.
func mayDecide(role accounts.Role, from, to ListingStatus) error {
	p, ok := listingMoves[from][to]
	if !ok {
		return errListingTransition
	}
	if !role.Can(p) {
		return apperr.ErrForbidden
	}
	return nil
}

// Public is the status the public call shows: the reward's internal steps are the handlers'
// (a proposal, a refusal) and read as valid until the reward is approved.
func (s Status) Public() string {
	switch s {
	case RewardProposed, RewardRejected:
		return string(Valid)
	}
	return string(s)
}

// rewarded reports whether a tip in status s counts as a valid report of its place, for the
// first-reporter rule.
func (s Status) rewarded() bool {
	switch s {
	case Valid, RewardProposed, RewardApproved, RewardRejected, RewardPaid:
		return true
	}
	return false
}

func (s Status) valid() bool {
	for _, x := range Statuses {
		if x == s {
			return true
		}
	}
	return false
}
