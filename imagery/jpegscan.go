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

// jpegChecker validates the structure of a JPEG stream fed to it in pieces
// of any size: every marker segment and, in every scan, the byte stuffing
// of the entropy-coded data and the order of the restart markers, up to
// the EOI marker (bytes after EOI, such as the preview images of MPF files,
// are ignored). It does not Huffman-decode, so it runs at memory speed; it
// catches truncation and the stray bytes that damaged files show, which
// libjpeg only reports as warnings and decodes as grey. On the way it
// reads the frame header (width, height, components).
type jpegChecker struct {
	state    int
	marker   byte // the current segment's marker
	lenBuf   [2]byte
	lenN     int
	need     int    // payload bytes left in the current segment
	sof      []byte // frame header payload being collected
	ffSeen   bool   // in a scan: the last byte was 0xFF
	nextRST  byte
	segments int
	off      int64 // bytes fed so far

	width, height int
	components    int
	sawSOF        bool
	sawSOS        bool
	done          bool // EOI seen
	err           error
}

const (
	jcSOI0       = iota // expect 0xFF of SOI
	jcSOI1              // expect 0xD8
	jcMarkerFF          // expect the 0xFF of a marker
	jcMarkerCode        // expect the marker code (0xFF fill bytes allowed)
	jcLength            // reading the 2-byte segment length
	jcPayload           // skipping or collecting the segment payload
	jcEntropy           // in the entropy-coded data of a scan
)

func (c *jpegChecker) fail(format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf("%w: jpeg: %s", ErrCorruptImage, fmt.Sprintf(format, args...))
	}
}

// feed checks the next piece of the stream. After an error or the EOI
// marker it ignores what it is given.
func (c *jpegChecker) feed(p []byte) {
	for len(p) > 0 && c.err == nil && !c.done {
		switch c.state {
		case jcPayload:
			n := min(c.need, len(p))
			if c.sof != nil {
				c.sof = append(c.sof, p[:n]...)
			}
			c.need -= n
			c.advance(n)
			p = p[n:]
			if c.need == 0 {
				c.endSegment()
			}
			continue
		case jcEntropy:
			if !c.ffSeen {
				i := bytes.IndexByte(p, 0xFF)
				if i < 0 {
					c.advance(len(p))
					return
				}
				c.advance(i + 1)
				p = p[i+1:]
				c.ffSeen = true
				continue
			}
		}
		b := p[0]
		p = p[1:]
		c.byte1(b)
		c.advance(1)
	}
}

func (c *jpegChecker) advance(n int) { c.off += int64(n) }

// byte1 handles one byte in the states that go byte by byte.
func (c *jpegChecker) byte1(b byte) {
	switch c.state {
	case jcSOI0, jcSOI1:
		if (c.state == jcSOI0 && b != 0xFF) || (c.state == jcSOI1 && b != mSOI) {
			c.fail("no start-of-image marker")
			return
		}
		c.state++
	case jcMarkerFF:
		if b != 0xFF {
			c.fail("expected a marker at byte %d, found 0x%02x", c.off, b)
			return
		}
		c.state = jcMarkerCode
	case jcMarkerCode:
		c.markerCode(b)
	case jcLength:
		c.lenBuf[c.lenN] = b
		c.lenN++
		if c.lenN < 2 {
			return
		}
		n := int(binary.BigEndian.Uint16(c.lenBuf[:]))
		if n < 2 {
			c.fail("segment 0x%02x has length %d", c.marker, n)
			return
		}
		c.need = n - 2
		c.state = jcPayload
		if c.need == 0 {
			c.endSegment()
		}
	case jcEntropy: // the byte after a 0xFF
		switch {
		case b == 0x00:
			c.ffSeen = false
		case b == 0xFF: // fill byte
		case b >= mRST0 && b <= mRST7:
			if b != c.nextRST {
				c.fail("restart marker RST%d at byte %d where RST%d was due", b-mRST0, c.off, c.nextRST-mRST0)
				return
			}
			c.nextRST = mRST0 + (c.nextRST-mRST0+1)%8
			c.ffSeen = false
		case b == mEOI || b == mSOS || b == mDHT || b == mDRI || b == 0xDB || b == 0xDC || b == 0xFE ||
			(b >= 0xE0 && b <= 0xEF) || isSOF(b):
			// A marker that may follow a scan: EOI, or the tables and
			// the next scan of a progressive image.
			c.ffSeen = false
			c.markerCode(b)
		default:
			c.fail("bad byte sequence ff %02x inside the compressed data at byte %d", b, c.off-1)
		}
	}
}

// markerCode handles the code byte of a marker.
func (c *jpegChecker) markerCode(m byte) {
	c.segments++
	if c.segments > 1<<20 {
		c.fail("too many segments")
		return
	}
	switch {
	case m == 0xFF: // fill byte before the code
		c.segments--
	case m == mEOI:
		if !c.sawSOS {
			c.fail("end of image before any scan")
			return
		}
		c.done = true
	case m == mTEM || (m >= mRST0 && m <= mRST7):
		c.state = jcMarkerFF
	case m == mSOI:
		c.fail("second start-of-image marker at byte %d", c.off-1)
	case m < 0xC0:
		c.fail("invalid marker 0x%02x at byte %d", m, c.off-1)
	default:
		c.marker = m
		c.lenN = 0
		c.state = jcLength
		if isSOF(m) {
			if c.sawSOF {
				c.fail("two frame headers")
				return
			}
			c.sof = make([]byte, 0, 32)
		}
	}
}

// endSegment runs when a marker segment's payload has been read.
func (c *jpegChecker) endSegment() {
	c.state = jcMarkerFF
	switch {
	case isSOF(c.marker):
		b := c.sof
		c.sof = nil
		if len(b) < 6 {
			c.fail("frame header too short")
			return
		}
		c.height = int(binary.BigEndian.Uint16(b[1:3]))
		c.width = int(binary.BigEndian.Uint16(b[3:5]))
		c.components = int(b[5])
		if c.components == 0 || len(b) < 6+3*c.components {
			c.fail("frame header with %d components is %d bytes", c.components, len(b))
			return
		}
		if c.height == 0 || c.width == 0 {
			c.fail("frame header gives %dx%d pixels", c.width, c.height)
			return
		}
		c.sawSOF = true
	case c.marker == mSOS:
		if !c.sawSOF {
			c.fail("scan before frame header")
			return
		}
		c.sawSOS = true
		c.nextRST = mRST0
		c.ffSeen = false
		c.state = jcEntropy
	}
}

// finish returns the verdict once the whole stream has been fed.
func (c *jpegChecker) finish() error {
	switch {
	case c.err != nil:
		return c.err
	case !c.done:
		return fmt.Errorf("%w: jpeg: %v (at byte %d)", ErrCorruptImage, errJPEGTruncated, c.off)
	}
	return nil
}

// checkJPEGStream validates a whole in-memory JPEG with a jpegChecker.
func checkJPEGStream(b []byte) error {
	var c jpegChecker
	c.feed(b)
	return c.finish()
}
