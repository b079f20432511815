package imagery

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image/png"
	"io"

	"golang.org/x/image/tiff"
)

// Format is an image container format recognised by its magic bytes, never
// by the file name. Its value is the lower-case short name, safe to store.
type Format string

// The formats Sniff recognises.
const (
	JPEG Format = "jpeg"
	PNG  Format = "png"
	// HEIC covers the ISO base media file formats of still images: HEIC and
	// HEIF (iPhones, many Android phones) and AVIF.
	HEIC Format = "heic"
	WebP Format = "webp"
	TIFF Format = "tiff"
)

// MIMEType returns the media type to store and serve the original with.
func (f Format) MIMEType() string {
	switch f {
	case JPEG:
		return "image/jpeg"
	case PNG:
		return "image/png"
	case HEIC:
		return "image/heic"
	case WebP:
		return "image/webp"
	case TIFF:
		return "image/tiff"
	}
	return "application/octet-stream"
}

// SniffLen is how many leading bytes Sniff needs to tell every Format apart.
const SniffLen = 32

// isHEIFBrand tells the 'ftyp' brands of HEIF-family still images.
func isHEIFBrand(b []byte) bool {
	switch string(b) {
	case "heic", "heix", "heim", "heis", "hevc", "hevx", "hevm", "hevs",
		"mif1", "mif2", "msf1", "avif", "avis":
		return true
	}
	return false
}

// Sniff tells the Format of a file from its first bytes (SniffLen are
// enough; fewer work for the formats whose magic is shorter). It returns
// ErrEmpty for no bytes and ErrUnsupportedFormat for anything else it does
// not know.
func Sniff(header []byte) (Format, error) {
	switch {
	case len(header) == 0:
		return "", ErrEmpty
	case bytes.HasPrefix(header, []byte{0xFF, 0xD8, 0xFF}):
		return JPEG, nil
	case bytes.HasPrefix(header, []byte("\x89PNG\r\n\x1a\n")):
		return PNG, nil
	case len(header) >= 12 && string(header[:4]) == "RIFF" && string(header[8:12]) == "WEBP":
		return WebP, nil
	case bytes.HasPrefix(header, []byte("II*\x00")), bytes.HasPrefix(header, []byte("MM\x00*")):
		return TIFF, nil
	case len(header) >= 12 && string(header[4:8]) == "ftyp":
		// Major brand, then (after the minor version) compatible brands.
		if isHEIFBrand(header[8:12]) {
			return HEIC, nil
		}
		boxLen := int(header[0])<<24 | int(header[1])<<16 | int(header[2])<<8 | int(header[3])
		for off := 16; off+4 <= len(header) && off+4 <= boxLen; off += 4 {
			if isHEIFBrand(header[off : off+4]) {
				return HEIC, nil
			}
		}
	}
	return "", fmt.Errorf("%w (magic % x)", ErrUnsupportedFormat, header[:min(len(header), 8)])
}

// Info is what Probe learns from a file's header without decoding pixels.
type Info struct {
	Format Format
	// Width and Height are the stored dimensions, before EXIF orientation.
	Width, Height int
	// Size is the file length in bytes.
	Size int64
}

// Pixels returns Width×Height.
func (i Info) Pixels() int64 { return int64(i.Width) * int64(i.Height) }

// Probe reads only the header of the file in r (size bytes long) and
// returns its format and dimensions. Nothing is decoded, so it is safe on a
// decompression bomb; pass the result to Limits.Check before decoding.
func Probe(r io.ReaderAt, size int64) (Info, error) {
	if size <= 0 {
		return Info{}, ErrEmpty
	}
	head := make([]byte, min(size, SniffLen))
	if _, err := r.ReadAt(head, 0); err != nil && !errors.Is(err, io.EOF) {
		return Info{}, fmt.Errorf("imagery: probe: %w", err)
	}
	f, err := Sniff(head)
	if err != nil {
		return Info{}, err
	}
	info := Info{Format: f, Size: size}
	switch f {
	case JPEG:
		h, err := readJPEGHeader(r, size, false)
		if err != nil {
			return info, err
		}
		info.Width, info.Height = h.width, h.height
	case PNG:
		cfg, err := png.DecodeConfig(io.NewSectionReader(r, 0, size))
		if err != nil {
			return info, fmt.Errorf("%w: png header: %v", ErrCorruptImage, err)
		}
		info.Width, info.Height = cfg.Width, cfg.Height
	case WebP:
		w, h, err := webpSize(r)
		if err != nil {
			return info, err
		}
		info.Width, info.Height = w, h
	case TIFF:
		cfg, err := tiff.DecodeConfig(io.NewSectionReader(r, 0, size))
		if err != nil {
			return info, fmt.Errorf("%w: tiff header: %v", ErrCorruptImage, err)
		}
		info.Width, info.Height = cfg.Width, cfg.Height
	case HEIC:
		w, h, err := heifSize(r, size)
		if err != nil {
			return info, err
		}
		info.Width, info.Height = w, h
	}
	if info.Width <= 0 || info.Height <= 0 {
		return info, fmt.Errorf("%w: %s header gives %dx%d pixels", ErrCorruptImage, f, info.Width, info.Height)
	}
	return info, nil
}

// webpSize reads the canvas size from the first chunk of a WebP file:
// VP8X (extended: canvas size), VP8L (lossless) or "VP8 " (lossy key frame).
func webpSize(r io.ReaderAt) (int, int, error) {
	var b [30]byte
	if n, err := r.ReadAt(b[:], 0); n < len(b) && err != nil {
		return 0, 0, fmt.Errorf("%w: webp header cut off", ErrCorruptImage)
	}
	c := b[20:]
	le24 := func(p []byte) int { return int(p[0]) | int(p[1])<<8 | int(p[2])<<16 }
	switch string(b[12:16]) {
	case "VP8X":
		return le24(c[4:]) + 1, le24(c[7:]) + 1, nil
	case "VP8L":
		if c[0] != 0x2F {
			return 0, 0, fmt.Errorf("%w: webp lossless signature missing", ErrCorruptImage)
		}
		bits := uint32(c[1]) | uint32(c[2])<<8 | uint32(c[3])<<16 | uint32(c[4])<<24
		return int(bits&0x3FFF) + 1, int(bits>>14&0x3FFF) + 1, nil
	case "VP8 ":
		if c[3] != 0x9D || c[4] != 0x01 || c[5] != 0x2A {
			return 0, 0, fmt.Errorf("%w: webp lossy start code missing", ErrCorruptImage)
		}
		return int(binary.LittleEndian.Uint16(c[6:]) & 0x3FFF), int(binary.LittleEndian.Uint16(c[8:]) & 0x3FFF), nil
	}
	return 0, 0, fmt.Errorf("%w: webp chunk %q unknown", ErrCorruptImage, b[12:16])
}

// Limits bound what the server accepts before it decodes anything. A zero
// field means no limit.
type Limits struct {
	// MaxPixels caps Width×Height (a 50,000×50,000 header is 2.5e9).
	MaxPixels int64
	// MaxBytes caps the file length.
	MaxBytes int64
}

// Check returns ErrTooManyPixels or ErrTooLarge (wrapped, with the figures)
// when info is over the limits, and nil otherwise.
func (l Limits) Check(info Info) error {
	if l.MaxBytes > 0 && info.Size > l.MaxBytes {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, info.Size, l.MaxBytes)
	}
	if l.MaxPixels > 0 && info.Pixels() > l.MaxPixels {
		return fmt.Errorf("%w: %dx%d is %d pixels, limit %d", ErrTooManyPixels, info.Width, info.Height, info.Pixels(), l.MaxPixels)
	}
	return nil
}
