package imagery

import (
	"fmt"
	"slices"
)

// Multi-index hashing (MIH, Norouzi, Punjani and Fleet 2012) finds the stored perceptual hashes
// within a Hamming radius r of a query without comparing it with all of them. A 64-bit hash is
// split into PHashChunks chunks of PHashChunkBits bits, and each stored hash is indexed under one
// key per chunk (PHashChunkKeys). Two hashes within distance r = PHashChunks·s + a (0 ≤ a <
// PHashChunks) of each other have, by the pigeonhole principle, one of the first a+1 chunks
// within s bits or one of the other chunks within s−1 bits: if all first a+1 differed in s+1
// bits or more and all others in s or more, the distance would be at least PHashChunks·s + a + 1
// = r + 1. So looking up the keys of every chunk value within those radii of the query's chunks
// (PHashProbes) finds every stored hash within r, and comparing the candidates exactly removes
// the others: no hash within r is missed.
//
// With 4 chunks of 16 bits (the numbers for the photo-reuse check):
//
//	r   chunk radii   probes   candidate keys hit among 10^6 uniform hashes (probes·10^6/2^16)
//	6   1 1 1 0           52      ~790
//	10  2 2 2 1          428    ~6,530
//
// A probe with radius s in a 16-bit chunk is Σ_{i≤s} C(16, i) keys: 1, 17, 137, 697. Fewer
// chunks give fewer candidates but many more probes (3 chunks of 21–22 bits: 3,588 probes at
// r = 10), more chunks many more candidates (8 chunks of 8 bits: each key is shared by ~3,900
// of 10^6 hashes); 4 × 16 keeps both small at r ≤ 10.
const (
	// PHashChunks is the number of chunks a hash is indexed under.
	PHashChunks = 4
	// PHashChunkBits is the width of one chunk; chunk k is bits 16k..16k+15 of the hash,
	// counted from the least significant.
	PHashChunkBits = 64 / PHashChunks
	// MaxPHashRadius is the largest search radius PHashProbes answers: photo reuse needs
	// 10 at most, and beyond it the probes grow fast (2,788 at 12).
	MaxPHashRadius = 10
)

// PHashChunkKey is the key of value v of chunk k: k in the bits above the chunk's width, v in
// the PHashChunkBits below, so the keys of all chunks live in one index column.
func PHashChunkKey(k int, v uint16) int32 {
	return int32(k)<<PHashChunkBits | int32(v)
}

// PHashChunk returns chunk k (0 ≤ k < PHashChunks) of h.
func PHashChunk(h uint64, k int) uint16 {
	return uint16(h >> (PHashChunkBits * k))
}

// PHashChunkKeys returns the keys a stored hash is indexed under, one per chunk.
func PHashChunkKeys(h uint64) [PHashChunks]int32 {
	var keys [PHashChunks]int32
	for k := range keys {
		keys[k] = PHashChunkKey(k, PHashChunk(h, k))
	}
	return keys
}

// PHashProbeRadii returns the radius probed in each chunk for a search radius r (0 ≤ r): with
// r = PHashChunks·s + a, s for the first a+1 chunks and s−1 for the others (−1: that chunk is
// not probed at all).
func PHashProbeRadii(r int) [PHashChunks]int {
	s, a := r/PHashChunks, r%PHashChunks
	var radii [PHashChunks]int
	for k := range radii {
		radii[k] = s - 1
		if k <= a {
			radii[k] = s
		}
	}
	return radii
}

// PHashProbes returns the keys to look up, in ascending order, so that every stored hash
// within Hamming distance r of h is indexed under at least one of them (see the head of this
// file). r must lie in [0, MaxPHashRadius].
func PHashProbes(h uint64, r int) ([]int32, error) {
	if r < 0 || r > MaxPHashRadius {
		return nil, fmt.Errorf("imagery: pHash search radius %d outside [0, %d]", r, MaxPHashRadius)
	}
	radii := PHashProbeRadii(r)
	keys := make([]int32, 0, PHashProbeCount(r))
	for k, s := range radii {
		c := PHashChunk(h, k)
		forEachWithin(s, func(flip uint16) { keys = append(keys, PHashChunkKey(k, c^flip)) })
	}
	slices.Sort(keys)
	return keys, nil
}

// PHashProbeCount returns how many keys PHashProbes gives for radius r.
func PHashProbeCount(r int) int {
	n := 0
	for _, s := range PHashProbeRadii(r) {
		for i := 0; i <= s; i++ {
			n += binomial(PHashChunkBits, i)
		}
	}
	return n
}

// forEachWithin calls fn with every chunk-wide bit mask of at most s bits set, each once.
func forEachWithin(s int, fn func(uint16)) {
	if s < 0 {
		return
	}
	var rec func(mask uint16, from, left int)
	rec = func(mask uint16, from, left int) {
		fn(mask)
		if left == 0 {
			return
		}
		for b := from; b < PHashChunkBits; b++ {
			rec(mask|1<<b, b+1, left-1)
		}
	}
	rec(0, 0, s)
}

func binomial(n, k int) int {
	c := 1
	for i := 0; i < k; i++ {
		c = c * (n - i) / (i + 1)
	}
	return c
}
