package premises_test

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/sieve-city/sieve/gis"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/premises"
)

// TestBulkChangesWriteOneSummary: an import and a re-placing are bulk changes (db.Bulk): each
// writes exactly one audit entry, attributed to the caller, in its area, with its counts, and
// none per row; a re-placing that moves nothing writes none.
func TestBulkChangesWriteOneSummary(t *testing.T) {
	w := newPlacementWorld(t)
	ctx := context.Background()
	store := premises.NewStore()
	townshipPath := w.villagePath[:strings.LastIndex(w.villagePath, ".")]
	coord := db.Actor{Username: "coord", Role: "township_coordinator", Scope: []string{townshipPath}}
	type entry struct {
		action, path string
		after        map[string]int64
	}
	entries := func() []entry {
		t.Helper()
		var out []entry
		err := db.AsSystem(ctx, w.pool, "test", func(tx pgx.Tx) error {
			rows, err := tx.Query(ctx, `SELECT action, coalesce(region_path::text, ''), coalesce(after, '{}')
				FROM audit_log WHERE entity = 'premises' AND actor = 'coord' ORDER BY id`)
			if err != nil {
				return err
			}
			out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (entry, error) {
				var e entry
				var after []byte
				if err := r.Scan(&e.action, &e.path, &after); err != nil {
					return e, err
				}
				return e, json.Unmarshal(after, &e.after)
			})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}

	var b premises.Batch
	for i, pt := range [][2]float64{{113.45, 34.2}, {113.52, 34.2}, {113.58, 34.2}} {
		lon, lat := pt[0], pt[1]
		b.Add(premises.NewPremise{Name: "p" + string(rune('a'+i)), Lon: &lon, Lat: &lat}, gis.WGS84, i+2)
	}
	if err := db.InScope(ctx, w.pool, coord, func(tx pgx.Tx) error {
		_, err := store.Import(ctx, tx, &b, 0)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	want := []entry{{"import", townshipPath, map[string]int64{"created": 3, "inCells": 2, "outsideCells": 1}}}
	if got := entries(); !reflect.DeepEqual(got, want) {
		t.Fatalf("after the import: %+v, want %+v", got, want)
	}

	// The east cell grows over the strip that had none: re-placing moves one premise.
	if err := db.AsSystem(ctx, w.pool, "test", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE regions SET geom = ST_Multi(ST_MakeEnvelope(113.5, 34.1, 113.6, 34.3, 4326)) WHERE id = $1`, w.east)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	place := func() int64 {
		t.Helper()
		var moved int64
		if err := db.InScope(ctx, w.pool, coord, func(tx pgx.Tx) error {
			var err error
			moved, err = store.PlaceIn(ctx, tx, w.village)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return moved
	}
	if moved := place(); moved != 1 {
		t.Fatalf("re-placing moved %d premises, want 1", moved)
	}
	want = append(want, entry{"reassign", w.villagePath, map[string]int64{"moved": 1, "region": w.village}})
	if got := entries(); !reflect.DeepEqual(got, want) {
		t.Fatalf("after re-placing: %+v, want %+v", got, want)
	}
	if moved := place(); moved != 0 {
		t.Fatalf("re-placing again moved %d premises, want 0", moved)
	}
	if got := entries(); !reflect.DeepEqual(got, want) {
		t.Errorf("a re-placing that moved nothing wrote %+v", got[len(want):])
	}
}
