package imagery

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// StreamChecker validates the structure of an image while its bytes stream past (to the
// object store, say), holding a few bytes of state and never the file, so that a truncated or
// damaged upload is refused before it is recorded. Write never fails; Finish gives the verdict
// (ErrCorruptImage) once everything was written.
type StreamChecker interface {
	Write(p []byte) (int, error)
	Finish() error
}

// NewStreamChecker returns the checker for format f: JPEG (marker segments, byte stuffing and
// restart markers up to EOI) and PNG (chunk CRCs up to IEND). Other formats (HEIC, WebP, TIFF)
// pass; their damage shows when they are decoded.
func NewStreamChecker(f Format) StreamChecker {
	switch f {
	case JPEG:
		return &jpegStreamCheck{}
	case PNG:
		return &pngCheck{}
	}
	return nopCheck{}
}

type nopCheck struct{}

func (nopCheck) Write(p []byte) (int, error) { return len(p), nil }
func (nopCheck) Finish() error               { return nil }

// jpegStreamCheck adapts jpegChecker to StreamChecker.
type jpegStreamCheck struct{ c jpegChecker }

func (j *jpegStreamCheck) Write(p []byte) (int, error) {
	j.c.feed(p)
	return len(p), nil
}

func (j *jpegStreamCheck) Finish() error { return j.c.finish() }

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
		c.err = fmt.Errorf("%w: png: %s (byte %d)", ErrCorruptImage, fmt.Sprintf(format, a...), c.off)
	}
}

// Write checks the next piece of the stream; it never fails (see Finish).
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

// Finish returns the verdict once the whole stream has been written.
func (c *pngCheck) Finish() error {
	if c.err != nil {
		return c.err
	}
	if !c.done {
		return fmt.Errorf("%w: png: truncated after %d bytes (no IEND chunk)", ErrCorruptImage, c.off)
	}
	return nil
}
