package tips

import (
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"strings"
)

// codeAlphabet is the tracking code's alphabet: digits and capital letters without the ones
// read or typed for another (0/O, 1/I/L), 31 symbols; a code of codeLen of them carries 12 ×
// log2(31) ≈ 59 bits, so a plain SHA-256 of it is a safe stored form (no salt or slow hash
// needed: guessing codes is a search of 2^59).
const (
	codeAlphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
	codeLen      = 12
)

// NewCode returns a fresh random tracking code (跟踪码), 12 symbols, uniformly drawn.
func NewCode() (string, error) {
	out := make([]byte, 0, codeLen)
	buf := make([]byte, 32)
	// Rejection sampling: bytes ≥ 248 (8 × 31) would favour the first symbols.
	for len(out) < codeLen {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("tips: code: %w", err)
		}
		for _, b := range buf {
			if b < 248 && len(out) < codeLen {
				out = append(out, codeAlphabet[int(b)%len(codeAlphabet)])
			}
		}
	}
	return string(out), nil
}

// normalCode is a code as the reporter may type it back: any case, with spaces or dashes.
// Letters the alphabet lacks are mapped to the ones they are mistaken for (O→0 is not in the
// alphabet either, so nothing is guessed: such a code simply finds nothing).
func normalCode(s string) string {
	s = strings.ToUpper(s)
	return strings.Map(func(r rune) rune {
		if r == '-' || r == ' ' {
			return -1
		}
		return r
	}, s)
}

// HashCode returns the stored form of a tracking code: the SHA-256 of its normal form.
func HashCode(code string) []byte {
	sum := sha256.Sum256([]byte(normalCode(code)))
	return sum[:]
}
