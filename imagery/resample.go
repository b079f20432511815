package imagery

import (
	"image"
	"math"
)

// resampleShift is the fixed-point precision of the resampling weights.
const resampleShift = 14

// taps are the source indices and fixed-point weights of one output pixel along one axis.
type taps struct {
	start   int
	weights []int32 // sum to 1 << resampleShift
}

// triangleTaps returns, for each of dst output positions, the taps of a triangle (linear)
// filter over src input positions, widened by the scale when reducing so that every input
// pixel counts (antialiased), with weights in fixed point.
//
// From a reduction of 2 on, the filter is the box (area average): each output pixel is the
// mean of the input it covers, partly covered pixels weighted by their share. That is as
// free of aliasing for these reductions and takes about half the taps.
func triangleTaps(src, dst int) []taps {
	scale := float64(src) / float64(dst)
	if scale >= 2 {
		return boxTaps(src, dst, scale)
	}
	support := math.Max(scale, 1)
	out := make([]taps, dst)
	for i := range out {
		center := (float64(i)+0.5)*scale - 0.5
		lo := int(math.Floor(center-support)) + 1
		hi := int(math.Floor(center + support))
		ws := make([]float64, 0, hi-lo+1)
		sum := 0.0
		for j := lo; j <= hi; j++ {
			w := 1 - math.Abs(float64(j)-center)/support
			if w < 0 {
				w = 0
			}
			ws = append(ws, w)
			sum += w
		}
		// Clamp at the edges by folding the weights of outside pixels onto the edge ones.
		t := taps{}
		first, last := max(lo, 0), min(hi, src-1)
		t.start = first
		t.weights = make([]int32, last-first+1)
		total := int32(0)
		for k, w := range ws {
			j := min(max(lo+k, first), last)
			q := int32(math.Round(w / sum * (1 << resampleShift)))
			t.weights[j-first] += q
			total += q
		}
		// Put the rounding remainder on the largest weight so the sum is exact.
		big := 0
		for k, w := range t.weights {
			if w > t.weights[big] {
				big = k
			}
		}
		t.weights[big] += 1<<resampleShift - total
		out[i] = t
	}
	return out
}

// boxTaps returns the area-average taps of a reduction by scale (≥ 2).
func boxTaps(src, dst int, scale float64) []taps {
	out := make([]taps, dst)
	for i := range out {
		lo, hi := float64(i)*scale, math.Min(float64(i+1)*scale, float64(src))
		first, last := int(lo), min(int(math.Ceil(hi))-1, src-1)
		t := taps{start: first, weights: make([]int32, last-first+1)}
		total := int32(0)
		for j := first; j <= last; j++ {
			cover := math.Min(hi, float64(j+1)) - math.Max(lo, float64(j))
			q := int32(math.Round(cover / (hi - lo) * (1 << resampleShift)))
			t.weights[j-first] = q
			total += q
		}
		big := 0
		for k, w := range t.weights {
			if w > t.weights[big] {
				big = k
			}
		}
		t.weights[big] += 1<<resampleShift - total
		out[i] = t
	}
	return out
}

// fixedTaps lays the taps of triangleTaps out with the same count n for every output position
// (padded with zero weights, the window moved inside the source at the edges): starts[i] is
// the first source index of output i and ws[n*i:n*i+n] its weights.
func fixedTaps(src, dst int) (n int, starts []int, ws []int32) {
	tt := triangleTaps(src, dst)
	for _, t := range tt {
		n = max(n, len(t.weights))
	}
	n = min(n, src)
	starts = make([]int, dst)
	ws = make([]int32, n*dst)
	for i, t := range tt {
		st := min(t.start, src-n)
		starts[i] = st
		for k, w := range t.weights {
			ws[n*i+t.start-st+k] = w
		}
	}
	return n, starts, ws
}

// resizeOpaque resizes an opaque image (alpha taken as 255) to w×h with a triangle filter,
// separably, in fixed point and one goroutine: the scale steps of the thumbnails (the 1/4
// DCT-scaled decode to 1280 px, then to 320 px) need no wider kernel, and this costs a
// fraction of the CPU time of a general resampler. The intermediate rows hold RGB only.
func resizeOpaque(src *image.NRGBA, w, h int) *image.NRGBA {
	b := src.Bounds()
	sw, sh := b.Dx(), b.Dy()
	const half = 1 << (resampleShift - 1)
	// Horizontal pass: every source row to w RGB pixels.
	n, starts, ws := fixedTaps(sw, w)
	tmp := make([]uint8, 3*w*sh)
	for y := 0; y < sh; y++ {
		row := src.Pix[y*src.Stride : y*src.Stride+4*sw]
		out := tmp[3*w*y : 3*w*(y+1)]
		switch n {
		case 3:
			for x, st := range starts {
				p, wk, o := row[4*st:4*st+11:4*st+11], ws[3*x:3*x+3:3*x+3], out[3*x:3*x+3:3*x+3]
				w0, w1, w2 := wk[0], wk[1], wk[2]
				o[0] = uint8((w0*int32(p[0]) + w1*int32(p[4]) + w2*int32(p[8]) + half) >> resampleShift)
				o[1] = uint8((w0*int32(p[1]) + w1*int32(p[5]) + w2*int32(p[9]) + half) >> resampleShift)
				o[2] = uint8((w0*int32(p[2]) + w1*int32(p[6]) + w2*int32(p[10]) + half) >> resampleShift)
			}
		default:
			for x, st := range starts {
				p, wk, o := row[4*st:4*(st+n)], ws[n*x:n*x+n], out[3*x:3*x+3:3*x+3]
				var r, g, bl int32
				for k, wt := range wk {
					q := p[4*k : 4*k+3 : 4*k+3]
					r += wt * int32(q[0])
					g += wt * int32(q[1])
					bl += wt * int32(q[2])
				}
				o[0] = uint8((r + half) >> resampleShift)
				o[1] = uint8((g + half) >> resampleShift)
				o[2] = uint8((bl + half) >> resampleShift)
			}
		}
	}
	// Vertical pass: the rows of each output row weighted together, a whole row at a time.
	yt := triangleTaps(sh, h)
	dst := image.NewNRGBA(image.Rect(0, 0, w, h))
	n3 := 3 * w
	acc := make([]int32, n3)
	for y, t := range yt {
		out := dst.Pix[y*dst.Stride : y*dst.Stride+4*w]
		ws := t.weights
		switch len(ws) {
		case 2:
			r0, r1 := tmp[n3*t.start:n3*(t.start+1)], tmp[n3*(t.start+1):n3*(t.start+2)]
			w0, w1 := ws[0], ws[1]
			for x := 0; x < w; x++ {
				i, o := 3*x, out[4*x:4*x+4:4*x+4]
				a, b := r0[i:i+3:i+3], r1[i:i+3:i+3]
				o[0] = uint8((w0*int32(a[0]) + w1*int32(b[0]) + half) >> resampleShift)
				o[1] = uint8((w0*int32(a[1]) + w1*int32(b[1]) + half) >> resampleShift)
				o[2] = uint8((w0*int32(a[2]) + w1*int32(b[2]) + half) >> resampleShift)
				o[3] = 255
			}
		case 3:
			r0, r1, r2 := tmp[n3*t.start:n3*(t.start+1)], tmp[n3*(t.start+1):n3*(t.start+2)], tmp[n3*(t.start+2):n3*(t.start+3)]
			w0, w1, w2 := ws[0], ws[1], ws[2]
			for x := 0; x < w; x++ {
				i, o := 3*x, out[4*x:4*x+4:4*x+4]
				a, b, c := r0[i:i+3:i+3], r1[i:i+3:i+3], r2[i:i+3:i+3]
				o[0] = uint8((w0*int32(a[0]) + w1*int32(b[0]) + w2*int32(c[0]) + half) >> resampleShift)
				o[1] = uint8((w0*int32(a[1]) + w1*int32(b[1]) + w2*int32(c[1]) + half) >> resampleShift)
				o[2] = uint8((w0*int32(a[2]) + w1*int32(b[2]) + w2*int32(c[2]) + half) >> resampleShift)
				o[3] = 255
			}
		default:
			clear(acc)
			for k, wk := range ws {
				row := tmp[n3*(t.start+k) : n3*(t.start+k+1)]
				row = row[:len(acc)]
				for i, v := range row {
					acc[i] += wk * int32(v)
				}
			}
			for x := 0; x < w; x++ {
				a, o := acc[3*x:3*x+3:3*x+3], out[4*x:4*x+4:4*x+4]
				o[0] = uint8((a[0] + half) >> resampleShift)
				o[1] = uint8((a[1] + half) >> resampleShift)
				o[2] = uint8((a[2] + half) >> resampleShift)
				o[3] = 255
			}
		}
	}
	return dst
}
