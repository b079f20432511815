package imagery

import (
	"image"
	"math/bits"

	"github.com/corona10/goimagehash"
)

// PerceptualHash returns the 64-bit DCT perceptual hash (pHash) of img: the
// image is reduced to 64×64 grey, transformed with a 2-D DCT, and each of
// the 64 lowest frequencies gives one bit (above or below their median).
// Re-encoded, resized or slightly edited copies of a photo have hashes a
// few bits apart; compare them with HammingDistance. A nil image hashes to 0.
func PerceptualHash(img image.Image) uint64 {
	if img == nil || img.Bounds().Empty() {
		return 0
	}
	h, err := goimagehash.PerceptionHash(img)
	if err != nil {
		return 0
	}
	return h.GetHash()
}

// HammingDistance returns how many bits differ between two hashes: 0 for
// the same picture, up to about 10 for copies of it, around 32 for
// unrelated pictures.
func HammingDistance(a, b uint64) int {
	return bits.OnesCount64(a ^ b)
}
