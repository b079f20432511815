package imagery

import "image"

// PixelStats are measures of an image's pixels that tell a usable survey image from a bad
// one, taken on a thumbnail (Thumbnails.Stats, from the smallest size): cheap, and at a
// scale where sensor noise and JPEG blocking are gone, so sharpness means detail in the scene.
type PixelStats struct {
	// MeanLuma is the mean luma (BT.601, 0-255).
	MeanLuma float64 `json:"meanLuma"`
	// DarkShare and BrightShare are the fractions of pixels with luma below 16 (black: a lens
	// cap, night) and above 245 (blown out: the sun, a white sky).
	DarkShare   float64 `json:"darkShare"`
	BrightShare float64 `json:"brightShare"`
	// LaplacianVar is the variance of the 4-neighbour Laplacian of the luma (the common blur
	// measure): a sharp aerial view at thumbnail size is in the hundreds or thousands, a
	// blurred or featureless one in the tens.
	LaplacianVar float64 `json:"laplacianVar"`
}

// MeasurePixels computes the PixelStats of img.
func MeasurePixels(img *image.NRGBA) PixelStats {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	var st PixelStats
	if w == 0 || h == 0 {
		return st
	}
	luma := make([]float64, w*h)
	var sum float64
	var dark, bright int
	for y := 0; y < h; y++ {
		row := img.Pix[(y)*img.Stride : (y)*img.Stride+4*w]
		for x := 0; x < w; x++ {
			p := row[4*x : 4*x+3]
			l := 0.299*float64(p[0]) + 0.587*float64(p[1]) + 0.114*float64(p[2])
			luma[y*w+x] = l
			sum += l
			switch {
			case l < 16:
				dark++
			case l > 245:
				bright++
			}
		}
	}
	n := float64(w * h)
	st.MeanLuma, st.DarkShare, st.BrightShare = sum/n, float64(dark)/n, float64(bright)/n
	if w < 3 || h < 3 {
		return st
	}
	var s, s2 float64
	for y := 1; y < h-1; y++ {
		for x := 1; x < w-1; x++ {
			i := y*w + x
			v := luma[i-1] + luma[i+1] + luma[i-w] + luma[i+w] - 4*luma[i]
			s += v
			s2 += v * v
		}
	}
	m := float64((w - 2) * (h - 2))
	st.LaplacianVar = s2/m - (s/m)*(s/m)
	return st
}
