package imagery

import (
	"bytes"
	"context"
	"image"
	"os"
	"path/filepath"
	"testing"

	"github.com/disintegration/imaging"
	"github.com/pixiv/go-libjpeg/jpeg"
)

// Width and height of the 20 MP drone-sized fixture (a DJI FC6310 frame).
const bench20MPWidth, bench20MPHeight = 5472, 3648

// make20MPJPEG writes a 5472×3648 JPEG made from a real photo (upscaled,
// with sensor-like grain so that it compresses like a real 20 MP frame,
// about 8 MB) to path. It is generated at test time so the repository
// stays small.
func make20MPJPEG(tb testing.TB, path string) {
	tb.Helper()
	src, err := imaging.Open(filepath.Join("testdata", "jolla.jpg"))
	if err != nil {
		tb.Fatal(err)
	}
	big := imaging.Fill(src, bench20MPWidth, bench20MPHeight, imaging.Center, imaging.Linear)
	seed := uint32(1)
	for i := 0; i < len(big.Pix); i += 4 {
		seed = seed*1664525 + 1013904223
		n := int(seed>>27) - 16 // grain in [-16, 15]
		for c := range 3 {
			big.Pix[i+c] = uint8(min(255, max(0, int(big.Pix[i+c])+n)))
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, opaqueRGBA(big), &jpeg.EncoderOptions{Quality: 92}); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		tb.Fatal(err)
	}
}

// bench20MP returns the 20 MP fixture, from $SIEVE_BENCH_JPEG when set (the
// deploy/bench/thumbnail script passes the file it also gives vipsthumbnail)
// or freshly generated.
func bench20MP(b *testing.B) []byte {
	b.Helper()
	path := os.Getenv("SIEVE_BENCH_JPEG")
	if path == "" {
		path = filepath.Join(b.TempDir(), "20mp.jpg")
		make20MPJPEG(b, path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	return data
}

// BenchmarkThumbnail20MP measures Make on a 20 MP JPEG: both default sizes
// (list 320 px, detail 1280 px), the perceptual hash included.
func BenchmarkThumbnail20MP(b *testing.B) {
	data := bench20MP(b)
	th, err := NewThumbnailer(DefaultThumbConfig())
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := th.Make(context.Background(), bytes.NewReader(data), 1); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeScaled20MP measures the libjpeg-turbo DCT-scaled decode
// alone (to 1/4, 1368×912), the floor under BenchmarkThumbnail20MP.
func BenchmarkDecodeScaled20MP(b *testing.B) {
	data := bench20MP(b)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := jpeg.Decode(bytes.NewReader(data), &jpeg.DecoderOptions{ScaleTarget: image.Rect(0, 0, 1280, 853)}); err != nil {
			b.Fatal(err)
		}
	}
}
