package media

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"github.com/sieve-city/sieve/imagery"
)

// streamChecker validates the structure of an image while its bytes stream to the store, so a
// truncated or damaged upload is refused before it is recorded. It holds a few bytes of state,
// never the file. Formats without a checker (HEIC, WebP, TIFF) pass; their damage shows when the
// thumbnail job runs.
type streamChecker interface {
	Write(p []byte) (int, error) // never fails; the verdict comes from finish
	finish() error
}

func newChecker(f imagery.Format) streamChecker {
	switch f {
	case imagery.JPEG:
		return &jpegCheck{}
	case imagery.PNG:
		return &pngCheck{}
	}
	return nopCheck{}
}

type nopCheck struct{}

func (nopCheck) Write(p []byte) (int, error) { return len(p), nil }
func (nopCheck) finish() error               { return nil }

// jpegCheck follows the marker segments of a JPEG and, inside each scan, the byte stuffing and
// the order of the restart markers, up to EOI. It does not Huffman-decode. Bytes after EOI
// (preview images of MPF files) are ignored.
type jpegCheck struct {
	state          int
	off            int64
	marker         byte
	lenHi          byte
	need           int
	nextRST        byte
	sawSOF, sawSOS bool
	done           bool
	err            error
}

const (
	jSOI0 = iota
	jSOI1
	jMarkerFF
	jMarkerCode
	jLen0
	jLen1
	jPayload
	jEntropy
	jEntropyFF
)

func (c *jpegCheck) fail(format string, a ...any) {
	if c.err == nil {
		c.err = fmt.Errorf("%w: jpeg: %s (byte %d)", imagery.ErrCorruptImage, fmt.Sprintf(format, a...), c.off)
	}
}

func (c *jpegCheck) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 && c.err == nil && !c.done {
		switch c.state {
		case jPayload:
			k := min(c.need, len(p))
			c.need -= k
			c.off += int64(k)
			p = p[k:]
			if c.need == 0 {
				c.endSegment()
			}
			continue
		case jEntropy:
			i := bytes.IndexByte(p, 0xFF)
			if i < 0 {
				i = len(p)
			}
			c.off += int64(i)
			p = p[i:]
			if len(p) == 0 {
				continue
			}
			c.state = jEntropyFF
			c.off++
			p = p[1:]
			continue
		}
		b := p[0]
		p = p[1:]
		c.off++
		c.byte1(b)
	}
	return n, nil
}

func (c *jpegCheck) byte1(b byte) {
	switch c.state {
	case jSOI0:
		if b != 0xFF {
			c.fail("no start-of-image marker")
		}
		c.state = jSOI1
	case jSOI1:
		if b != 0xD8 {
			c.fail("no start-of-image marker")
		}
		c.state = jMarkerFF
	case jMarkerFF:
		if b != 0xFF {
			c.fail("expected a marker, found 0x%02x", b)
			return
		}
		c.state = jMarkerCode
	case jMarkerCode:
		c.markerCode(b)
	case jLen0:
		c.lenHi, c.state = b, jLen1
	case jLen1:
		n := int(binary.BigEndian.Uint16([]byte{c.lenHi, b}))
		if n < 2 {
			c.fail("segment 0x%02x has length %d", c.marker, n)
			return
		}
		c.need = n - 2
		c.state = jPayload
		if c.need == 0 {
			c.endSegment()
		}
	case jEntropyFF:
		switch {
		case b == 0x00: // stuffed 0xFF
			c.state = jEntropy
		case b == 0xFF: // fill byte
		case b >= 0xD0 && b <= 0xD7: // restart marker, in order
			if b-0xD0 != c.nextRST {
				c.fail("restart marker %d out of order, expected %d", b-0xD0, c.nextRST)
				return
			}
			c.nextRST = (c.nextRST + 1) % 8
			c.state = jEntropy
		default: // the scan ends at a marker
			c.markerCode(b)
		}
	}
}

func (c *jpegCheck) markerCode(m byte) {
	switch {
	case m == 0xFF: // fill
		c.state = jMarkerCode
	case m == 0xD9:
		if !c.sawSOF || !c.sawSOS {
			c.fail("end of image before any frame or scan")
			return
		}
		c.done = true
	case m == 0xD8 || m == 0x00 || (m >= 0xD0 && m <= 0xD7):
		c.fail("unexpected marker 0x%02x", m)
	case m == 0x01:
		c.state = jMarkerFF
	default:
		if m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC {
			c.sawSOF = true
		}
		if m == 0xDA && !c.sawSOF {
			c.fail("scan before frame header")
			return
		}
		c.marker = m
		c.state = jLen0
	}
}

func (c *jpegCheck) endSegment() {
	if c.marker == 0xDA {
		c.sawSOS = true
		c.nextRST = 0
		c.state = jEntropy
		return
	}
	c.state = jMarkerFF
}

func (c *jpegCheck) finish() error {
	if c.err != nil {
		return c.err
	}
	if !c.done {
		return fmt.Errorf("%w: jpeg: truncated after %d bytes (no end-of-image marker)", imagery.ErrCorruptImage, c.off)
	}
	return nil
}

// pngCheck follows the chunks of a PNG, checking each CRC, up to IEND.
type pngCheck struct {
	off  int64
	hdr  [8]byte // signature, then each chunk's length and type
	hdrN int
	sig  bool
	need int64 // data + CRC bytes left in the current chunk
	crc  uint32
	crcB [4]byte
	crcN int
	typ  string
	done bool
	err  error
}

var pngSig = [8]byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'}

func (c *pngCheck) fail(format string, a ...any) {
	if c.err == nil {
		c.err = fmt.Errorf("%w: png: %s (byte %d)", imagery.ErrCorruptImage, fmt.Sprintf(format, a...), c.off)
	}
}

func (c *pngCheck) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 && c.err == nil && !c.done {
		if c.hdrN < 8 { // signature or chunk header
			k := copy(c.hdr[c.hdrN:], p)
			c.hdrN += k
			c.off += int64(k)
			p = p[k:]
			if c.hdrN < 8 {
				continue
			}
			if !c.sig {
				if c.hdr != pngSig {
					c.fail("bad signature")
				}
				c.sig, c.hdrN = true, 0
				continue
			}
			length := int64(binary.BigEndian.Uint32(c.hdr[:4]))
			if length > 1<<31-1 {
				c.fail("chunk length %d", length)
				continue
			}
			c.typ = string(c.hdr[4:8])
			c.crc = crc32.Update(0, crc32.IEEETable, c.hdr[4:8])
			c.need, c.crcN = length, 0
			continue
		}
		if c.need > 0 { // chunk data
			k := int(min(c.need, int64(len(p))))
			c.crc = crc32.Update(c.crc, crc32.IEEETable, p[:k])
			c.need -= int64(k)
			c.off += int64(k)
			p = p[k:]
			continue
		}
		k := copy(c.crcB[c.crcN:], p) // CRC
		c.crcN += k
		c.off += int64(k)
		p = p[k:]
		if c.crcN < 4 {
			continue
		}
		if binary.BigEndian.Uint32(c.crcB[:]) != c.crc {
			c.fail("CRC mismatch in chunk %q", c.typ)
			continue
		}
		if c.typ == "IEND" {
			c.done = true
		}
		c.hdrN = 0
	}
	return n, nil
}

func (c *pngCheck) finish() error {
	if c.err != nil {
		return c.err
	}
	if !c.done {
		return fmt.Errorf("%w: png: truncated after %d bytes (no IEND chunk)", imagery.ErrCorruptImage, c.off)
	}
	return nil
}
