package imagery

import "errors"

// Sentinel errors. Every error about an image's content wraps one of them.
var (
	// ErrEmpty reports a zero-byte file.
	ErrEmpty = errors.New("imagery: empty file")
	// ErrUnsupportedFormat reports content that is not one of the known
	// Formats (whatever the file name says).
	ErrUnsupportedFormat = errors.New("imagery: unsupported format")
	// ErrTooManyPixels reports an image whose header claims more pixels
	// than Limits.MaxPixels allows (a decompression bomb is refused this
	// way before any decode).
	ErrTooManyPixels = errors.New("imagery: too many pixels")
	// ErrTooLarge reports a file longer than Limits.MaxBytes.
	ErrTooLarge = errors.New("imagery: file too large")
	// ErrCorruptImage reports a file of a known format whose structure or
	// compressed data is damaged or truncated.
	ErrCorruptImage = errors.New("imagery: corrupt image")
	// ErrCannotThumbnail reports a valid image that this package cannot
	// decode (HEIC/HEIF, AVIF, WebP, TIFF); the caller stores it and flags
	// it as having no thumbnail.
	ErrCannotThumbnail = errors.New("imagery: cannot make a thumbnail of this format")
	// ErrBadGPS classifies a GPS position that is present but unusable
	// (out of range, or the all-zero position of a receiver without a
	// fix). ReadMetadata does not fail with it: it drops the position and
	// records the error text in Metadata.Warnings.
	ErrBadGPS = errors.New("imagery: bad GPS position")
)
