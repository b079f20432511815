package config

import (
	"fmt"

	"github.com/sieve-city/sieve/internal/tips"
)

// The public tips' settings (SIEVE_TIPS_*), read into Config.Tips with the defaults of
// tips.DefaultConfig.

// tips reads the SIEVE_TIPS_* variables. Reward amounts are given in yuan.
func (r *reader) tips(t *tips.Config) {
	r.int("SIEVE_TIPS_PER_HOUR", &t.PerHour)
	r.int("SIEVE_TIPS_PER_DAY", &t.PerDay)
	r.int("SIEVE_TIPS_MAX_PHOTOS", &t.MaxPhotos)
	r.bytes("SIEVE_TIPS_PHOTO_MAX_BYTES", &t.PhotoMaxBytes)
	r.bytes("SIEVE_TIPS_BODY_LIMIT", &t.BodyLimit)
	r.float("SIEVE_TIPS_REWARD_PERCENT", &t.Reward.Percent)
	minYuan, maxYuan := float64(t.Reward.MinFen)/100, float64(t.Reward.MaxFen)/100
	r.float("SIEVE_TIPS_REWARD_MIN_YUAN", &minYuan)
	r.float("SIEVE_TIPS_REWARD_MAX_YUAN", &maxYuan)
	t.Reward.MinFen, t.Reward.MaxFen = int64(minYuan*100+0.5), int64(maxYuan*100+0.5)
	r.float("SIEVE_TIPS_DUPLICATE_M", &t.DuplicateMetres)
	r.int("SIEVE_TIPS_DUPLICATE_DAYS", &t.DuplicateDays)
	r.int("SIEVE_TIPS_VERIFY_DAYS", &t.VerifyDays)
	r.dur("SIEVE_TIPS_ORPHAN_GRACE", &t.OrphanGrace)
	r.dur("SIEVE_TIPS_CLEANUP_EVERY", &t.CleanupEvery)
}

// validateTips checks the tips' settings that parsed.
func validateTips(t tips.Config, bad func(name, format string, a ...any)) {
	between := func(name string, v, lo, hi float64) {
		if !(v >= lo && v <= hi) {
			bad(name, "between %g and %g, got %g", lo, hi, v)
		}
	}
	between("SIEVE_TIPS_PER_HOUR", float64(t.PerHour), 1, 10000)
	between("SIEVE_TIPS_PER_DAY", float64(t.PerDay), 1, 100000)
	if t.PerDay < t.PerHour {
		bad("SIEVE_TIPS_PER_DAY", "at least SIEVE_TIPS_PER_HOUR (%d), got %d", t.PerHour, t.PerDay)
	}
	between("SIEVE_TIPS_MAX_PHOTOS", float64(t.MaxPhotos), 0, 20)
	between("SIEVE_TIPS_PHOTO_MAX_BYTES", float64(t.PhotoMaxBytes), 64<<10, 1<<30)
	if t.BodyLimit < t.PhotoMaxBytes*int64(t.MaxPhotos) {
		bad("SIEVE_TIPS_BODY_LIMIT", "at least SIEVE_TIPS_MAX_PHOTOS × SIEVE_TIPS_PHOTO_MAX_BYTES (%d), got %d",
			t.PhotoMaxBytes*int64(t.MaxPhotos), t.BodyLimit)
	}
	if err := t.Reward.Check(); err != nil {
		bad("SIEVE_TIPS_REWARD_PERCENT / _MIN_YUAN / _MAX_YUAN", "%v", err)
	}
	between("SIEVE_TIPS_DUPLICATE_M", t.DuplicateMetres, 1, 10000)
	between("SIEVE_TIPS_DUPLICATE_DAYS", float64(t.DuplicateDays), 1, 3650)
	between("SIEVE_TIPS_VERIFY_DAYS", float64(t.VerifyDays), 1, 365)
	// An intake may take the body's whole read time: a younger object may be one being posted.
	between("SIEVE_TIPS_ORPHAN_GRACE", t.OrphanGrace.Minutes(), 15, 7*24*60)
	between("SIEVE_TIPS_CLEANUP_EVERY", t.CleanupEvery.Minutes(), 1, 24*60)
}

// tipsString prints the tips' settings for the start-up log.
func tipsString(t tips.Config) string {
	return fmt.Sprintf(" tips.per_hour=%d tips.per_day=%d tips.max_photos=%d tips.photo_max_bytes=%d tips.body_limit=%d "+
		"tips.reward=%g%%[%d..%d fen] tips.duplicate=%gm/%dd tips.verify_days=%d tips.orphan_grace=%s tips.cleanup_every=%s ",
		t.PerHour, t.PerDay, t.MaxPhotos, t.PhotoMaxBytes, t.BodyLimit, t.Reward.Percent, t.Reward.MinFen, t.Reward.MaxFen,
		t.DuplicateMetres, t.DuplicateDays, t.VerifyDays, t.OrphanGrace, t.CleanupEvery)
}
