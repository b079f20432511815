package tips

import (
	"math"
	"strings"
	"testing"

	"github.com/sieve-city/sieve/internal/accounts"
	"github.com/sieve-city/sieve/internal/apperr"
)

// TestRewardBounds: 15 % of the fine, never below 3,000 yuan nor above 300,000 yuan, to the fen.
func TestRewardBounds(t *testing.T) {
	r := NationalRule()
	for _, c := range []struct{ fineYuan, want float64 }{
		{0, 3000},             // no fine: the floor
		{10000, 3000},         // 1,500: raised to the floor
		{20000, 3000},         // exactly the floor
		{20000.10, 3000.02},   // 3,000.015 rounds half up to the fen
		{20001, 3000.15},      // just above the floor
		{100000, 15000},       // the share
		{2000000, 300000},     // exactly the ceiling
		{2000000.01, 300000},  // just above: capped
		{1e9, 300000},         // far above: capped
		{123456.78, 18518.52}, // 18,518.517 → 18,518.52
	} {
		fen, ok := toFen(c.fineYuan)
		if !ok {
			t.Fatalf("%v yuan refused", c.fineYuan)
		}
		if got := float64(r.Reward(fen)) / 100; math.Abs(got-c.want) > 1e-9 {
			t.Errorf("fine %v yuan: reward %v, want %v", c.fineYuan, got, c.want)
		}
	}
	custom := RewardRule{Percent: 10, MinFen: 0, MaxFen: 1000_00}
	if got := custom.Reward(5000_00); got != 500_00 {
		t.Errorf("custom rule: %d fen", got)
	}
	for _, bad := range []float64{-1, math.NaN(), math.Inf(1), 1.005, 1e11} {
		if _, ok := toFen(bad); ok {
			t.Errorf("fine %v accepted", bad)
		}
	}
	for _, bad := range []RewardRule{{Percent: 0, MaxFen: 1}, {Percent: 101, MaxFen: 1}, {Percent: 15, MinFen: 10, MaxFen: 5}, {Percent: 15, MinFen: -1}} {
		if bad.Check() == nil {
			t.Errorf("rule %+v accepted", bad)
		}
	}
}

// TestTrackingCodes: 12 symbols of the unambiguous alphabet, distinct, typed back in any case
// with dashes to the same hash.
func TestTrackingCodes(t *testing.T) {
	seen := map[string]bool{}
	for range 20000 {
		c, err := NewCode()
		if err != nil {
			t.Fatal(err)
		}
		if len(c) != 12 || strings.Trim(c, codeAlphabet) != "" || strings.ContainsAny(c, "01OIL") {
			t.Fatalf("code %q", c)
		}
		if seen[c] {
			t.Fatalf("code %q twice", c)
		}
		seen[c] = true
	}
	c, _ := NewCode()
	typed := strings.ToLower(c[:4] + "-" + c[4:8] + " " + c[8:])
	if string(HashCode(typed)) != string(HashCode(c)) || len(HashCode(c)) != 32 {
		t.Fatal("a code typed back does not hash the same")
	}
}

// TestTipTransitions: every pair of statuses moves only by the table, and each move by the
// roles the table names: the township verifies and proposes, only the city approves and pays.
func TestTipTransitions(t *testing.T) {
	city := map[[2]Status]bool{{RewardProposed, RewardApproved}: true, {RewardProposed, RewardRejected}: true,
		{RewardApproved, RewardPaid}: true}
	township := map[[2]Status]bool{{Received, Valid}: true, {Received, Invalid}: true, {Received, Duplicate}: true,
		{Valid, RewardProposed}: true, {Valid, Duplicate}: true, {RewardRejected, RewardProposed}: true}
	for _, from := range Statuses {
		for _, to := range Statuses {
			pair := [2]Status{from, to}
			for _, role := range accounts.Roles {
				err := mayMove(role, from, to)
				var want error
				switch {
				case !city[pair] && !township[pair]:
					want = ErrInvalidTransition
				case city[pair] && role != accounts.CityAdmin:
					want = apperr.ErrForbidden
				case township[pair] && role != accounts.CityAdmin && role != accounts.TownshipCoordinator:
					want = apperr.ErrForbidden
				}
				if err != want {
					t.Errorf("%s → %s as %s: %v, want %v", from, to, role, err, want)
				}
			}
		}
	}
	if err := mayDecide(accounts.TownshipCoordinator, ListingProposed, ListingApproved); err != apperr.ErrForbidden {
		t.Errorf("coordinator decides a listing: %v", err)
	}
	if err := mayDecide(accounts.CityAdmin, ListingProposed, ListingRejected); err != nil {
		t.Errorf("city rejects a listing: %v", err)
	}
	if err := mayDecide(accounts.CityAdmin, ListingApproved, ListingRejected); err == nil {
		t.Error("a decided listing decided again")
	}
	for s, want := range map[Status]string{RewardProposed: "valid", RewardRejected: "valid", RewardPaid: "reward_paid", Received: "received"} {
		if s.Public() != want {
			t.Errorf("%s shows as %s", s, s.Public())
		}
	}
}
