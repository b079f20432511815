package imagery

import (
	"math/bits"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestPHashProbeRadii(t *testing.T) {
	tests := []struct {
		r    int
		want [PHashChunks]int
	}{
		{0, [4]int{0, -1, -1, -1}},
		{3, [4]int{0, 0, 0, 0}},
		{4, [4]int{1, 0, 0, 0}},
		{6, [4]int{1, 1, 1, 0}},
		{7, [4]int{1, 1, 1, 1}},
		{10, [4]int{2, 2, 2, 1}},
	}
	for _, tt := range tests {
		radii := PHashProbeRadii(tt.r)
		if radii != tt.want {
			t.Errorf("PHashProbeRadii(%d) = %v, want %v", tt.r, radii, tt.want)
		}
		// The pigeonhole bound: the smallest distance that avoids every probed radius is r+1.
		sum := 0
		for _, s := range radii {
			sum += s + 1
		}
		if sum != tt.r+1 {
			t.Errorf("r=%d: radii %v let a distance of %d slip through, want %d", tt.r, radii, sum, tt.r+1)
		}
	}
}

// TestPHashProbeCounts pins the numbers the package doc and the README give.
func TestPHashProbeCounts(t *testing.T) {
	for r, want := range map[int]int{0: 1, 6: 52, 10: 428} {
		if got := PHashProbeCount(r); got != want {
			t.Errorf("PHashProbeCount(%d) = %d, want %d", r, got, want)
		}
		keys, err := PHashProbes(rand.Uint64(), r)
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) != want {
			t.Errorf("PHashProbes(_, %d) gave %d keys, want %d", r, len(keys), want)
		}
		if !slices.IsSorted(keys) || len(slices.Compact(slices.Clone(keys))) != len(keys) {
			t.Errorf("r=%d: probes not sorted and distinct", r)
		}
	}
}

func TestPHashProbesRadiusRange(t *testing.T) {
	for _, r := range []int{-1, MaxPHashRadius + 1} {
		if _, err := PHashProbes(1, r); err == nil {
			t.Errorf("radius %d: no error", r)
		}
	}
}

func TestPHashChunkKeys(t *testing.T) {
	keys := PHashChunkKeys(0x0123_4567_89ab_cdef)
	want := [PHashChunks]int32{0<<16 | 0xcdef, 1<<16 | 0x89ab, 2<<16 | 0x4567, 3<<16 | 0x0123}
	if keys != want {
		t.Fatalf("PHashChunkKeys = %x, want %x", keys, want)
	}
}

// flipBits returns h with n distinct random bits flipped.
func flipBits(rng *rand.Rand, h uint64, n int) uint64 {
	for _, b := range rng.Perm(64)[:n] {
		h ^= 1 << b
	}
	return h
}

// TestPHashProbesExact: a hash within r of the query is always indexed under one of its probes
// (no false negatives), at every distance up to r and for every r up to MaxPHashRadius, with
// the flipped bits bunched into few chunks as well as spread.
func TestPHashProbesExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for r := 0; r <= MaxPHashRadius; r++ {
		for i := 0; i < 3000; i++ {
			q := rng.Uint64()
			d := rng.IntN(r + 1)
			g := flipBits(rng, q, d)
			if i%3 == 0 { // spread evenly: the worst case of the pigeonhole
				g = q
				for j := 0; j < d; j++ {
					k := j % PHashChunks
					g ^= 1 << (PHashChunkBits*k + rng.IntN(PHashChunkBits))
				}
			}
			dist := bits.OnesCount64(q ^ g)
			probes, err := PHashProbes(q, r)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, key := range PHashChunkKeys(g) {
				if _, ok := slices.BinarySearch(probes, key); ok {
					found = true
				}
			}
			if !found {
				t.Fatalf("r=%d: %016x at distance %d from %016x is under none of the probes", r, g, dist, q)
			}
		}
	}
}

// TestPHashProbesExhaustiveSpread checks every distance-r pattern that spreads r bits over the
// chunks (the partitions that could defeat the pigeonhole): the probes cover each one.
func TestPHashProbesExhaustiveSpread(t *testing.T) {
	for r := 0; r <= MaxPHashRadius; r++ {
		var rec func(k, left int, per [PHashChunks]int)
		rec = func(k, left int, per [PHashChunks]int) {
			if k == PHashChunks {
				if left != 0 {
					return
				}
				var g uint64
				for c, n := range per {
					for b := 0; b < n; b++ {
						g |= 1 << (PHashChunkBits*c + b)
					}
				}
				probes, _ := PHashProbes(0, r)
				for _, key := range PHashChunkKeys(g) {
					if _, ok := slices.BinarySearch(probes, key); ok {
						return
					}
				}
				t.Errorf("r=%d: bits per chunk %v are under none of the probes", r, per)
				return
			}
			for n := 0; n <= left && n <= PHashChunkBits; n++ {
				per[k] = n
				rec(k+1, left-n, per)
			}
		}
		rec(0, r, [PHashChunks]int{})
	}
}
