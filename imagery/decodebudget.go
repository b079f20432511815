package imagery

import (
	"errors"
	"fmt"
	"image/color"
)

// The memory a decode takes is budgeted by what it allocates, not by the pixel count alone: a
// 16-bit RGBA PNG takes 8 bytes a pixel (a 0.9 MB file of 10,950² pixels, under the pixel
// limit, decodes into 960 MB), a JPEG decoded reduced in the DCT domain a small fraction of
// its pixels. decodeCost estimates, from the header alone, the bytes a Make holds at its peak;
// the Thumbnailer's weighted semaphore (ThumbConfig.DecodeMemory) lets decodes run together
// only while their costs add up to at most the budget, and refuses at once (no thumbnail,
// ErrDecodeBudget) an image that alone would take more. Go's standard PNG decoder cannot
// decode reduced, so a large PNG is refused rather than decoded whole.

// ErrDecodeBudget is returned (wrapping ErrCannotThumbnail, so the medium is stored without a
// thumbnail) for an image whose decode alone needs more memory than the whole decode budget.
var ErrDecodeBudget = errors.New("imagery: decoding this image needs more memory than the decode budget")

// decodeCost estimates the peak bytes Make holds for src: the decoded image, the flattened
// copy of a PNG with transparency, the intermediate image of the first resize (the target
// width at the decoded height), and the thumbnails.
func (t *Thumbnailer) decodeCost(src *source) int64 {
	w, h := int64(src.info.Width), int64(src.info.Height)
	tw, th := fitLongSide(src.info.Width, src.info.Height, t.sizes[0].LongSide)
	thumbs := int64(tw) * int64(th) * 4 * 3 // resized, oriented and encoded copies
	var decoded, dh int64
	switch src.info.Format {
	case JPEG:
		if c := src.checker; c != nil && (c.components == 1 || c.components == 3) {
			sw, sh := jpegScaled(src.info.Width, src.info.Height, tw, th)
			decoded, dh = int64(sw)*int64(sh)*4, int64(sh)
		} else {
			decoded, dh = w*h*4*2, h // CMYK: decoded whole, then converted
		}
	case PNG:
		bpp, alpha := pngBytesPerPixel(src.pngModel)
		decoded, dh = w*h*bpp, h
		if alpha {
			decoded += w * h * 4 // flattened onto white
		}
	default:
		return 0
	}
	return decoded + int64(tw)*dh*4 + thumbs
}

// jpegScaled is the size libjpeg decodes a w×h JPEG to for a target of tw×th: the smallest
// scale n/8 (n = 1..8) whose output covers the target.
func jpegScaled(w, h, tw, th int) (int, int) {
	for n := 1; n < 8; n++ {
		sw, sh := (w*n+7)/8, (h*n+7)/8
		if sw >= tw && sh >= th {
			return sw, sh
		}
	}
	return w, h
}

// pngBytesPerPixel is what Go's PNG decoder allocates per pixel for a colour model, and
// whether the image may have transparency (then flattened onto white: another NRGBA copy).
func pngBytesPerPixel(m color.Model) (int64, bool) {
	switch m {
	case color.GrayModel:
		return 1, false
	case color.Gray16Model:
		return 2, false
	case color.RGBAModel:
		return 4, false
	case color.NRGBAModel:
		return 4, true
	case color.RGBA64Model:
		return 8, false
	case color.NRGBA64Model:
		return 8, true
	}
	if _, ok := m.(color.Palette); ok {
		return 1, true
	}
	return 8, true // unknown: the widest
}

// budgetError is the error of an image over the whole budget.
func budgetError(cost, budget int64) error {
	return fmt.Errorf("%w: %w: needs %d MB, budget %d MB", ErrCannotThumbnail, ErrDecodeBudget, cost>>20, budget>>20)
}
