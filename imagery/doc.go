// Package imagery is Sieve's pure image work: it sniffs and probes uploaded
// files, reads their metadata (EXIF and XMP, including the DJI drone-dji
// fields), makes oriented JPEG thumbnails with a perceptual hash, and
// computes the ground footprint of a drone survey image.
//
// The package holds no database, network or package-level mutable state.
// A Thumbnailer is built once with its configuration (in cmd/sieve) and
// passed to whoever needs it; every other entry point is a plain function.
//
// Errors are prefixed "imagery: ". Those about the content wrap one of the
// sentinel errors below, so callers classify them with errors.Is; read and
// context errors are wrapped as they come:
//
//	ErrEmpty, ErrUnsupportedFormat -> the upload is not an image we take (415)
//	ErrTooManyPixels, ErrTooLarge  -> refused by Limits before any decode (413)
//	ErrCorruptImage                -> truncated or damaged data (422)
//	ErrCannotThumbnail             -> stored, but flagged: no thumbnail (HEIC)
//
// ErrBadGPS never comes back as an error: ReadMetadata drops an unusable
// position and says why in Metadata.Warnings.
package imagery
