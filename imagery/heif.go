package imagery

import (
	"encoding/binary"
	"fmt"
	"io"
)

// maxHEIFMetaBox bounds how much of a HEIF 'meta' box is read into memory.
const maxHEIFMetaBox = 4 << 20

// isoBox is one ISO base media file format box inside a byte slice.
type isoBox struct {
	typ  string
	body []byte
}

// parseBoxes splits b into consecutive boxes.
func parseBoxes(b []byte) ([]isoBox, error) {
	var boxes []isoBox
	for len(b) > 0 {
		if len(b) < 8 {
			return boxes, fmt.Errorf("%w: heif: %d stray bytes after the last box", ErrCorruptImage, len(b))
		}
		size := uint64(binary.BigEndian.Uint32(b))
		typ := string(b[4:8])
		hdr := uint64(8)
		switch size {
		case 0:
			size = uint64(len(b))
		case 1:
			if len(b) < 16 {
				return boxes, fmt.Errorf("%w: heif: box %q cut off", ErrCorruptImage, typ)
			}
			size, hdr = binary.BigEndian.Uint64(b[8:]), 16
		}
		if size < hdr || size > uint64(len(b)) {
			return boxes, fmt.Errorf("%w: heif: box %q has size %d of %d bytes left", ErrCorruptImage, typ, size, len(b))
		}
		boxes = append(boxes, isoBox{typ: typ, body: b[hdr:size]})
		b = b[size:]
	}
	return boxes, nil
}

func findBox(boxes []isoBox, typ string) (isoBox, bool) {
	for _, bx := range boxes {
		if bx.typ == typ {
			return bx, true
		}
	}
	return isoBox{}, false
}

// heifMeta reads the top-level 'meta' box of a HEIF file (its body after
// the full-box version and flags), walking the top-level boxes by their
// headers only.
func heifMeta(r io.ReaderAt, size int64) ([]byte, error) {
	var hdr [16]byte
	for off := int64(0); off < size; {
		if _, err := r.ReadAt(hdr[:8], off); err != nil {
			return nil, fmt.Errorf("%w: heif: box header at byte %d cut off", ErrCorruptImage, off)
		}
		n := int64(binary.BigEndian.Uint32(hdr[:4]))
		typ := string(hdr[4:8])
		h := int64(8)
		switch n {
		case 0:
			n = size - off
		case 1:
			if _, err := r.ReadAt(hdr[8:16], off+8); err != nil {
				return nil, fmt.Errorf("%w: heif: box %q cut off", ErrCorruptImage, typ)
			}
			n, h = int64(binary.BigEndian.Uint64(hdr[8:16])), 16
		}
		if n < h || n > size-off {
			return nil, fmt.Errorf("%w: heif: box %q at byte %d has size %d", ErrCorruptImage, typ, off, n)
		}
		if typ == "meta" {
			if n-h < 4 || n > maxHEIFMetaBox {
				return nil, fmt.Errorf("%w: heif: meta box of %d bytes", ErrCorruptImage, n)
			}
			b := make([]byte, n-h)
			if _, err := r.ReadAt(b, off+h); err != nil {
				return nil, fmt.Errorf("%w: heif: meta box cut off", ErrCorruptImage)
			}
			return b[4:], nil
		}
		off += n
	}
	return nil, fmt.Errorf("%w: heif: no meta box", ErrCorruptImage)
}

// heifSize returns the dimensions of the primary image of a HEIF file from
// its 'ispe' (image spatial extents) property, found through 'pitm' and
// 'ipma'. For a grid image (iPhone photos) that is the full picture, not a
// tile. Rotation ('irot') is not applied.
func heifSize(r io.ReaderAt, size int64) (int, int, error) {
	meta, err := heifMeta(r, size)
	if err != nil {
		return 0, 0, err
	}
	boxes, err := parseBoxes(meta)
	if err != nil {
		return 0, 0, err
	}
	iprp, ok := findBox(boxes, "iprp")
	if !ok {
		return 0, 0, fmt.Errorf("%w: heif: no item properties", ErrCorruptImage)
	}
	props, err := parseBoxes(iprp.body)
	if err != nil {
		return 0, 0, err
	}
	ipco, ok := findBox(props, "ipco")
	if !ok {
		return 0, 0, fmt.Errorf("%w: heif: no property container", ErrCorruptImage)
	}
	container, err := parseBoxes(ipco.body)
	if err != nil {
		return 0, 0, err
	}
	ispe := func(bx isoBox) (int, int, bool) {
		if bx.typ != "ispe" || len(bx.body) < 12 {
			return 0, 0, false
		}
		return int(binary.BigEndian.Uint32(bx.body[4:])), int(binary.BigEndian.Uint32(bx.body[8:])), true
	}
	// The primary item's own ispe, when pitm and ipma say which it is.
	if primary, ok := heifPrimaryItem(boxes); ok {
		if ipma, ok := findBox(props, "ipma"); ok {
			for _, idx := range heifItemProperties(ipma.body, primary) {
				if idx >= 1 && idx <= len(container) {
					if w, h, ok := ispe(container[idx-1]); ok {
						return w, h, nil
					}
				}
			}
		}
	}
	// Otherwise the largest extent declared.
	bw, bh := 0, 0
	for _, bx := range container {
		if w, h, ok := ispe(bx); ok && int64(w)*int64(h) > int64(bw)*int64(bh) {
			bw, bh = w, h
		}
	}
	if bw == 0 {
		return 0, 0, fmt.Errorf("%w: heif: no image extents", ErrCorruptImage)
	}
	return bw, bh, nil
}

func heifPrimaryItem(boxes []isoBox) (uint32, bool) {
	pitm, ok := findBox(boxes, "pitm")
	if !ok || len(pitm.body) < 6 {
		return 0, false
	}
	if pitm.body[0] == 0 {
		return uint32(binary.BigEndian.Uint16(pitm.body[4:])), true
	}
	if len(pitm.body) < 8 {
		return 0, false
	}
	return binary.BigEndian.Uint32(pitm.body[4:]), true
}

// heifItemProperties returns the 1-based property indexes that an 'ipma'
// box associates with item.
func heifItemProperties(b []byte, item uint32) []int {
	if len(b) < 8 {
		return nil
	}
	version, flags := b[0], b[3]
	count := binary.BigEndian.Uint32(b[4:])
	p := b[8:]
	for range count {
		var id uint32
		if version < 1 {
			if len(p) < 3 {
				return nil
			}
			id, p = uint32(binary.BigEndian.Uint16(p)), p[2:]
		} else {
			if len(p) < 5 {
				return nil
			}
			id, p = binary.BigEndian.Uint32(p), p[4:]
		}
		n := int(p[0])
		p = p[1:]
		var idx []int
		for range n {
			if flags&1 != 0 {
				if len(p) < 2 {
					return nil
				}
				idx, p = append(idx, int(binary.BigEndian.Uint16(p)&0x7FFF)), p[2:]
			} else {
				if len(p) < 1 {
					return nil
				}
				idx, p = append(idx, int(p[0]&0x7F)), p[1:]
			}
		}
		if id == item {
			return idx
		}
	}
	return nil
}
