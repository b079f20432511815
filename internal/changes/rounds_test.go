package changes

import (
	"testing"

	"github.com/jackc/pgx/v5/pgtype"
)

// TestRoundFor: the first round in the rule's order whose region holds the premise (the same
// path or an ancestor, label by label) is the one in force; a city-wide round holds every
// premise; a premise is due in it unless an inspection there counts.
func TestRoundFor(t *testing.T) {
	town := []round{{id: 7, path: "1.2.3"}, {id: 5, path: "1.2"}, {id: 9, path: ""}, {id: 3, path: ""}}
	for _, c := range []struct {
		name   string
		rounds []round
		path   string
		valid  bool
		want   int64 // 0: none
	}{
		{"village round for a premise in the village", town, "1.2.3.40", true, 7},
		{"the village itself", town, "1.2.3", true, 7},
		{"a sibling village gets the township's", town, "1.2.4.41", true, 5},
		{"a label prefix is not an ancestor", town, "1.2.30.42", true, 5},
		{"another township gets the city-wide round first in order", town, "1.8.9.43", true, 9},
		{"no path: only city-wide rounds", town, "", false, 9},
		{"no round in force", nil, "1.2.3.40", true, 0},
		{"only regional rounds elsewhere", []round{{id: 7, path: "1.2.3"}}, "1.5.6.7", true, 0},
	} {
		got := roundFor(c.rounds, c.path, c.valid)
		if (got == nil) != (c.want == 0) || (got != nil && *got != c.want) {
			t.Errorf("%s: round %v, want %d", c.name, got, c.want)
		}
	}
	var p Premise
	resolve(&p, town, pgtype.Text{String: "1.2.3.40", Valid: true}, []int64{5, 9})
	if p.RoundID == nil || *p.RoundID != 7 || !p.Due {
		t.Errorf("inspected only in other rounds: round %v due %v, want 7 and due", p.RoundID, p.Due)
	}
	resolve(&p, town, pgtype.Text{String: "1.2.3.40", Valid: true}, []int64{7})
	if p.Due {
		t.Error("inspected in the round in force, still due")
	}
	resolve(&p, nil, pgtype.Text{String: "1.2.3.40", Valid: true}, nil)
	if p.RoundID != nil || p.Due {
		t.Errorf("no round in force: round %v due %v", p.RoundID, p.Due)
	}
}
