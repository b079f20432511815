package sites

import (
	"net/http"

	"github.com/sieve-city/sieve/internal/apperr"
)

// Status is where a site's case stands (案件状态).
type Status string

// The statuses of the case workflow.
const (
	Suspected       Status = "suspected"        // 疑似: found, not yet verified
	VerifiedIllegal Status = "verified_illegal" // 核实违法: verified as illegal production
	Cleared         Status = "cleared"          // 排除: verified as not illegal (closes the case)
	UnderDisposal   Status = "under_disposal"   // 处置中: disposal actions ordered
	Rectified       Status = "rectified"        // 已整改: the actions are done
	Closed          Status = "closed"           // 已销号: closed, re-inspections scheduled
)

// Statuses lists every status, in workflow order.
var Statuses = []Status{Suspected, VerifiedIllegal, Cleared, UnderDisposal, Rectified, Closed}

// transitions is the case workflow, the one table of it (STYLE.md: "the case workflow | one
// transition table in internal/sites"): from a status, the statuses a case may move to. A move
// not in this table is refused with ErrInvalidTransition.
var transitions = map[Status][]Status{
	Suspected:       {VerifiedIllegal, Cleared},
	VerifiedIllegal: {UnderDisposal},
	UnderDisposal:   {Rectified},
	Rectified:       {Closed},
}

// ErrInvalidTransition answers a move the workflow does not allow (409 invalid_transition).
var ErrInvalidTransition = apperr.New(http.StatusConflict, "invalid_transition",
	"the case cannot move from its status to that one", "案件不能从当前状态变更为该状态")

// CanMove reports whether the workflow lets a case move from one status to another.
func CanMove(from, to Status) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Open reports whether a case in status s is still open (not cleared or closed): an open site
// collects new inspections of the same place instead of a second site being opened.
func (s Status) Open() bool { return s != Cleared && s != Closed }

// valid reports whether s is a known status.
func (s Status) valid() bool {
	for _, x := range Statuses {
		if x == s {
			return true
		}
	}
	return false
}
