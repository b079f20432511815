package imagery

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/disintegration/imaging"
)

func newTestThumbnailer(t *testing.T) *Thumbnailer {
	t.Helper()
	th, err := NewThumbnailer(DefaultThumbConfig())
	if err != nil {
		t.Fatal(err)
	}
	return th
}

// decodeThumb decodes a thumbnail with the standard library, so that the
// output is checked by a decoder other than the one that made it.
func decodeThumb(t *testing.T, b []byte) image.Image {
	t.Helper()
	img, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("thumbnail is not a valid JPEG: %v", err)
	}
	return img
}

func TestMakeSizes(t *testing.T) {
	th := newTestThumbnailer(t)
	tests := []struct {
		file        string
		orientation int
		width       int // of the original as displayed
		height      int
		list        [2]int
		detail      [2]int
	}{
		{"iphone_hdr_NO.jpg", 1, 3264, 2448, [2]int{320, 240}, [2]int{1280, 960}},
		{"HMD_Nokia_8.3_5G.jpg", 1, 4608, 1976, [2]int{320, 137}, [2]int{1280, 549}},
		{"landscape_6.jpg", 6, 600, 450, [2]int{320, 240}, [2]int{600, 450}}, // not enlarged
		{"landscape_3.jpg", 3, 600, 450, [2]int{320, 240}, [2]int{600, 450}},
		{"Kodak_CX7530.jpg", 1, 100, 78, [2]int{100, 78}, [2]int{100, 78}},
		{"png_named.jpg", 1, 160, 120, [2]int{160, 120}, [2]int{160, 120}},
		{"jolla.jpg", 8, 2448, 3264, [2]int{240, 320}, [2]int{960, 1280}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			out, err := th.Make(context.Background(), bytes.NewReader(fixture(t, tt.file)), tt.orientation)
			if err != nil {
				t.Fatal(err)
			}
			if out.Width != tt.width || out.Height != tt.height {
				t.Errorf("displayed size %dx%d, want %dx%d", out.Width, out.Height, tt.width, tt.height)
			}
			if len(out.Sizes) != 2 {
				t.Fatalf("got sizes %v, want list and detail", out.Sizes)
			}
			for name, want := range map[string][2]int{"list": tt.list, "detail": tt.detail} {
				got := out.Sizes[name]
				img := decodeThumb(t, got.JPEG)
				b := img.Bounds()
				if got.Width != want[0] || got.Height != want[1] || b.Dx() != want[0] || b.Dy() != want[1] {
					t.Errorf("%s: %dx%d (decoded %dx%d), want %dx%d", name, got.Width, got.Height, b.Dx(), b.Dy(), want[0], want[1])
				}
			}
			if out.PHash == 0 {
				t.Error("no perceptual hash")
			}
		})
	}
}

// colorAt averages a 9x9 patch of img around (x, y).
func colorAt(img image.Image, x, y int) (r, g, b int) {
	n := 0
	for dy := -4; dy <= 4; dy++ {
		for dx := -4; dx <= 4; dx++ {
			cr, cg, cb, _ := img.At(x+dx, y+dy).RGBA()
			r, g, b = r+int(cr>>8), g+int(cg>>8), b+int(cb>>8)
			n++
		}
	}
	return r / n, g / n, b / n
}

func isRed(r, g, b int) bool  { return r > 180 && g < 80 && b < 80 }
func isBlue(r, g, b int) bool { return b > 180 && r < 80 && g < 80 }

// TestMakeOrientation is the portrait phone photo: stored 800x600 with a
// red square at the stored top-left and a blue one at the stored
// bottom-left, and EXIF Orientation 6 (turn 90° clockwise) or 8 (turn 90°
// counterclockwise). The orientation is read by ReadMetadata, as the
// worker does, and the thumbnails must come out portrait with the squares
// where a viewer shows them.
func TestMakeOrientation(t *testing.T) {
	th := newTestThumbnailer(t)
	tests := []struct {
		file string
		// displayed corners (as fractions) where the squares land
		red, blue [2]float64
	}{
		// Turning clockwise takes the top-left to the top-right and the
		// bottom-left to the top-left.
		{"marker_6.jpg", [2]float64{0.9, 0.1}, [2]float64{0.1, 0.1}},
		// Turning counterclockwise takes the top-left to the bottom-left
		// and the bottom-left to the bottom-right.
		{"marker_8.jpg", [2]float64{0.1, 0.9}, [2]float64{0.9, 0.9}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data := fixture(t, tt.file)
			md, err := ReadMetadata(bytes.NewReader(data), int64(len(data)))
			if err != nil {
				t.Fatal(err)
			}
			out, err := th.Make(context.Background(), bytes.NewReader(data), md.Orientation)
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"list", "detail"} {
				img := decodeThumb(t, out.Sizes[name].JPEG)
				b := img.Bounds()
				if b.Dx() >= b.Dy() {
					t.Fatalf("%s is %dx%d: not portrait", name, b.Dx(), b.Dy())
				}
				at := func(p [2]float64) (int, int, int) {
					return colorAt(img, int(p[0]*float64(b.Dx())), int(p[1]*float64(b.Dy())))
				}
				if r, g, bl := at(tt.red); !isRed(r, g, bl) {
					t.Errorf("%s: expected red at %v, found rgb(%d,%d,%d)", name, tt.red, r, g, bl)
				}
				if r, g, bl := at(tt.blue); !isBlue(r, g, bl) {
					t.Errorf("%s: expected blue at %v, found rgb(%d,%d,%d)", name, tt.blue, r, g, bl)
				}
			}
		})
	}
}

func TestMakeErrors(t *testing.T) {
	th := newTestThumbnailer(t)
	flipped := fixture(t, "dji_attr.jpg")
	sos := bytes.Index(flipped, []byte{0xFF, 0xDA})
	flipped[sos+(len(flipped)-sos)/2] = 0xFF
	flipped[sos+(len(flipped)-sos)/2+1] = 0x3C
	tests := []struct {
		name string
		data []byte
		err  error
	}{
		{"zero-byte file", fixture(t, "empty.jpg"), ErrEmpty},
		{"truncated jpeg", fixture(t, "truncated.jpg"), ErrCorruptImage},
		{"real corrupt entropy data", fixture(t, "corrupted.jpg"), ErrCorruptImage},
		{"stray marker in entropy data", flipped, ErrCorruptImage},
		{"decompression bomb", fixture(t, "bomb.jpg"), ErrTooManyPixels},
		{"heic", fixture(t, "heic_header.heic"), ErrCannotThumbnail},
		{"webp", fixture(t, "other.webp"), ErrCannotThumbnail},
		{"tiff", fixture(t, "other.tif"), ErrCannotThumbnail},
		{"not an image", []byte("<html>hello</html>"), ErrUnsupportedFormat},
		{"jpeg header only", fixture(t, "dji_attr.jpg")[:sos], ErrCorruptImage},
		{"png cut short", fixture(t, "png_named.jpg")[:20000], ErrCorruptImage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := th.Make(context.Background(), bytes.NewReader(tt.data), 1)
			if !errors.Is(err, tt.err) {
				t.Fatalf("Make error = %v, want %v", err, tt.err)
			}
			if !strings.HasPrefix(err.Error(), "imagery: ") {
				t.Fatalf("error %q lacks the package prefix", err)
			}
		})
	}
}

// TestMakeUnsizedStream runs Make on streams that do not tell their length
// (an HTTP body, a MinIO object read): good, truncated and damaged JPEGs,
// and a PNG.
func TestMakeUnsizedStream(t *testing.T) {
	th := newTestThumbnailer(t)
	tests := []struct {
		file string
		err  error
	}{
		{"iphone_hdr_NO.jpg", nil},
		{"png_named.jpg", nil},
		{"truncated.jpg", ErrCorruptImage},
		{"corrupted.jpg", ErrCorruptImage},
		{"bomb.jpg", ErrTooManyPixels},
		{"empty.jpg", ErrEmpty},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			r := io.MultiReader(bytes.NewReader(fixture(t, tt.file)))
			out, err := th.Make(context.Background(), r, 1)
			if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Fatalf("Make error = %v, want %v", err, tt.err)
			}
			if err == nil {
				decodeThumb(t, out.Sizes["detail"].JPEG)
			}
		})
	}
}

// failingReader returns its data, then fails as a dropped connection does.
type failingReader struct {
	r   io.Reader
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

// TestMakeReadFailure: an upload or storage read that fails half-way is a
// read error the caller can retry, not damaged content.
func TestMakeReadFailure(t *testing.T) {
	th := newTestThumbnailer(t)
	broken := errors.New("connection reset")
	for _, tt := range []struct {
		file string
		cut  int
	}{{"iphone_hdr_NO.jpg", 5000}, {"iphone_hdr_NO.jpg", 900000}, {"png_named.jpg", 30000}} {
		data := fixture(t, tt.file)[:tt.cut]
		_, err := th.Make(context.Background(), &failingReader{r: bytes.NewReader(data), err: broken}, 1)
		if !errors.Is(err, broken) || errors.Is(err, ErrCorruptImage) || !strings.HasPrefix(err.Error(), "imagery: ") {
			t.Errorf("%s cut at %d: Make error = %v, want the read error", tt.file, tt.cut, err)
		}
	}
}

func TestMakeTooLarge(t *testing.T) {
	cfg := DefaultThumbConfig()
	cfg.Limits.MaxBytes = 1000
	th, err := NewThumbnailer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	data := fixture(t, "dji_attr.jpg")
	// Once with a length the reader tells, once with a plain stream.
	for _, r := range []io.Reader{bytes.NewReader(data), io.MultiReader(bytes.NewReader(data))} {
		if _, err := th.Make(context.Background(), r, 1); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("Make error = %v, want ErrTooLarge", err)
		}
	}
}

// TestMakeMatchesReference compares the detail thumbnail, made through the
// DCT-scaled decode, with a reference made by full decode and Lanczos
// resize: their perceptual hashes must agree, and so must the mean colour.
func TestMakeMatchesReference(t *testing.T) {
	th := newTestThumbnailer(t)
	data := fixture(t, "iphone_hdr_NO.jpg")
	out, err := th.Make(context.Background(), bytes.NewReader(data), 1)
	if err != nil {
		t.Fatal(err)
	}
	full, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	ref := imaging.Resize(full, 1280, 960, imaging.Lanczos)
	got := decodeThumb(t, out.Sizes["detail"].JPEG)
	if d := HammingDistance(PerceptualHash(got), PerceptualHash(ref)); d > 4 {
		t.Errorf("detail thumbnail is %d bits from the reference", d)
	}
	if d := HammingDistance(out.PHash, PerceptualHash(ref)); d > 6 {
		t.Errorf("returned pHash is %d bits from the reference's", d)
	}
	refList := imaging.Resize(full, 320, 240, imaging.Lanczos)
	if d := HammingDistance(PerceptualHash(decodeThumb(t, out.Sizes["list"].JPEG)), PerceptualHash(refList)); d > 4 {
		t.Errorf("list thumbnail is %d bits from the reference", d)
	}
	mean := func(img image.Image) [3]float64 {
		var s [3]float64
		b := img.Bounds()
		for y := b.Min.Y; y < b.Max.Y; y += 4 {
			for x := b.Min.X; x < b.Max.X; x += 4 {
				c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
				s[0], s[1], s[2] = s[0]+float64(c.R), s[1]+float64(c.G), s[2]+float64(c.B)
			}
		}
		n := float64((b.Dx() + 3) / 4 * ((b.Dy() + 3) / 4))
		return [3]float64{s[0] / n, s[1] / n, s[2] / n}
	}
	mg, mr := mean(got), mean(ref)
	for i := range mg {
		if !near(mg[i], mr[i], 3) {
			t.Errorf("mean colour %v, reference %v", mg, mr)
			break
		}
	}
}

// blockingReader blocks its first Read until release is closed.
type blockingReader struct {
	started chan struct{}
	release chan struct{}
	r       io.Reader
	once    sync.Once
}

func (b *blockingReader) Read(p []byte) (int, error) {
	b.once.Do(func() {
		close(b.started)
		<-b.release
	})
	return b.r.Read(p)
}

// TestMakeConcurrencyBound checks that MaxConcurrent is a hard bound: with
// one slot taken by a slow upload, a second Make waits, gives up when its
// context ends, and goes through once the slot is free.
func TestMakeConcurrencyBound(t *testing.T) {
	cfg := DefaultThumbConfig()
	cfg.MaxConcurrent = 1
	th, err := NewThumbnailer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	data := fixture(t, "dji_attr.jpg")
	slow := &blockingReader{started: make(chan struct{}), release: make(chan struct{}), r: bytes.NewReader(data)}
	firstDone := make(chan error)
	go func() {
		_, err := th.Make(context.Background(), slow, 1)
		firstDone <- err
	}()
	<-slow.started

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := th.Make(ctx, bytes.NewReader(data), 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second Make while the slot is taken: %v, want DeadlineExceeded", err)
	}
	close(slow.release)
	if err := <-firstDone; err != nil {
		t.Fatal(err)
	}
	if _, err := th.Make(context.Background(), bytes.NewReader(data), 1); err != nil {
		t.Fatalf("Make after the slot was freed: %v", err)
	}
}

func TestNewThumbnailerConfig(t *testing.T) {
	good := DefaultThumbConfig()
	tests := []struct {
		name string
		edit func(*ThumbConfig)
		ok   bool
	}{
		{"default", func(*ThumbConfig) {}, true},
		{"no sizes", func(c *ThumbConfig) { c.Sizes = nil }, false},
		{"duplicate names", func(c *ThumbConfig) { c.Sizes = []ThumbSize{{"a", 10}, {"a", 20}} }, false},
		{"zero size", func(c *ThumbConfig) { c.Sizes = []ThumbSize{{"a", 0}} }, false},
		{"quality 0", func(c *ThumbConfig) { c.Quality = 0 }, false},
		{"quality 101", func(c *ThumbConfig) { c.Quality = 101 }, false},
		{"negative concurrency", func(c *ThumbConfig) { c.MaxConcurrent = -1 }, false},
		{"zero concurrency means GOMAXPROCS", func(c *ThumbConfig) { c.MaxConcurrent = 0 }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			cfg.Sizes = append([]ThumbSize(nil), good.Sizes...)
			tt.edit(&cfg)
			_, err := NewThumbnailer(cfg)
			if (err == nil) != tt.ok {
				t.Fatalf("NewThumbnailer error = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestFitLongSide(t *testing.T) {
	tests := []struct{ w, h, long, ww, wh int }{
		{5472, 3648, 1280, 1280, 853},
		{3648, 5472, 320, 213, 320},
		{100, 78, 320, 100, 78},
		{10000, 1, 320, 320, 1},
		{4608, 1976, 1280, 1280, 549},
	}
	for _, tt := range tests {
		if w, h := fitLongSide(tt.w, tt.h, tt.long); w != tt.ww || h != tt.wh {
			t.Errorf("fitLongSide(%d, %d, %d) = %d, %d; want %d, %d", tt.w, tt.h, tt.long, w, h, tt.ww, tt.wh)
		}
	}
}
