package imagery

import (
	"bytes"
	"errors"
	"image"
	_ "image/jpeg"
	"strings"
	"testing"
)

func TestSniff(t *testing.T) {
	tests := []struct {
		name   string
		header []byte
		want   Format
		err    error
	}{
		{"jpeg", []byte{0xFF, 0xD8, 0xFF, 0xE1, 0, 0}, JPEG, nil},
		{"png", []byte("\x89PNG\r\n\x1a\n\x00\x00"), PNG, nil},
		{"webp", []byte("RIFF\x10\x00\x00\x00WEBPVP8 "), WebP, nil},
		{"tiff little-endian", []byte("II*\x00\x08\x00\x00\x00"), TIFF, nil},
		{"tiff big-endian", []byte("MM\x00*\x00\x00\x00\x08"), TIFF, nil},
		{"heic major brand", []byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"), HEIC, nil},
		{"avif", []byte("\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf"), HEIC, nil},
		{"heif compatible brand only", []byte("\x00\x00\x00\x18ftypmsf1\x00\x00\x00\x00"), HEIC, nil},
		{"heic in compatible brands", []byte("\x00\x00\x00\x18ftypXXXX\x00\x00\x00\x00abcdheic"), HEIC, nil},
		{"mp4 video", []byte("\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"), "", ErrUnsupportedFormat},
		{"gif", []byte("GIF89a\x01\x00"), "", ErrUnsupportedFormat},
		{"text", []byte("hello, world"), "", ErrUnsupportedFormat},
		{"jpeg prefix too short", []byte{0xFF, 0xD8}, "", ErrUnsupportedFormat},
		{"empty", nil, "", ErrEmpty},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Sniff(tt.header)
			if got != tt.want || !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Fatalf("Sniff = %q, %v; want %q, %v", got, err, tt.want, tt.err)
			}
		})
	}
}

func TestProbe(t *testing.T) {
	tests := []struct {
		file          string
		format        Format
		width, height int
		err           error
	}{
		{"iphone_hdr_NO.jpg", JPEG, 3264, 2448, nil},
		{"HMD_Nokia_8.3_5G.jpg", JPEG, 4608, 1976, nil},
		{"landscape_6.jpg", JPEG, 450, 600, nil},
		{"marker_6.jpg", JPEG, 800, 600, nil},
		{"corrupted.jpg", JPEG, 3648, 2736, nil}, // the header is fine
		{"truncated.jpg", JPEG, 600, 450, nil},   // so is this one's
		{"bomb.jpg", JPEG, 50000, 50000, nil},
		{"png_named.jpg", PNG, 160, 120, nil},
		{"heic_header.heic", HEIC, 4032, 3024, nil}, // the grid, not a 512x512 tile
		{"other.webp", WebP, 48, 36, nil},           // extended (VP8X) WebP
		{"other.tif", TIFF, 48, 36, nil},
		{"empty.jpg", "", 0, 0, ErrEmpty},
		{"SOURCES.md", "", 0, 0, ErrUnsupportedFormat},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			r, size := fixtureReader(t, tt.file)
			info, err := Probe(r, size)
			if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Fatalf("Probe error = %v, want %v", err, tt.err)
			}
			if err != nil {
				return
			}
			if info.Format != tt.format || info.Width != tt.width || info.Height != tt.height || info.Size != size {
				t.Fatalf("Probe = %+v, want %s %dx%d of %d bytes", info, tt.format, tt.width, tt.height, size)
			}
		})
	}
}

// TestProbeMatchesDecodeConfig cross-checks the JPEG marker walk against
// the standard library on the real photos.
func TestProbeMatchesDecodeConfig(t *testing.T) {
	for _, f := range []string{"DSCN0010.jpg", "HMD_Nokia_8.3_5G.jpg", "Kodak_CX7530.jpg", "iphone_hdr_NO.jpg", "jolla.jpg", "landscape_3.jpg", "dji_attr.jpg"} {
		b := fixture(t, f)
		cfg, _, err := image.DecodeConfig(bytes.NewReader(b))
		if err != nil {
			t.Fatal(f, err)
		}
		info, err := Probe(bytes.NewReader(b), int64(len(b)))
		if err != nil || info.Width != cfg.Width || info.Height != cfg.Height {
			t.Errorf("%s: Probe = %+v, %v; DecodeConfig %dx%d", f, info, err, cfg.Width, cfg.Height)
		}
	}
}

func TestProbeBrokenHeaders(t *testing.T) {
	jpegHead := fixture(t, "dji_attr.jpg")
	tests := []struct {
		name string
		data []byte
	}{
		{"jpeg cut inside APP1", jpegHead[:100]},
		{"jpeg SOI only", []byte{0xFF, 0xD8, 0xFF}},
		{"jpeg garbage after SOI", append([]byte{0xFF, 0xD8, 0xFF, 0xE0}, bytes.Repeat([]byte{0x41}, 40)...)},
		{"jpeg zero-height frame", []byte("\xff\xd8\xff\xc0\x00\x11\x08\x00\x00\x00\x10\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01\xff\xda")},
		{"png without IHDR", []byte("\x89PNG\r\n\x1a\n\x00\x00")},
		{"heic without meta", []byte("\x00\x00\x00\x10ftypheic\x00\x00\x00\x00")},
		{"heic box overruns", []byte("\x00\x00\x00\x10ftypheic\x00\x00\x00\x00\x00\x00\xff\xffmeta")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Probe(bytes.NewReader(tt.data), int64(len(tt.data)))
			if !errors.Is(err, ErrCorruptImage) {
				t.Fatalf("Probe error = %v, want ErrCorruptImage", err)
			}
		})
	}
}

func TestLimitsCheck(t *testing.T) {
	limits := Limits{MaxPixels: 120_000_000, MaxBytes: 50 << 20}
	tests := []struct {
		name string
		l    Limits
		info Info
		err  error
	}{
		{"20 MP drone image", limits, Info{Width: 5472, Height: 3648, Size: 12 << 20}, nil},
		{"decompression bomb", limits, Info{Width: 50000, Height: 50000, Size: 613}, ErrTooManyPixels},
		{"just over the pixel limit", Limits{MaxPixels: 100}, Info{Width: 101, Height: 1}, ErrTooManyPixels},
		{"at the pixel limit", Limits{MaxPixels: 100}, Info{Width: 10, Height: 10}, nil},
		{"too many bytes", limits, Info{Width: 10, Height: 10, Size: 51 << 20}, ErrTooLarge},
		{"no limits", Limits{}, Info{Width: 1 << 30, Height: 1 << 30, Size: 1 << 40}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.l.Check(tt.info)
			if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Fatalf("Check = %v, want %v", err, tt.err)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "imagery: ") {
				t.Fatalf("error %q lacks the package prefix", err)
			}
		})
	}
}

// TestProbeBombFromFile is the upload path: a tiny file whose header claims
// 50,000×50,000 pixels is refused from its header alone.
func TestProbeBombFromFile(t *testing.T) {
	r, size := fixtureReader(t, "bomb.jpg")
	if size > 4096 {
		t.Fatalf("bomb fixture is %d bytes; it should be tiny", size)
	}
	info, err := Probe(r, size)
	if err != nil {
		t.Fatal(err)
	}
	if err := DefaultThumbConfig().Limits.Check(info); !errors.Is(err, ErrTooManyPixels) {
		t.Fatalf("Check = %v, want ErrTooManyPixels", err)
	}
}

func TestCheckJPEGStream(t *testing.T) {
	good := fixture(t, "dji_attr.jpg")
	sos := bytes.Index(good, []byte{0xFF, 0xDA})
	mid := sos + (len(good)-sos)/2
	withStray := append(append(append([]byte{}, good[:mid]...), 0xFF, 0x8A), good[mid:]...)
	withRST := append(append(append([]byte{}, good[:mid]...), 0xFF, 0xD3), good[mid:]...)
	tests := []struct {
		name string
		data []byte
		ok   bool
	}{
		{"real photo", fixture(t, "iphone_hdr_NO.jpg"), true},
		{"real photo with trailing data", fixture(t, "HMD_Nokia_8.3_5G.jpg"), true},
		{"small jpeg", good, true},
		{"trailing garbage after EOI", append(append([]byte{}, good...), "garbage"...), true},
		{"truncated fixture", fixture(t, "truncated.jpg"), false},
		{"cut before EOI", good[:len(good)-2], false},
		{"cut in a header", good[:sos-10], false},
		{"real corrupt entropy data", fixture(t, "corrupted.jpg"), false},
		{"stray marker in scan", withStray, false},
		{"restart marker out of order", withRST, false},
		{"not a jpeg", []byte("hello"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkJPEGStream(tt.data)
			if (err == nil) != tt.ok {
				t.Fatalf("checkJPEGStream = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrCorruptImage) {
				t.Fatalf("error %v does not wrap ErrCorruptImage", err)
			}
		})
	}
}

// TestJPEGCheckerChunks feeds the checker in pieces of many sizes: the
// verdict and the frame header must not depend on how the stream is cut.
func TestJPEGCheckerChunks(t *testing.T) {
	for _, name := range []string{"dji_attr.jpg", "landscape_6.jpg", "truncated.jpg", "corrupted.jpg", "marker_8.jpg", "bomb.jpg"} {
		data := fixture(t, name)
		whole := checkJPEGStream(data)
		for _, size := range []int{1, 2, 3, 7, 64, 4096, 16384} {
			var c jpegChecker
			for p := data; len(p) > 0; {
				n := min(size, len(p))
				c.feed(p[:n])
				p = p[n:]
			}
			got := c.finish()
			if (got == nil) != (whole == nil) || (got != nil && got.Error() != whole.Error()) {
				t.Errorf("%s in pieces of %d: %v; whole: %v", name, size, got, whole)
			}
		}
	}
	// The frame header as the checker reads it.
	var c jpegChecker
	c.feed(fixture(t, "HMD_Nokia_8.3_5G.jpg"))
	if c.width != 4608 || c.height != 1976 || c.components != 3 || c.finish() != nil {
		t.Errorf("checker read %dx%d, %d components, %v", c.width, c.height, c.components, c.finish())
	}
}

func TestWebPSize(t *testing.T) {
	riff := func(chunk string, payload []byte) []byte {
		b := append([]byte("RIFF\x00\x00\x00\x00WEBP"+chunk+"\x00\x00\x00\x00"), payload...)
		return append(b, make([]byte, 16)...)
	}
	bits := uint32(39) | uint32(29)<<14
	tests := []struct {
		name string
		data []byte
		w, h int
		ok   bool
	}{
		{"lossless", riff("VP8L", []byte{0x2F, byte(bits), byte(bits >> 8), byte(bits >> 16), byte(bits >> 24)}), 40, 30, true},
		{"lossy", riff("VP8 ", []byte{0, 0, 0, 0x9D, 0x01, 0x2A, 40, 0, 30, 0}), 40, 30, true},
		{"extended", riff("VP8X", []byte{0, 0, 0, 0, 39, 0, 0, 29, 0, 0}), 40, 30, true},
		{"lossy without start code", riff("VP8 ", []byte{0, 0, 0, 1, 2, 3, 40, 0, 30, 0}), 0, 0, false},
		{"unknown chunk", riff("ABCD", nil), 0, 0, false},
	}
	for _, tt := range tests {
		info, err := Probe(bytes.NewReader(tt.data), int64(len(tt.data)))
		if (err == nil) != tt.ok || (tt.ok && (info.Width != tt.w || info.Height != tt.h || info.Format != WebP)) {
			t.Errorf("%s: Probe = %+v, %v", tt.name, info, err)
		}
	}
}
