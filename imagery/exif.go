package imagery

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	exif "github.com/dsoprea/go-exif/v3"
	exifcommon "github.com/dsoprea/go-exif/v3/common"
)

// exifIFD names the three IFDs whose tags ReadMetadata uses.
type exifIFD int

const (
	ifdMain exifIFD = iota // IFD0, the main image
	ifdExif                // the Exif sub-IFD
	ifdGPS                 // the GPS sub-IFD
)

type exifKey struct {
	ifd exifIFD
	tag uint16
}

// exifTag is one decoded tag: its TIFF type and its value as go-exif gives
// it (string, []uint8, []uint16, []uint32, []int32, []exifcommon.Rational,
// []exifcommon.SignedRational, ...).
type exifTag struct {
	typ   exifcommon.TagTypePrimitive
	value any
}

// wantedEXIFTag tells the tags ReadMetadata uses; the others are not
// decoded, so their damage costs no warning.
func wantedEXIFTag(k exifKey) bool {
	switch k.ifd {
	case ifdMain:
		switch k.tag {
		case tagMake, tagModel, tagOrientation:
			return true
		}
	case ifdExif:
		switch k.tag {
		case tagDateTimeOriginal, tagDateTimeDigitized, tagOffsetTime, tagOffsetTimeOriginal,
			tagOffsetTimeDigitized, tagSubSecTimeOriginal, tagFocalLength, tagFocalLength35mm,
			tagPixelXDimension, tagPixelYDimension, tagFocalPlaneXResolution,
			tagFocalPlaneYResolution, tagFocalPlaneResUnit:
			return true
		}
	case ifdGPS:
		return k.tag <= tagGPSStatus
	}
	return false
}

// exifTags is the decoded EXIF of one file, by IFD and tag id.
type exifTags struct {
	tags   map[exifKey]exifTag
	hasGPS bool // a GPS IFD was present, even if empty
}

// maxEXIFBlock bounds the EXIF block parsed (a JPEG APP1 holds at most 64 KiB;
// TIFF files can put it further away).
const maxEXIFBlock = 16 << 20

// parseEXIF decodes a TIFF-structured EXIF block with go-exif. Tags are
// gathered as they are visited, so a block that breaks half-way still gives
// what came before the break; the break becomes a warning. Wrongly typed
// tags are kept (universal search) and judged by the caller.
func parseEXIF(block []byte) (t exifTags, warnings []string) {
	t.tags = make(map[exifKey]exifTag)
	if len(block) > maxEXIFBlock {
		block = block[:maxEXIFBlock]
	}
	defer func() {
		if p := recover(); p != nil {
			warnings = append(warnings, fmt.Sprintf("exif: parser failed: %v", p))
		}
	}()
	im, err := exifcommon.NewIfdMappingWithStandard()
	if err != nil {
		return t, append(warnings, "exif: "+err.Error())
	}
	ti := exif.NewTagIndex()
	ti.SetUniversalSearch(true)
	visitor := func(ite *exif.IfdTagEntry) error {
		ii := ite.IfdIdentity()
		var ifd exifIFD
		switch {
		case ii.Equals(exifcommon.IfdStandardIfdIdentity):
			ifd = ifdMain
		case ii.Equals(exifcommon.IfdExifStandardIfdIdentity):
			ifd = ifdExif
		case ii.Equals(exifcommon.IfdGpsInfoStandardIfdIdentity):
			ifd = ifdGPS
			t.hasGPS = true
		default:
			return nil // IFD1 (thumbnail), interoperability, ...
		}
		if ite.ChildIfdPath() != "" {
			if ite.TagId() == 0x8825 {
				t.hasGPS = true
			}
			return nil
		}
		k := exifKey{ifd, ite.TagId()}
		if _, dup := t.tags[k]; dup || !wantedEXIFTag(k) {
			return nil
		}
		// go-exif reads a value of any declared length; a damaged count
		// would have it read gigabytes. No value can be longer than the block.
		if size := exifTypeSize(ite.TagType()); uint64(ite.UnitCount())*uint64(size) > uint64(len(block)) {
			warnings = append(warnings, fmt.Sprintf("exif: tag 0x%04x (%s): %d values do not fit in the block", ite.TagId(), ite.TagName(), ite.UnitCount()))
			return nil
		}
		v, err := ite.Value()
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("exif: tag 0x%04x (%s): unreadable value: %v", ite.TagId(), ite.TagName(), firstLine(err)))
			return nil
		}
		t.tags[k] = exifTag{typ: ite.TagType(), value: v}
		return nil
	}
	if _, _, err := exif.Visit(exifcommon.IfdStandardIfdIdentity, im, ti, block, visitor, nil); err != nil {
		warnings = append(warnings, "exif: "+firstLine(err))
	}
	return t, warnings
}

// exifTypeSize returns the bytes per value of a TIFF type.
func exifTypeSize(t exifcommon.TagTypePrimitive) int {
	switch t {
	case exifcommon.TypeShort:
		return 2
	case exifcommon.TypeLong, exifcommon.TypeSignedLong, exifcommon.TypeFloat:
		return 4
	case exifcommon.TypeRational, exifcommon.TypeSignedRational, exifcommon.TypeDouble:
		return 8
	}
	return 1
}

// firstLine keeps the message of go-exif's errors, which carry a stack trace.
func firstLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

func (t exifTags) get(ifd exifIFD, tag uint16) (exifTag, bool) {
	v, ok := t.tags[exifKey{ifd, tag}]
	return v, ok
}

// str returns an ASCII tag's text without its padding.
func (t exifTags) str(ifd exifIFD, tag uint16) (string, bool) {
	v, ok := t.get(ifd, tag)
	if !ok {
		return "", false
	}
	switch x := v.value.(type) {
	case string:
		return cleanString(x), true
	case []byte:
		return cleanString(string(x)), true
	}
	return "", false
}

func cleanString(s string) string {
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

// floats returns a numeric tag's values as float64, whatever its integer or
// rational type. A rational with a zero denominator makes it fail.
func (v exifTag) floats() ([]float64, error) {
	var out []float64
	switch x := v.value.(type) {
	case []exifcommon.Rational:
		for _, r := range x {
			if r.Denominator == 0 {
				return nil, errors.New("rational with zero denominator")
			}
			out = append(out, float64(r.Numerator)/float64(r.Denominator))
		}
	case []exifcommon.SignedRational:
		for _, r := range x {
			if r.Denominator == 0 {
				return nil, errors.New("rational with zero denominator")
			}
			out = append(out, float64(r.Numerator)/float64(r.Denominator))
		}
	case []uint8:
		for _, n := range x {
			out = append(out, float64(n))
		}
	case []uint16:
		for _, n := range x {
			out = append(out, float64(n))
		}
	case []uint32:
		for _, n := range x {
			out = append(out, float64(n))
		}
	case []int32:
		for _, n := range x {
			out = append(out, float64(n))
		}
	case []float32:
		for _, n := range x {
			out = append(out, float64(n))
		}
	case []float64:
		out = append(out, x...)
	default:
		return nil, fmt.Errorf("type %s is not numeric", v.typ)
	}
	if len(out) == 0 {
		return nil, errors.New("no values")
	}
	return out, nil
}

// findTIFFBlock searches the start of a file (b) for an embedded EXIF
// block: "Exif\0\0" before a TIFF header (HEIF Exif items, WebP EXIF
// chunks), or a PNG eXIf chunk. It returns the TIFF part.
func findTIFFBlock(b []byte) []byte {
	for _, prefix := range [][]byte{[]byte("Exif\x00\x00"), []byte("eXIf")} {
		for off := 0; ; {
			i := bytes.Index(b[off:], prefix)
			if i < 0 {
				break
			}
			start := off + i + len(prefix)
			rest := b[start:]
			if bytes.HasPrefix(rest, []byte("II*\x00")) || bytes.HasPrefix(rest, []byte("MM\x00*")) {
				return rest
			}
			off = start
		}
	}
	return nil
}
