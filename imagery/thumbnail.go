package imagery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	stdjpeg "image/jpeg"
	"image/png"
	"io"
	"os"
	"runtime"
	"sync"

	"github.com/disintegration/imaging"
	"github.com/pixiv/go-libjpeg/jpeg"
)

// ThumbSize is one thumbnail size: its name (stored with the thumbnail and
// asked for by GET /media/{id}/thumbnail?size=) and the length in pixels of
// its longer side. Images smaller than that are not enlarged.
type ThumbSize struct {
	Name     string
	LongSide int
}

// ThumbConfig configures a Thumbnailer.
type ThumbConfig struct {
	// Sizes to make, at least one.
	Sizes []ThumbSize
	// Quality is the JPEG quality of the thumbnails, 1 to 100.
	Quality int
	// MaxConcurrent bounds how many images are read and decoded at once
	// across all goroutines that share the Thumbnailer, so that memory
	// stays flat however many jobs run (each holds one original and one
	// reduced decode). Zero means runtime.GOMAXPROCS.
	MaxConcurrent int
	// Limits are checked on the header before anything is decoded.
	Limits Limits
}

// DefaultThumbConfig returns the sizes Sieve serves — "list" (320 px) and
// "detail" (1280 px) — at quality 82, one decode per CPU, and limits that
// let 100 MP drone images through but not decompression bombs.
func DefaultThumbConfig() ThumbConfig {
	return ThumbConfig{
		Sizes:         []ThumbSize{{Name: "list", LongSide: 320}, {Name: "detail", LongSide: 1280}},
		Quality:       82,
		MaxConcurrent: runtime.GOMAXPROCS(0),
		Limits:        Limits{MaxPixels: 120_000_000, MaxBytes: 100 << 20},
	}
}

// Thumbnailer makes oriented JPEG thumbnails. Build one with NewThumbnailer
// and share it: it is safe for concurrent use, and its semaphore is what
// bounds the concurrent decodes.
type Thumbnailer struct {
	sizes   []ThumbSize // largest first
	quality int
	limits  Limits
	sem     chan struct{}
	// bufs recycles the buffers originals are read into (one per slot in
	// steady state), so that a busy worker does not allocate and zero
	// tens of megabytes per image.
	bufs sync.Pool
}

// NewThumbnailer checks cfg and returns a Thumbnailer built with it.
func NewThumbnailer(cfg ThumbConfig) (*Thumbnailer, error) {
	if len(cfg.Sizes) == 0 {
		return nil, errors.New("imagery: thumbnailer: no sizes")
	}
	seen := map[string]bool{}
	for _, s := range cfg.Sizes {
		if s.Name == "" || s.LongSide <= 0 || seen[s.Name] {
			return nil, fmt.Errorf("imagery: thumbnailer: bad size %q (%d px)", s.Name, s.LongSide)
		}
		seen[s.Name] = true
	}
	if cfg.Quality < 1 || cfg.Quality > 100 {
		return nil, fmt.Errorf("imagery: thumbnailer: quality %d is not 1-100", cfg.Quality)
	}
	if cfg.MaxConcurrent < 0 {
		return nil, fmt.Errorf("imagery: thumbnailer: MaxConcurrent %d is negative", cfg.MaxConcurrent)
	}
	if cfg.MaxConcurrent == 0 {
		cfg.MaxConcurrent = runtime.GOMAXPROCS(0)
	}
	sizes := append([]ThumbSize(nil), cfg.Sizes...)
	for i := 1; i < len(sizes); i++ { // largest first; a handful of sizes
		for j := i; j > 0 && sizes[j].LongSide > sizes[j-1].LongSide; j-- {
			sizes[j], sizes[j-1] = sizes[j-1], sizes[j]
		}
	}
	return &Thumbnailer{
		sizes:   sizes,
		quality: cfg.Quality,
		limits:  cfg.Limits,
		sem:     make(chan struct{}, cfg.MaxConcurrent),
	}, nil
}

// Thumbnail is one encoded thumbnail.
type Thumbnail struct {
	Width, Height int
	JPEG          []byte
}

// Thumbnails is what Make returns.
type Thumbnails struct {
	// Sizes holds one Thumbnail per configured size name.
	Sizes map[string]Thumbnail
	// Width and Height are the original's dimensions as displayed, that
	// is after orientation.
	Width, Height int
	// PHash is the PerceptualHash of the (oriented) image, computed from
	// the smallest thumbnail so that no second decode is needed.
	PHash uint64
}

// Make reads one image from r and returns its thumbnails, upright according
// to orientation (the EXIF value from ReadMetadata; 0 or 1 leave it as is).
// JPEGs are decoded by libjpeg-turbo already reduced in the DCT domain to
// the smallest scale that still covers the largest size; PNGs go through the
// standard decoder. It waits for a free decode slot first (or for ctx).
//
// Errors: ErrEmpty, ErrUnsupportedFormat, ErrTooLarge, ErrTooManyPixels,
// ErrCorruptImage (truncated or damaged data), ErrCannotThumbnail (a valid
// HEIC, WebP or TIFF, which the caller stores flagged).
func (t *Thumbnailer) Make(ctx context.Context, r io.Reader, orientation int) (Thumbnails, error) {
	select {
	case t.sem <- struct{}{}:
	case <-ctx.Done():
		return Thumbnails{}, fmt.Errorf("imagery: thumbnail: %w", ctx.Err())
	}
	defer func() { <-t.sem }()

	buf, _ := t.bufs.Get().(*bytes.Buffer)
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	defer func() {
		buf.Reset()
		t.bufs.Put(buf)
	}()
	if err := t.read(buf, r); err != nil {
		return Thumbnails{}, err
	}
	data := buf.Bytes()
	info, err := Probe(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return Thumbnails{}, err
	}
	if err := t.limits.Check(info); err != nil {
		return Thumbnails{}, err
	}

	var img image.Image
	switch info.Format {
	case JPEG:
		img, err = t.decodeJPEG(data, info)
	case PNG:
		img, err = decodePNG(data)
	default:
		return Thumbnails{}, fmt.Errorf("%w: %s", ErrCannotThumbnail, info.Format)
	}
	if err != nil {
		return Thumbnails{}, err
	}

	out := Thumbnails{Sizes: make(map[string]Thumbnail, len(t.sizes)), Width: info.Width, Height: info.Height}
	if orientation >= 5 && orientation <= 8 {
		out.Width, out.Height = info.Height, info.Width
	}
	src, filter := img, imaging.CatmullRom
	var smallest *image.NRGBA
	for _, s := range t.sizes {
		w, h := fitLongSide(info.Width, info.Height, s.LongSide)
		// Each size is reduced from the previous, larger one: the first
		// from the DCT-scaled decode, the others from a small image.
		var resized *image.NRGBA
		if b := src.Bounds(); b.Dx() == w && b.Dy() == h {
			resized = imaging.Clone(src)
		} else {
			resized = imaging.Resize(src, w, h, filter)
		}
		src, filter = resized, imaging.Linear
		oriented := orient(resized, orientation)
		smallest = oriented
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, opaqueRGBA(oriented), &jpeg.EncoderOptions{Quality: t.quality}); err != nil {
			return Thumbnails{}, fmt.Errorf("imagery: thumbnail: encode %s: %w", s.Name, err)
		}
		b := oriented.Bounds()
		out.Sizes[s.Name] = Thumbnail{Width: b.Dx(), Height: b.Dy(), JPEG: buf.Bytes()}
	}
	out.PHash = PerceptualHash(smallest)
	return out, nil
}

// read reads all of r into buf, growing buf once when r tells its length
// (bytes.Reader, strings.Reader, os.File, ...).
func (t *Thumbnailer) read(buf *bytes.Buffer, r io.Reader) error {
	var hint int64
	switch x := r.(type) {
	case interface{ Len() int }:
		hint = int64(x.Len())
	case interface{ Size() int64 }:
		hint = x.Size()
	case interface{ Stat() (os.FileInfo, error) }:
		if fi, err := x.Stat(); err == nil {
			hint = fi.Size()
		}
	}
	if t.limits.MaxBytes > 0 {
		if hint > t.limits.MaxBytes {
			return fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, hint, t.limits.MaxBytes)
		}
		r = io.LimitReader(r, t.limits.MaxBytes+1)
	}
	if hint > 0 {
		buf.Grow(int(hint) + bytes.MinRead)
	}
	if _, err := buf.ReadFrom(r); err != nil {
		return fmt.Errorf("imagery: thumbnail: read: %w", err)
	}
	if t.limits.MaxBytes > 0 && int64(buf.Len()) > t.limits.MaxBytes {
		return fmt.Errorf("%w: more than %d bytes", ErrTooLarge, t.limits.MaxBytes)
	}
	return nil
}

// fitLongSide returns w×h scaled so that its longer side is at most long.
func fitLongSide(w, h, long int) (int, int) {
	if w <= long && h <= long {
		return w, h
	}
	if w >= h {
		return long, max(1, int((int64(h)*int64(long)+int64(w)/2)/int64(w)))
	}
	return max(1, int((int64(w)*int64(long)+int64(h)/2)/int64(h))), long
}

// decodeJPEG validates the stream, then decodes it with libjpeg-turbo at
// the smallest DCT scale (n/8) that still covers the largest size.
func (t *Thumbnailer) decodeJPEG(data []byte, info Info) (img image.Image, err error) {
	if err := checkJPEGStream(data); err != nil {
		return nil, err
	}
	tw, th := fitLongSide(info.Width, info.Height, t.sizes[0].LongSide)
	defer func() {
		if p := recover(); p != nil {
			img, err = nil, fmt.Errorf("%w: libjpeg: %v", ErrCorruptImage, p)
		}
	}()
	// libjpeg-turbo also converts the colours (SIMD) straight into RGBA;
	// a JPEG is opaque, so that is the NRGBA that imaging works in.
	rgba, err := jpeg.DecodeIntoRGBA(bytes.NewReader(data), &jpeg.DecoderOptions{ScaleTarget: image.Rect(0, 0, tw, th)})
	if err == nil && rgba != nil {
		return &image.NRGBA{Pix: rgba.Pix, Stride: rgba.Stride, Rect: rgba.Rect}, nil
	}
	if err == nil {
		err = errors.New("no image decoded")
	}
	// go-libjpeg does not take CMYK JPEGs; the standard decoder does
	// (slower, at full size: Limits were checked before).
	std, stdErr := stdjpeg.Decode(bytes.NewReader(data))
	if stdErr != nil {
		return nil, fmt.Errorf("%w: jpeg: %v", ErrCorruptImage, err)
	}
	return std, nil
}

// decodePNG decodes a PNG and flattens any transparency onto white.
func decodePNG(data []byte) (image.Image, error) {
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: png: %v", ErrCorruptImage, err)
	}
	if op, ok := img.(interface{ Opaque() bool }); ok && op.Opaque() {
		return img, nil
	}
	b := img.Bounds()
	flat := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(flat, flat.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	draw.Draw(flat, flat.Bounds(), img, b.Min, draw.Over)
	return flat, nil
}

// orient turns img upright according to an EXIF orientation (1-8).
func orient(img *image.NRGBA, orientation int) *image.NRGBA {
	switch orientation {
	case 2:
		return imaging.FlipH(img)
	case 3:
		return imaging.Rotate180(img)
	case 4:
		return imaging.FlipV(img)
	case 5:
		return imaging.Transpose(img)
	case 6:
		return imaging.Rotate270(img)
	case 7:
		return imaging.Transverse(img)
	case 8:
		return imaging.Rotate90(img)
	}
	return img
}

// opaqueRGBA views an opaque NRGBA image as RGBA (the same bytes when every
// alpha is 255, which holds for decoded JPEGs and flattened PNGs), the
// layout libjpeg-turbo encodes from directly.
func opaqueRGBA(img *image.NRGBA) *image.RGBA {
	return &image.RGBA{Pix: img.Pix, Stride: img.Stride, Rect: img.Rect}
}
