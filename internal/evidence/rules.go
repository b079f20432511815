package evidence

// Judge applies the rules to one inspection. (Placeholder until the rules land: it finds
// nothing, so every inspection is verified. The evidence work replaces this file.)
func Judge(cfg Config, in Input) Verdict {
	return Verdict{Status: Verified, Findings: []Finding{}}
}
