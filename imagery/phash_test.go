package imagery

import (
	"bytes"
	"image"
	"image/jpeg"
	"testing"

	"github.com/disintegration/imaging"
)

func TestHammingDistance(t *testing.T) {
	tests := []struct {
		a, b uint64
		want int
	}{
		{0, 0, 0},
		{0, 1, 1},
		{0xFFFFFFFFFFFFFFFF, 0, 64},
		{0xF0F0, 0x0FF0, 8},
		{0x8000000000000001, 0x0000000000000001, 1},
	}
	for _, tt := range tests {
		if got := HammingDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("HammingDistance(%#x, %#x) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func decodeFixture(t *testing.T, name string) image.Image {
	t.Helper()
	img, err := jpeg.Decode(bytes.NewReader(fixture(t, name)))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// TestPerceptualHash checks what the reuse check relies on: copies of a
// photo (resized, recompressed, slightly brightened, cropped by a few
// pixels) stay close, different photos are far apart.
func TestPerceptualHash(t *testing.T) {
	orig := decodeFixture(t, "iphone_hdr_NO.jpg")
	base := PerceptualHash(orig)
	recompress := func(img image.Image, q int) image.Image {
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: q}); err != nil {
			t.Fatal(err)
		}
		out, err := jpeg.Decode(&buf)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	b := orig.Bounds()
	copies := []struct {
		name string
		img  image.Image
	}{
		{"resized to 320", imaging.Resize(orig, 320, 0, imaging.Box)},
		{"recompressed at quality 40", recompress(orig, 40)},
		{"brightened", imaging.AdjustBrightness(orig, 8)},
		{"cropped 1%", imaging.Crop(orig, image.Rect(b.Dx()/100, b.Dy()/100, b.Dx()-b.Dx()/100, b.Dy()-b.Dy()/100))},
	}
	for _, c := range copies {
		if d := HammingDistance(base, PerceptualHash(c.img)); d > 8 {
			t.Errorf("%s: %d bits from the original, want <= 8", c.name, d)
		}
	}
	others := []string{"jolla.jpg", "HMD_Nokia_8.3_5G.jpg", "DSCN0010.jpg", "landscape_3.jpg"}
	for _, name := range others {
		if d := HammingDistance(base, PerceptualHash(decodeFixture(t, name))); d < 16 {
			t.Errorf("%s: only %d bits from a different photo, want >= 16", name, d)
		}
	}
	if PerceptualHash(nil) != 0 {
		t.Error("nil image should hash to 0")
	}
}
