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

	"github.com/disintegration/imaging"
	"github.com/pixiv/go-libjpeg/jpeg"
	"golang.org/x/sync/semaphore"
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
	// stays flat however many jobs run. Each holds the file's header, one
	// reduced decode (5 MB for a 20 MP JPEG) and its thumbnails; the
	// compressed data streams through. Zero means runtime.GOMAXPROCS.
	MaxConcurrent int
	// Limits are checked on the header before anything is decoded.
	Limits Limits
	// DecodeMemory bounds the memory that the decodes sharing the Thumbnailer hold at once,
	// in bytes, as estimated from each header (decodebudget.go); an image that alone needs
	// more is not decoded (ErrDecodeBudget). Zero means no bound.
	DecodeMemory int64
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
		DecodeMemory:  256 << 20,
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
	budget  int64               // DecodeMemory
	mem     *semaphore.Weighted // nil: no budget
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
	if cfg.DecodeMemory < 0 {
		return nil, fmt.Errorf("imagery: thumbnailer: DecodeMemory %d is negative", cfg.DecodeMemory)
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
	t := &Thumbnailer{
		sizes:   sizes,
		quality: cfg.Quality,
		limits:  cfg.Limits,
		sem:     make(chan struct{}, cfg.MaxConcurrent),
		budget:  cfg.DecodeMemory,
	}
	if t.budget > 0 {
		t.mem = semaphore.NewWeighted(t.budget)
	}
	return t, nil
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
	// Stats measure the smallest thumbnail's pixels (brightness, blur).
	Stats PixelStats
}

// Make reads one image from r and returns its thumbnails, upright according
// to orientation (the EXIF value from ReadMetadata; 0 or 1 leave it as is).
// It waits for a free decode slot first (or for ctx), then reads the header
// and checks the Limits before decoding anything. JPEGs stream through
// libjpeg-turbo, decoded already reduced in the DCT domain to the smallest
// scale that still covers the largest size, while a checker validates the
// stream; PNGs go through the standard decoder.
//
// Before decoding it also waits for the memory the decode needs under the
// decode budget (ThumbConfig.DecodeMemory).
//
// Errors: ErrEmpty, ErrUnsupportedFormat, ErrTooLarge, ErrTooManyPixels,
// ErrCorruptImage (truncated or damaged data), ErrCannotThumbnail (a valid
// HEIC, WebP or TIFF, which the caller stores flagged, or an image whose
// decode alone needs more than the budget: ErrDecodeBudget too).
func (t *Thumbnailer) Make(ctx context.Context, r io.Reader, orientation int) (Thumbnails, error) {
	select {
	case t.sem <- struct{}{}:
	case <-ctx.Done():
		return Thumbnails{}, fmt.Errorf("imagery: thumbnail: %w", ctx.Err())
	}
	defer func() { <-t.sem }()

	src, err := t.open(r)
	if err != nil {
		return Thumbnails{}, err
	}
	if t.mem != nil {
		// The decode waits until the memory it needs is free (decodebudget.go).
		cost := t.decodeCost(src)
		if cost > t.budget {
			return Thumbnails{}, budgetError(cost, t.budget)
		}
		if cost > 0 {
			if err := t.mem.Acquire(ctx, cost); err != nil {
				return Thumbnails{}, fmt.Errorf("imagery: thumbnail: %w", err)
			}
			defer t.mem.Release(cost)
		}
	}
	info := src.info
	var img image.Image
	switch info.Format {
	case JPEG:
		img, err = t.decodeJPEG(src)
	case PNG:
		img, err = decodePNG(src)
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
	from, filter := img, imaging.CatmullRom
	var smallest *image.NRGBA
	for _, s := range t.sizes {
		w, h := fitLongSide(info.Width, info.Height, s.LongSide)
		// Each size is reduced from the previous, larger one: the first
		// from the DCT-scaled decode, the others from a small image.
		var resized *image.NRGBA
		nrgba, opaque := from.(*image.NRGBA)
		switch b := from.Bounds(); {
		case b.Dx() == w && b.Dy() == h:
			resized = imaging.Clone(from)
		case opaque && info.Format == JPEG:
			// A JPEG is opaque: the fixed-point triangle resampler (resample.go).
			resized = resizeOpaque(nrgba, w, h)
		default:
			resized = imaging.Resize(from, w, h, filter)
		}
		from, filter = resized, imaging.Linear
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
	out.Stats = MeasurePixels(smallest)
	return out, nil
}

// source is an image being read: its head (every byte read so far, at
// least through the frame header for a JPEG), what the head says, and the
// rest of the stream. Only the head is held in memory; the rest goes
// straight to the decoder.
type source struct {
	info    Info
	head    []byte
	rest    *countingReader
	checker *jpegChecker // JPEG only: has seen head; sees rest as it is read
	// pngModel is a PNG's colour model, which says what its decode allocates per pixel.
	pngModel color.Model
}

// countingReader enforces Limits.MaxBytes on a stream and keeps the first
// read error, so that a failed read (an upload cut off, a storage error) is
// told apart from damaged content, whatever the decoder makes of it.
type countingReader struct {
	r   io.Reader
	n   int64
	max int64 // 0: no limit
	err error
}

func (c *countingReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	switch {
	case c.max > 0 && c.n > c.max:
		c.err = fmt.Errorf("%w: more than %d bytes", ErrTooLarge, c.max)
	case err != nil && !errors.Is(err, io.EOF):
		c.err = fmt.Errorf("imagery: thumbnail: read: %w", err)
	}
	if c.err != nil {
		return n, c.err
	}
	return n, err
}

// headChunk is how much is read at a time while looking for the header.
const headChunk = 16 << 10

// maxJPEGHead bounds the bytes read while looking for a JPEG frame header
// (the APP segments of drone images take some 100 KiB).
const maxJPEGHead = 4 << 20

// open sniffs r and reads its header, then checks the Limits, all before
// any pixel is decoded.
func (t *Thumbnailer) open(r io.Reader) (*source, error) {
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
	if t.limits.MaxBytes > 0 && hint > t.limits.MaxBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, hint, t.limits.MaxBytes)
	}
	src := &source{rest: &countingReader{r: r, max: t.limits.MaxBytes}}
	readMore := func(n int) (bool, error) {
		old := len(src.head)
		src.head = append(src.head, make([]byte, n)...)
		m, err := io.ReadFull(src.rest, src.head[old:])
		src.head = src.head[:old+m]
		if src.rest.err != nil {
			return false, src.rest.err
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return true, nil
		}
		return false, err
	}
	eof, err := readMore(64)
	if err != nil {
		return nil, err
	}
	f, err := Sniff(src.head)
	if err != nil {
		return nil, err
	}
	src.info = Info{Format: f, Size: hint}
	switch f {
	case JPEG:
		c := &jpegChecker{}
		c.feed(src.head)
		for !c.sawSOF && c.err == nil && !eof {
			if len(src.head) > maxJPEGHead {
				return nil, fmt.Errorf("%w: jpeg: no frame header in the first %d bytes", ErrCorruptImage, maxJPEGHead)
			}
			old := len(src.head)
			if eof, err = readMore(headChunk); err != nil {
				return nil, err
			}
			c.feed(src.head[old:])
		}
		if c.err != nil {
			return nil, c.err
		}
		if !c.sawSOF {
			return nil, fmt.Errorf("%w: jpeg: %v before the frame header", ErrCorruptImage, errJPEGTruncated)
		}
		src.info.Width, src.info.Height = c.width, c.height
		src.checker = c
	case PNG:
		cfg, err := png.DecodeConfig(bytes.NewReader(src.head))
		if err != nil {
			return nil, fmt.Errorf("%w: png header: %v", ErrCorruptImage, err)
		}
		src.info.Width, src.info.Height = cfg.Width, cfg.Height
		src.pngModel = cfg.ColorModel
	default:
		return src, nil // not decoded here: no need to look further
	}
	if err := t.limits.Check(src.info); err != nil {
		return nil, err
	}
	return src, nil
}

// checkedReader feeds the rest of a JPEG stream to its checker as the
// decoder reads it. After the EOI marker, or once the checker has found
// damage, it reports end of file: the decoder ends early (libjpeg fills
// what it misses with grey) and the checker's verdict decides.
type checkedReader struct {
	r io.Reader
	c *jpegChecker
}

func (cr *checkedReader) Read(p []byte) (int, error) {
	if cr.c.done || cr.c.err != nil {
		return 0, io.EOF
	}
	n, err := cr.r.Read(p)
	cr.c.feed(p[:n])
	if err != nil && !errors.Is(err, io.EOF) {
		cr.c.err = err
		return n, io.EOF
	}
	return n, err
}

// decodeJPEG decodes a JPEG with libjpeg-turbo at the smallest DCT scale
// (n/8) that still covers the largest size, checking the stream on the way.
func (t *Thumbnailer) decodeJPEG(src *source) (img image.Image, err error) {
	c := src.checker
	stream := io.MultiReader(bytes.NewReader(src.head), &checkedReader{r: src.rest, c: c})
	defer func() {
		if p := recover(); p != nil {
			img, err = nil, fmt.Errorf("%w: libjpeg: %v", ErrCorruptImage, p)
		}
	}()
	if c.components == 1 || c.components == 3 {
		tw, th := fitLongSide(src.info.Width, src.info.Height, t.sizes[0].LongSide)
		// libjpeg-turbo also converts the colours (SIMD) straight into
		// RGBA; a JPEG is opaque, so that is the NRGBA imaging works in.
		rgba, derr := jpeg.DecodeIntoRGBA(stream, &jpeg.DecoderOptions{ScaleTarget: image.Rect(0, 0, tw, th)})
		if derr == nil && rgba != nil {
			img = &image.NRGBA{Pix: rgba.Pix, Stride: rgba.Stride, Rect: rgba.Rect}
		} else if derr == nil {
			derr = errors.New("no image decoded")
		}
		err = derr
	} else {
		// CMYK and other rare layouts that go-libjpeg does not take go
		// through the standard decoder, at full size (Limits were checked).
		img, err = stdjpeg.Decode(stream)
	}
	// The decoder may stop before the end; the checker must see it all.
	io.Copy(io.Discard, &checkedReader{r: src.rest, c: c})
	if src.rest.err != nil {
		return nil, src.rest.err
	}
	if cerr := c.finish(); cerr != nil {
		return nil, cerr
	}
	if err != nil {
		return nil, fmt.Errorf("%w: jpeg: %v", ErrCorruptImage, err)
	}
	return img, nil
}

// decodePNG decodes a PNG and flattens any transparency onto white.
func decodePNG(src *source) (image.Image, error) {
	img, err := png.Decode(io.MultiReader(bytes.NewReader(src.head), src.rest))
	if src.rest.err != nil {
		return nil, src.rest.err
	}
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
