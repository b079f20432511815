package imagery

import (
	"bytes"
	"image"
	"math"
	"testing"

	"github.com/disintegration/imaging"
)

// TestResizeOpaque compares the thumbnail resampler with imaging's general one (the same
// filter) on a real photo at small and large reductions: the pixels agree within two levels
// on average, and flat colour stays exact.
func TestResizeOpaque(t *testing.T) {
	img, err := imaging.Decode(bytes.NewReader(fixture(t, "DSCN0010.jpg")))
	if err != nil {
		t.Fatal(err)
	}
	src := imaging.Clone(img)
	for _, size := range [][2]int{{600, 450}, {160, 120}, {640, 480}} {
		got := resizeOpaque(src, size[0], size[1])
		filter := imaging.Linear // triangle below a reduction of 2, box from 2 on
		if src.Bounds().Dx() >= 2*size[0] {
			filter = imaging.Box
		}
		want := imaging.Resize(src, size[0], size[1], filter)
		if got.Bounds() != want.Bounds() {
			t.Fatalf("%v: bounds %v, want %v", size, got.Bounds(), want.Bounds())
		}
		var diff float64
		for i := range got.Pix {
			diff += math.Abs(float64(got.Pix[i]) - float64(want.Pix[i]))
		}
		if mean := diff / float64(len(got.Pix)); mean > 2 {
			t.Errorf("%v: mean difference %.2f levels from imaging.Linear", size, mean)
		}
	}
	flat := imaging.New(1368, 912, image.White.C)
	for _, p := range resizeOpaque(flat, 1280, 853).Pix {
		if p != 255 {
			t.Fatal("a white image is not white after resizing")
		}
	}
}

// BenchmarkResizeThumbSteps is the resampling of Make for a 20 MP frame: the 1/4-scale
// decode (1368×912) to 1280 px, then to 320 px.
func BenchmarkResizeThumbSteps(b *testing.B) {
	src := image.NewNRGBA(image.Rect(0, 0, 1368, 912))
	for i := range src.Pix {
		src.Pix[i] = byte(i * 7)
	}
	b.ResetTimer()
	for range b.N {
		d := resizeOpaque(src, 1280, 853)
		resizeOpaque(d, 320, 213)
	}
}
