package config

import (
	"fmt"
	"time"
)

// Throttle configures the one throttle's bookkeeping (SIEVE_THROTTLE_*; internal/throttle): the
// limits themselves belong to the limiters (logins, SIEVE_TIPS_PER_*).
type Throttle struct {
	// PruneEvery is how often the events older than the longest limiter window are deleted
	// (SIEVE_THROTTLE_PRUNE_EVERY, 1h).
	PruneEvery time.Duration
}

func defaultThrottle() Throttle { return Throttle{PruneEvery: time.Hour} }

// throttle reads the SIEVE_THROTTLE_* variables.
func (r *reader) throttle(c *Throttle) { r.dur("SIEVE_THROTTLE_PRUNE_EVERY", &c.PruneEvery) }

// validateThrottle checks the throttle's settings.
func validateThrottle(c Throttle, bad func(name, format string, a ...any)) {
	if c.PruneEvery < time.Minute || c.PruneEvery > 24*time.Hour {
		bad("SIEVE_THROTTLE_PRUNE_EVERY", "between 1m and 24h, got %s", c.PruneEvery)
	}
}

// throttleString prints the settings for the start-up log.
func throttleString(c Throttle) string { return fmt.Sprintf(" throttle.prune_every=%s ", c.PruneEvery) }
