package imagery

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// JPEG marker codes used below.
const (
	mSOI  = 0xD8
	mEOI  = 0xD9
	mSOS  = 0xDA
	mDHT  = 0xC4
	mDRI  = 0xDD
	mAPP1 = 0xE1
	mRST0 = 0xD0
	mRST7 = 0xD7
	mTEM  = 0x01
	mDAC  = 0xCC
	mJPG  = 0xC8
)

// maxJPEGSegments bounds the marker walk so that a hostile file of empty
// segments cannot keep it busy.
const maxJPEGSegments = 4096

// Prefixes of the APP1 payloads that hold EXIF and XMP.
const (
	exifAPP1Prefix = "Exif\x00\x00"
	xmpAPP1Prefix  = "http://ns.adobe.com/xap/1.0/\x00"
)

// jpegHeader is what the marker walk learns before the first scan.
type jpegHeader struct {
	width, height int
	sof           byte // the SOFn marker: 0xC0 baseline, 0xC2 progressive, ...
	components    []jpegComponent
	exif          []byte // TIFF block of the first Exif APP1, without the prefix
	xmp           []byte // the first standard XMP APP1 packet, without the prefix
}

type jpegComponent struct {
	id, h, v byte
}

func isSOF(m byte) bool {
	return m >= 0xC0 && m <= 0xCF && m != mDHT && m != mJPG && m != mDAC
}

// readJPEGHeader walks the marker segments of a JPEG from SOI to the first
// SOS. It needs a frame header (SOF); with withApps it also keeps the Exif
// and XMP APP1 payloads.
func readJPEGHeader(r io.ReaderAt, size int64, withApps bool) (jpegHeader, error) {
	var h jpegHeader
	var buf [4]byte
	off := int64(2)
	for range maxJPEGSegments {
		if _, err := r.ReadAt(buf[:2], off); err != nil {
			return h, fmt.Errorf("%w: jpeg header ends at byte %d before the image data", ErrCorruptImage, off)
		}
		if buf[0] != 0xFF {
			return h, fmt.Errorf("%w: jpeg: expected a marker at byte %d, found 0x%02x", ErrCorruptImage, off, buf[0])
		}
		m := buf[1]
		if m == 0xFF { // fill byte before a marker
			off++
			continue
		}
		off += 2
		if m == mTEM || (m >= mRST0 && m <= mRST7) {
			continue
		}
		if m == mEOI || m == mSOI {
			return h, fmt.Errorf("%w: jpeg: marker 0x%02x before any image data", ErrCorruptImage, m)
		}
		if _, err := r.ReadAt(buf[:2], off); err != nil {
			return h, fmt.Errorf("%w: jpeg: segment 0x%02x cut off", ErrCorruptImage, m)
		}
		n := int64(binary.BigEndian.Uint16(buf[:2]))
		if n < 2 || off+n > size {
			return h, fmt.Errorf("%w: jpeg: segment 0x%02x has bad length %d", ErrCorruptImage, m, n)
		}
		payload := io.NewSectionReader(r, off+2, n-2)
		switch {
		case m == mSOS:
			if h.sof == 0 {
				return h, fmt.Errorf("%w: jpeg: scan before frame header", ErrCorruptImage)
			}
			return h, nil
		case isSOF(m):
			if h.sof != 0 {
				return h, fmt.Errorf("%w: jpeg: two frame headers", ErrCorruptImage)
			}
			if err := h.parseSOF(m, payload, n-2); err != nil {
				return h, err
			}
			if !withApps {
				return h, nil
			}
		case m == mAPP1 && withApps && (h.exif == nil || h.xmp == nil):
			b := make([]byte, n-2)
			if _, err := payload.ReadAt(b, 0); err != nil {
				return h, fmt.Errorf("%w: jpeg: APP1 cut off", ErrCorruptImage)
			}
			switch {
			case h.exif == nil && bytes.HasPrefix(b, []byte(exifAPP1Prefix)):
				h.exif = b[len(exifAPP1Prefix):]
			case h.xmp == nil && bytes.HasPrefix(b, []byte(xmpAPP1Prefix)):
				h.xmp = b[len(xmpAPP1Prefix):]
			}
		}
		off += n
	}
	return h, fmt.Errorf("%w: jpeg: more than %d header segments", ErrCorruptImage, maxJPEGSegments)
}

func (h *jpegHeader) parseSOF(m byte, payload io.ReaderAt, n int64) error {
	if n < 6 {
		return fmt.Errorf("%w: jpeg: frame header too short", ErrCorruptImage)
	}
	b := make([]byte, n)
	if _, err := payload.ReadAt(b, 0); err != nil {
		return fmt.Errorf("%w: jpeg: frame header cut off", ErrCorruptImage)
	}
	h.sof = m
	h.height = int(binary.BigEndian.Uint16(b[1:3]))
	h.width = int(binary.BigEndian.Uint16(b[3:5]))
	nc := int(b[5])
	if nc == 0 || n < int64(6+3*nc) {
		return fmt.Errorf("%w: jpeg: frame header with %d components is %d bytes", ErrCorruptImage, nc, n)
	}
	for i := range nc {
		c := b[6+3*i:]
		h.components = append(h.components, jpegComponent{id: c[0], h: c[1] >> 4, v: c[1] & 0x0F})
	}
	if h.height == 0 {
		// A DNL marker after the first scan would give the height; no
		// camera writes one and libjpeg refuses it.
		return fmt.Errorf("%w: jpeg: frame header with zero height", ErrCorruptImage)
	}
	return nil
}

// errJPEGTruncated marks a stream that ends before its EOI marker.
var errJPEGTruncated = errors.New("jpeg data ends before the end-of-image marker")

// checkJPEGStream validates the whole structure of an in-memory JPEG: every
// marker segment, and in every scan the byte stuffing of the entropy-coded
// data and the order of the restart markers, up to the EOI marker (bytes
// after EOI, such as the preview images of MPF files, are ignored). It does
// not Huffman-decode, so it runs at memory speed; it catches truncation and
// the stray bytes that damaged files show, which libjpeg only reports as
// warnings and decodes as grey.
func checkJPEGStream(b []byte) error {
	corrupt := func(format string, args ...any) error {
		return fmt.Errorf("%w: jpeg: %s", ErrCorruptImage, fmt.Sprintf(format, args...))
	}
	if len(b) < 4 || b[0] != 0xFF || b[1] != mSOI {
		return corrupt("no start-of-image marker")
	}
	i := 2
	sawSOF, sawSOS := false, false
	for segments := 0; ; segments++ {
		if segments > 1<<20 {
			return corrupt("too many segments")
		}
		if i+2 > len(b) {
			return corrupt("%v (at byte %d of %d)", errJPEGTruncated, i, len(b))
		}
		if b[i] != 0xFF {
			return corrupt("expected a marker at byte %d, found 0x%02x", i, b[i])
		}
		m := b[i+1]
		if m == 0xFF {
			i++
			continue
		}
		i += 2
		switch {
		case m == mEOI:
			if !sawSOS {
				return corrupt("end of image before any scan")
			}
			return nil
		case m == mTEM || (m >= mRST0 && m <= mRST7):
			continue
		case m == mSOI:
			return corrupt("second start-of-image marker at byte %d", i-2)
		}
		if i+2 > len(b) {
			return corrupt("%v (segment 0x%02x cut off)", errJPEGTruncated, m)
		}
		n := int(binary.BigEndian.Uint16(b[i : i+2]))
		if n < 2 {
			return corrupt("segment 0x%02x has length %d", m, n)
		}
		if i+n > len(b) {
			return corrupt("%v (segment 0x%02x of %d bytes cut off)", errJPEGTruncated, m, n)
		}
		if isSOF(m) {
			sawSOF = true
		}
		i += n
		if m != mSOS {
			continue
		}
		if !sawSOF {
			return corrupt("scan before frame header")
		}
		sawSOS = true
		next, err := skipEntropyData(b, i)
		if err != nil {
			return corrupt("%v", err)
		}
		i = next
	}
}

// skipEntropyData scans the entropy-coded data that starts at b[i] and
// returns the offset of the marker that ends it.
func skipEntropyData(b []byte, i int) (int, error) {
	nextRST := byte(mRST0)
	for {
		j := bytes.IndexByte(b[i:], 0xFF)
		if j < 0 {
			return 0, errJPEGTruncated
		}
		i += j
		k := i + 1
		for k < len(b) && b[k] == 0xFF { // fill bytes
			k++
		}
		if k >= len(b) {
			return 0, errJPEGTruncated
		}
		switch m := b[k]; {
		case m == 0x00:
			i = k + 1
		case m >= mRST0 && m <= mRST7:
			if m != nextRST {
				return 0, fmt.Errorf("restart marker RST%d at byte %d where RST%d was due", m-mRST0, i, nextRST-mRST0)
			}
			nextRST = mRST0 + (nextRST-mRST0+1)%8
			i = k + 1
		case m == mEOI || m == mSOS || m == mDHT || m == mDRI || m == 0xDB || m == 0xDC || m == 0xFE ||
			(m >= 0xE0 && m <= 0xEF) || isSOF(m):
			// A marker that may follow a scan (EOI, or the tables and
			// the next scan of a progressive image).
			return k - 1, nil
		default:
			return 0, fmt.Errorf("bad byte sequence ff %02x inside the compressed data at byte %d", m, i)
		}
	}
}
