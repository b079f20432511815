package sites

import "testing"

// TestTransitionTable tries every pair of statuses: the workflow's moves are allowed, every
// other pair (staying put included) is refused.
func TestTransitionTable(t *testing.T) {
	allowed := map[[2]Status]bool{
		{Suspected, VerifiedIllegal}:     true,
		{Suspected, Cleared}:             true,
		{VerifiedIllegal, UnderDisposal}: true,
		{UnderDisposal, Rectified}:       true,
		{Rectified, Closed}:              true,
	}
	n := 0
	for _, from := range Statuses {
		for _, to := range Statuses {
			n++
			if got := CanMove(from, to); got != allowed[[2]Status{from, to}] {
				t.Errorf("CanMove(%s, %s) = %v, want %v", from, to, got, !got)
			}
		}
	}
	if n != 36 {
		t.Fatalf("tried %d pairs, want 36", n)
	}
}

func TestOptionsByClass(t *testing.T) {
	has := func(opts []Option, a Action) bool {
		for _, o := range opts {
			if o.Action == a {
				return true
			}
		}
		return false
	}
	cases := []struct {
		classes []Class
		want    []Action
		not     []Action
	}{
		{[]Class{BeyondLicence}, []Action{SuspendRectify, ObtainPermits, Fine}, []Action{SealUp, VerifyDismantled}},
		{[]Class{ExitedProducing}, []Action{VerifyDismantled, SuspendProduction, DismantleByDeadline}, []Action{ObtainPermits}},
		{[]Class{NonChemicalProducing}, []Action{SuspendProduction, SealUp, DismantleByDeadline}, []Action{EliminateHazards}},
		{[]Class{Unlicensed}, []Action{StopProduction, EliminateHazards, CreditListing}, []Action{SealUp}},
		{[]Class{FactoryInFactory, AffiliatedLeased}, []Action{StopProduction, LandlordLiability}, []Action{SealUp}},
		{nil, []Action{Fine, LandlordLiability, JudicialTransfer, PublicAccountability, CreditListing}, []Action{StopProduction}},
	}
	for _, c := range cases {
		opts := Options(c.classes)
		for _, a := range c.want {
			if !has(opts, a) {
				t.Errorf("%v: %s missing from %v", c.classes, a, opts)
			}
		}
		for _, a := range c.not {
			if has(opts, a) {
				t.Errorf("%v: %s offered", c.classes, a)
			}
		}
	}
	// An action two classes call for is offered once, naming both.
	opts := Options([]Class{ExitedProducing, NonChemicalProducing})
	count := 0
	for _, o := range opts {
		if o.Action == SuspendProduction {
			count++
			if len(o.For) != 2 {
				t.Errorf("suspend_production for %v, want both classes", o.For)
			}
		}
	}
	if count != 1 {
		t.Errorf("suspend_production offered %d times", count)
	}
}
