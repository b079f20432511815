package imagery

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"testing"

	"github.com/disintegration/imaging"
)

// TestMeasurePixels: a sharp photo's list thumbnail has a Laplacian variance far above a
// blurred copy's; black and white frames show in the luma shares.
func TestMeasurePixels(t *testing.T) {
	th, err := NewThumbnailer(DefaultThumbConfig())
	if err != nil {
		t.Fatal(err)
	}
	out, err := th.Make(context.Background(), bytes.NewReader(fixture(t, "DSCN0010.jpg")), 1)
	if err != nil {
		t.Fatal(err)
	}
	if out.Stats.LaplacianVar < 500 || out.Stats.DarkShare > 0.01 {
		t.Errorf("sharp photo: %+v", out.Stats)
	}
	img, err := imaging.Decode(bytes.NewReader(out.Sizes["list"].JPEG))
	if err != nil {
		t.Fatal(err)
	}
	if blurred := MeasurePixels(imaging.Blur(img, 2)); blurred.LaplacianVar > 20 || blurred.LaplacianVar*20 > out.Stats.LaplacianVar {
		t.Errorf("blurred: %+v against sharp %+v", blurred, out.Stats)
	}
	black := MeasurePixels(imaging.New(320, 240, color.NRGBA{3, 3, 3, 255}))
	white := MeasurePixels(imaging.New(320, 240, color.NRGBA{252, 252, 252, 255}))
	if black.DarkShare != 1 || black.MeanLuma > 4 || black.LaplacianVar != 0 {
		t.Errorf("black: %+v", black)
	}
	if white.BrightShare != 1 || white.MeanLuma < 250 {
		t.Errorf("white: %+v", white)
	}
	if z := MeasurePixels(image.NewNRGBA(image.Rect(0, 0, 0, 0))); z != (PixelStats{}) {
		t.Errorf("empty: %+v", z)
	}
}
