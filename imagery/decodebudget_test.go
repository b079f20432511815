package imagery

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"io"
	"sync"
	"testing"
	"time"
)

// pngHeader16 is the signature and IHDR of a w×h 16-bit RGBA PNG, without image data.
func pngHeader16(w, h int) []byte {
	var b bytes.Buffer
	b.Write([]byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'})
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9] = 16, 6 // bit depth, colour type RGBA
	writeChunk(&b, "IHDR", ihdr)
	return b.Bytes()
}

func writeChunk(b *bytes.Buffer, typ string, data []byte) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(data)))
	b.Write(n[:])
	c := crc32.NewIEEE()
	c.Write([]byte(typ))
	c.Write(data)
	b.WriteString(typ)
	b.Write(data)
	binary.BigEndian.PutUint32(n[:], c.Sum32())
	b.Write(n[:])
}

// png16 is a whole w×h 16-bit RGBA PNG of one colour.
func png16(t *testing.T, w, h int) []byte {
	t.Helper()
	b := bytes.NewBuffer(pngHeader16(w, h))
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	row := make([]byte, 1+w*8)
	for i := 1; i < len(row); i++ {
		row[i] = 0x80
	}
	for y := 0; y < h; y++ {
		if _, err := zw.Write(row); err != nil {
			t.Fatal(err)
		}
	}
	zw.Close()
	writeChunk(b, "IDAT", z.Bytes())
	writeChunk(b, "IEND", nil)
	return b.Bytes()
}

// TestDecodeCost: the budget counts bytes per pixel (a 16-bit RGBA PNG 8, plus its flattened
// copy), not pixels, and a JPEG at its reduced decode size.
func TestDecodeCost(t *testing.T) {
	th, err := NewThumbnailer(DefaultThumbConfig())
	if err != nil {
		t.Fatal(err)
	}
	src, err := th.open(bytes.NewReader(pngHeader16(10950, 10950)))
	if err != nil {
		t.Fatal(err)
	}
	if c := th.decodeCost(src); c < 10950*10950*12 {
		t.Fatalf("cost of a 10,950² 16-bit RGBA PNG %d MB, want at least %d MB", c>>20, (10950*10950*12)>>20)
	}
	if sw, sh := jpegScaled(8000, 6000, 1280, 960); sw != 2000 || sh != 1500 {
		t.Fatalf("jpegScaled 8000×6000 → %d×%d, want 2000×1500 (2/8: 1/8 is smaller than the target)", sw, sh)
	}
	// An 8000×6000 drone JPEG is decoded at 2/8: a sixteenth of its full 192 MB, plus the
	// resize and the thumbnails.
	jsrc := &source{info: Info{Format: JPEG, Width: 8000, Height: 6000}, checker: &jpegChecker{components: 3}}
	if c, whole := th.decodeCost(jsrc), int64(8000*6000*4); c >= whole/4 {
		t.Fatalf("an 8000×6000 JPEG costs %d MB, not well under its full decode %d MB", c>>20, whole>>20)
	}
}

// TestMakeDecodeBudgetRefuses: with the default budget, a 10,950² 16-bit RGBA PNG (under the
// pixel limit, 1.5 GB to decode and flatten) is refused from its header, before any pixel is
// decoded: no thumbnail (ErrCannotThumbnail), ErrDecodeBudget.
func TestMakeDecodeBudgetRefuses(t *testing.T) {
	th, err := NewThumbnailer(DefaultThumbConfig())
	if err != nil {
		t.Fatal(err)
	}
	// Only the header: a decode would fail on the missing data, the budget refuses first.
	_, err = th.Make(context.Background(), bytes.NewReader(pngHeader16(10950, 10950)), 1)
	if !errors.Is(err, ErrDecodeBudget) || !errors.Is(err, ErrCannotThumbnail) {
		t.Fatalf("got %v, want ErrDecodeBudget and ErrCannotThumbnail", err)
	}
	// A whole one of 2,000² (48 MB) against a 32 MB budget.
	cfg := DefaultThumbConfig()
	cfg.DecodeMemory = 32 << 20
	small, err := NewThumbnailer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := small.Make(context.Background(), bytes.NewReader(png16(t, 2000, 2000)), 1); !errors.Is(err, ErrDecodeBudget) {
		t.Fatalf("2,000² 16-bit under 32 MB: %v, want ErrDecodeBudget", err)
	}
	// Within the budget it is thumbnailed.
	if _, err := th.Make(context.Background(), bytes.NewReader(png16(t, 1000, 1000)), 1); err != nil {
		t.Fatalf("1,000² 16-bit under the default budget: %v", err)
	}
}

// pausingReader returns head, then blocks until release is closed.
type pausingReader struct {
	head    []byte
	rest    io.Reader
	paused  chan struct{}
	release chan struct{}
	once    sync.Once
}

func (p *pausingReader) Read(b []byte) (int, error) {
	if len(p.head) > 0 {
		n := copy(b, p.head)
		p.head = p.head[n:]
		return n, nil
	}
	p.once.Do(func() { close(p.paused); <-p.release })
	return p.rest.Read(b)
}

// TestMakeDecodeBudgetWaits: the budget is a weighted semaphore over the process: while one
// decode holds most of it, a second waits (and gives up when its context ends), whatever
// MaxConcurrent allows; once the first is done the second goes through.
func TestMakeDecodeBudgetWaits(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 1500, 1500))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	if cfg, _ := png.DecodeConfig(bytes.NewReader(buf.Bytes())); cfg.ColorModel != color.RGBAModel {
		t.Fatalf("colour model %v", cfg.ColorModel)
	}
	data := buf.Bytes()
	cfg := DefaultThumbConfig()
	cfg.MaxConcurrent = 4
	cfg.DecodeMemory = 50 << 20 // one such decode (~36 MB) at a time
	th, err := NewThumbnailer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	slow := &pausingReader{head: data[:64], rest: bytes.NewReader(data[64:]), paused: make(chan struct{}), release: make(chan struct{})}
	done := make(chan error)
	go func() {
		_, err := th.Make(context.Background(), slow, 1)
		done <- err
	}()
	<-slow.paused // the first holds its share of the budget, decoding
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := th.Make(ctx, bytes.NewReader(data), 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second decode while the budget is taken: %v, want DeadlineExceeded", err)
	}
	close(slow.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := th.Make(context.Background(), bytes.NewReader(data), 1); err != nil {
		t.Fatalf("after the first: %v", err)
	}
}
