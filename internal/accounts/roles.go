// Package accounts holds Sieve's users (用户), their roles and region scope, passwords, bearer
// tokens and login throttling. What each role may do is decided here, in one table (grants).
package accounts

import (
	"slices"

	"github.com/sieve-city/sieve/internal/apperr"
)

// Role is what a user is in the campaign. It decides which actions they may take; their region
// scope decides where.
type Role string

// The roles.
const (
	CityAdmin           Role = "city_admin"           // 市安委办: everything, manages users
	TownshipCoordinator Role = "township_coordinator" // 乡镇/街道安委办: their township
	GridWorker          Role = "grid_worker"          // 网格员: their assigned cells
	DroneOperator       Role = "drone_operator"       // 无人机飞手: surveys in the regions granted
	Inspector           Role = "inspector"            // 联合执法部门: read a region, record disposal actions
	Viewer              Role = "viewer"               // 只读: read a region
)

// Roles lists every role, in order of reach.
var Roles = []Role{CityAdmin, TownshipCoordinator, GridWorker, DroneOperator, Inspector, Viewer}

// ParseRole checks a role name.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if slices.Contains(Roles, r) {
		return r, nil
	}
	return "", apperr.Invalidf("invalid_role", "角色无效", "unknown role %q", s)
}

// Permission is an action a role may take (within its scope).
type Permission string

// The permissions. Routes declare which one they need.
const (
	PermPublic         Permission = "public"          // no login needed
	PermRead           Permission = "read"            // read things in one's area
	PermManageUsers    Permission = "users:manage"    // create and change users below one's role
	PermReadAudit      Permission = "audit:read"      // read the audit log of one's area
	PermManageRegions  Permission = "regions:manage"  // import regions, generate cells, assign workers
	PermManagePremises Permission = "premises:manage" // import and edit the premises register
	PermAddPremise     Permission = "premises:add"    // add a premise found in the field
	PermInspect        Permission = "inspections:add" // submit inspections
	PermUploadMedia    Permission = "media:upload"    // upload photos
	PermManageSurveys  Permission = "surveys:manage"  // create drone surveys and upload their images
	PermActOnSites     Permission = "sites:act"       // record disposal actions on cases
	PermManageSites    Permission = "sites:manage"    // open and close cases
	PermManageLedgers  Permission = "ledgers:manage"  // file monthly ledgers
	PermManageLeads    Permission = "leads:manage"    // import data leads
	PermAuthenticated  Permission = "authenticated"   // any logged-in user (own session, own profile)
)

// PermSuperviseInspections is to open rounds, overrule an evidence flag and order re-checks.
const PermSuperviseInspections Permission = "inspections:supervise"

// The permissions of public tips, their rewards and the credit listing (issue 14).
const (
	PermHandleTips      Permission = "tips:handle"    // list, verify, place, de-duplicate tips, turn them into sites, propose rewards
	PermReadTipContacts Permission = "tips:contact"   // read a reporter's name and phone (those handling rewards; mirrored in SQL by sieve_tip_contacts_reader)
	PermApproveRewards  Permission = "tips:reward"    // approve or reject a proposed reward and record its payment (the city)
	PermProposeListing  Permission = "credit:propose" // propose a closed case's responsible person for credit listing
	PermDecideListing   Permission = "credit:decide"  // approve or reject a listing, export the register (the city)
)

// grants is the rule table: which role may do what. Change a rule here and only here.
var grants = map[Role][]Permission{
	CityAdmin: {PermRead, PermManageUsers, PermReadAudit, PermManageRegions, PermManagePremises,
		PermAddPremise, PermInspect, PermUploadMedia, PermManageSurveys, PermActOnSites, PermManageSites,
		PermManageLedgers, PermManageLeads, PermSuperviseInspections,
		PermHandleTips, PermReadTipContacts, PermApproveRewards, PermProposeListing, PermDecideListing},
	TownshipCoordinator: {PermRead, PermManageUsers, PermReadAudit, PermManageRegions, PermManagePremises,
		PermAddPremise, PermInspect, PermUploadMedia, PermManageSurveys, PermActOnSites, PermManageSites,
		PermManageLedgers, PermManageLeads, PermSuperviseInspections,
		PermHandleTips, PermProposeListing},
	GridWorker:    {PermRead, PermAddPremise, PermInspect, PermUploadMedia},
	DroneOperator: {PermRead, PermManageSurveys, PermUploadMedia},
	Inspector:     {PermRead, PermActOnSites, PermUploadMedia, PermInspect}, // PermInspect: the re-checks sent to them
	Viewer:        {PermRead},
}

// Can reports whether role r may take action p (anywhere in its scope).
func (r Role) Can(p Permission) bool {
	if p == PermPublic || p == PermAuthenticated {
		return slices.Contains(Roles, r)
	}
	return slices.Contains(grants[r], p)
}

// CanGrant reports whether a user of role r may create or change users of role target: the
// city office any role; a coordinator only the field roles of their township.
func (r Role) CanGrant(target Role) bool {
	switch r {
	case CityAdmin:
		return true
	case TownshipCoordinator:
		return target == GridWorker || target == DroneOperator || target == Inspector || target == Viewer
	}
	return false
}
