package tips

import (
	"fmt"
	"math"
)

// RewardRule is how a reward follows from the fine (罚没款): Percent of it, at least MinFen and
// at most MaxFen. Amounts are in fen (分), so no rounding is done in floating point.
type RewardRule struct {
	Percent float64
	MinFen  int64
	MaxFen  int64
}

// NationalRule is the rule for safety-production tips (《安全生产领域举报奖励办法》 §9): 15 % of
// the fine, at least 3,000 yuan, at most 300,000 yuan.
func NationalRule() RewardRule { return RewardRule{Percent: 15, MinFen: 3000_00, MaxFen: 300000_00} }

// Check reports a rule that cannot be applied.
func (r RewardRule) Check() error {
	switch {
	case !(r.Percent > 0 && r.Percent <= 100):
		return fmt.Errorf("tips: reward percent must be in (0, 100], got %g", r.Percent)
	case r.MinFen < 0 || r.MaxFen < r.MinFen:
		return fmt.Errorf("tips: reward bounds must satisfy 0 ≤ min ≤ max, got %d..%d fen", r.MinFen, r.MaxFen)
	}
	return nil
}

// Reward returns the reward for a fine of fineFen, in fen: the rule's share of the fine,
// rounded half up to the fen, raised to the floor and capped at the ceiling.
func (r RewardRule) Reward(fineFen int64) int64 {
	share := int64(math.Floor(float64(fineFen)*r.Percent/100 + 0.5))
	return min(max(share, r.MinFen), r.MaxFen)
}

// toFen converts yuan to fen, refusing what is not a finite amount of 0 to 10^10 yuan with at
// most two decimals.
func toFen(yuan float64) (int64, bool) {
	if math.IsNaN(yuan) || math.IsInf(yuan, 0) || yuan < 0 || yuan > 1e10 {
		return 0, false
	}
	fen := math.Round(yuan * 100)
	if math.Abs(fen-yuan*100) > 1e-6*math.Max(1, yuan) {
		return 0, false
	}
	return int64(fen), true
}

func toYuan(fen *int64) *float64 {
	if fen == nil {
		return nil
	}
	y := float64(*fen) / 100
	return &y
}
