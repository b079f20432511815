package tiles

import (
	"context"
	"math/rand"
	"testing"

	"github.com/sieve-city/sieve/internal/testenv"
)

// TestZonesAreTheTilesDescendants: the zone range of a tile of zoom 14 or less holds the zones
// of exactly its zoom-14 descendants; a deeper tile's range is its zoom-14 ancestor's zone.
func TestZonesAreTheTilesDescendants(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for i := 0; i < 2000; i++ {
		z := r.Intn(MaxZoom + 1)
		n := 1 << z
		x, y := r.Intn(n), r.Intn(n)
		lo, hi := Zones(z, x, y)
		// A random zoom-14 tile, half the time under z/x/y.
		var x14, y14 int
		if z <= ZoneZoom {
			d := ZoneZoom - z
			if r.Intn(2) == 0 {
				x14, y14 = x<<d+r.Intn(1<<d), y<<d+r.Intn(1<<d)
			} else {
				x14, y14 = r.Intn(1<<ZoneZoom), r.Intn(1<<ZoneZoom)
			}
			under := x14>>d == x && y14>>d == y
			if k := zone(x14, y14); (k >= lo && k < hi) != under {
				t.Fatalf("tile %d/%d/%d, range [%d, %d): zoom-14 tile %d/%d (zone %d) under it %v, in the range %v",
					z, x, y, lo, hi, x14, y14, k, under, !under)
			}
			if hi-lo != int64(1)<<(2*d) {
				t.Fatalf("tile %d/%d/%d: %d zones, want 4^%d", z, x, y, hi-lo, d)
			}
		} else {
			d := z - ZoneZoom
			if lo != zone(x>>d, y>>d) || hi != lo+1 {
				t.Fatalf("tile %d/%d/%d: range [%d, %d), want its ancestor's zone %d", z, x, y, lo, hi, zone(x>>d, y>>d))
			}
		}
	}
	if lo, hi := Zones(0, 0, 0); lo != 0 || hi != 1<<(2*ZoneZoom) {
		t.Errorf("the world tile: [%d, %d), want every zone", lo, hi)
	}
}

// TestZonesAgree: sieve_tile_zone (migration 0039) numbers the zoom-14 tiles as zone does.
func TestZonesAgree(t *testing.T) {
	pool := testenv.DB(t)
	r := rand.New(rand.NewSource(2))
	xs, ys, want := []int64{0, 16383, 16383, 0}, []int64{0, 16383, 0, 16383}, []int64{}
	for i := 0; i < 500; i++ {
		xs, ys = append(xs, int64(r.Intn(1<<ZoneZoom))), append(ys, int64(r.Intn(1<<ZoneZoom)))
	}
	for i := range xs {
		want = append(want, zone(int(xs[i]), int(ys[i])))
	}
	var got []int64
	if err := pool.QueryRow(context.Background(), `SELECT array_agg(sieve_tile_zone(x, y) ORDER BY i)
		FROM unnest($1::int8[], $2::int8[]) WITH ORDINALITY AS v(x, y, i)`, xs, ys).Scan(&got); err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("zoom-14 tile %d/%d: sieve_tile_zone %d, zone %d", xs[i], ys[i], got[i], want[i])
		}
	}
}
