package config

import (
	"fmt"
	"strings"
)

// Leads configures the leads from data (SIEVE_LEADS_*, issue 14): the score threshold, how
// near is the same place, the verify-by delay, the import size, the market entities' scope
// keywords and the power users' rules. cmd/sieve turns it into leads.Config.
type Leads struct {
	MinScore      float64 // SIEVE_LEADS_MIN_SCORE: a candidate scored below is no lead
	DedupMetres   float64 // SIEVE_LEADS_DEDUP_M: an open lead or site this near is the same place
	ConfirmMetres float64 // SIEVE_LEADS_CONFIRM_M: a suspected inspection this near confirms a lead
	VerifyDays    int     // SIEVE_LEADS_VERIFY_DAYS: the task's verify-by date after the import
	MaxBytes      int64   // SIEVE_LEADS_MAX_BYTES: one imported file
	// SIEVE_LEADS_CHEMICAL_KEYWORDS / SIEVE_LEADS_SUSPECT_KEYWORDS: business-scope words of a
	// chemical (化工类) and a suspected chemical (疑似化工类) market entity, comma separated.
	ChemicalKeywords, SuspectKeywords []string
	// SIEVE_LEADS_POWER_SURGE_RATIO, _MEDIAN_RATIO, _FLOOR_KWH: a month at least SurgeRatio × the
	// previous, MedianRatio × the median of the six before and above FloorKWh is a surge.
	SurgeRatio, MedianRatio, FloorKWh float64
	// SIEVE_LEADS_POWER_RESIDENTIAL_KWH: a residential account whose median month of the last
	// six reaches this has a factory's load.
	ResidentialKWh float64
	// SIEVE_LEADS_REGISTERED_TAGS: premises tags of registered chemical firms (their industrial
	// power is no lead), comma separated.
	RegisteredTags []string
}

func defaultLeads() Leads {
	return Leads{MinScore: 0.3, DedupMetres: 100, ConfirmMetres: 50, VerifyDays: 14, MaxBytes: 32 << 20,
		ChemicalKeywords: []string{"化工", "化学", "危险化学品", "农药", "医药中间体"},
		SuspectKeywords:  []string{"溶剂", "涂料", "油漆", "胶粘剂", "树脂", "染料", "颜料", "助剂", "稀释剂"},
		SurgeRatio:       2, MedianRatio: 3, FloorKWh: 1000, ResidentialKWh: 2000,
		RegisteredTags: []string{"化工企业", "危化品企业", "危险化学品企业"}}
}

// leads reads the SIEVE_LEADS_* variables.
func (r *reader) leads(l *Leads) {
	r.float("SIEVE_LEADS_MIN_SCORE", &l.MinScore)
	r.float("SIEVE_LEADS_DEDUP_M", &l.DedupMetres)
	r.float("SIEVE_LEADS_CONFIRM_M", &l.ConfirmMetres)
	r.int("SIEVE_LEADS_VERIFY_DAYS", &l.VerifyDays)
	r.bytes("SIEVE_LEADS_MAX_BYTES", &l.MaxBytes)
	r.words("SIEVE_LEADS_CHEMICAL_KEYWORDS", &l.ChemicalKeywords)
	r.words("SIEVE_LEADS_SUSPECT_KEYWORDS", &l.SuspectKeywords)
	r.float("SIEVE_LEADS_POWER_SURGE_RATIO", &l.SurgeRatio)
	r.float("SIEVE_LEADS_POWER_MEDIAN_RATIO", &l.MedianRatio)
	r.float("SIEVE_LEADS_POWER_FLOOR_KWH", &l.FloorKWh)
	r.float("SIEVE_LEADS_POWER_RESIDENTIAL_KWH", &l.ResidentialKWh)
	r.words("SIEVE_LEADS_REGISTERED_TAGS", &l.RegisteredTags)
}

// words reads a list of words separated by commas (ASCII or Chinese) or 、.
func (r *reader) words(name string, dst *[]string) {
	raw := r.getenv(name)
	if raw == "" {
		return
	}
	out := []string{}
	for _, w := range strings.FieldsFunc(raw, func(c rune) bool { return c == ',' || c == '，' || c == '、' }) {
		if w = strings.TrimSpace(w); w != "" {
			out = append(out, w)
		}
	}
	*dst = out
}

// validateLeads checks the leads' values against their ranges.
func validateLeads(l Leads, bad func(name, format string, a ...any)) {
	between := func(name string, v, lo, hi float64) {
		if !(v >= lo && v <= hi) {
			bad(name, "between %g and %g, got %g", lo, hi, v)
		}
	}
	between("SIEVE_LEADS_MIN_SCORE", l.MinScore, 0, 1)
	between("SIEVE_LEADS_DEDUP_M", l.DedupMetres, 0, 5000)
	between("SIEVE_LEADS_CONFIRM_M", l.ConfirmMetres, 0, 5000)
	between("SIEVE_LEADS_VERIFY_DAYS", float64(l.VerifyDays), 1, 365)
	if l.MaxBytes < 1<<10 {
		bad("SIEVE_LEADS_MAX_BYTES", "at least 1KB")
	}
	if len(l.ChemicalKeywords) == 0 {
		bad("SIEVE_LEADS_CHEMICAL_KEYWORDS", "at least one keyword")
	}
	between("SIEVE_LEADS_POWER_SURGE_RATIO", l.SurgeRatio, 1, 100)
	between("SIEVE_LEADS_POWER_MEDIAN_RATIO", l.MedianRatio, 1, 100)
	between("SIEVE_LEADS_POWER_FLOOR_KWH", l.FloorKWh, 0, 1e9)
	between("SIEVE_LEADS_POWER_RESIDENTIAL_KWH", l.ResidentialKWh, 1, 1e9)
}

// leadsString prints the leads' settings for the start-up log.
func leadsString(l Leads) string {
	return fmt.Sprintf(" leads.min_score=%g leads.dedup_m=%g leads.confirm_m=%g leads.verify_days=%d leads.max_bytes=%d "+
		"leads.chemical_keywords=%s leads.suspect_keywords=%s leads.power=%g/%g/%g/%g leads.registered_tags=%s",
		l.MinScore, l.DedupMetres, l.ConfirmMetres, l.VerifyDays, l.MaxBytes, strings.Join(l.ChemicalKeywords, "、"),
		strings.Join(l.SuspectKeywords, "、"), l.SurgeRatio, l.MedianRatio, l.FloorKWh, l.ResidentialKWh,
		strings.Join(l.RegisteredTags, "、"))
}
