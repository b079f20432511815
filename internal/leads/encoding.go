package leads

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/transform"

	"github.com/sieve-city/sieve/internal/apperr"
)

// The encodings a file is read in.
const (
	EncUTF8    = "utf-8"
	EncUTF8BOM = "utf-8-bom"
	EncGB18030 = "gb18030" // GBK and its superset GB18030: what Excel on Chinese Windows writes
)

// DetectWindow is how many bytes from the first non-ASCII byte of a file decide its encoding:
// valid UTF-8 throughout the window (a character cut by its end aside) is UTF-8, anything else
// is read as GB18030. ASCII before that byte is the same in both and is passed on as it comes.
const DetectWindow = 64 << 10

var errEncoding = apperr.Invalidf("invalid_encoding", "文件编码无法识别（应为 UTF-8 或 GBK）", "the file is neither UTF-8 nor GBK/GB18030")

// Text reads a file as UTF-8 while it streams: UTF-8 with or without a byte order mark (the
// mark is dropped), else GB18030 (which reads GBK), decided at the file's first non-ASCII byte
// from a bounded window (DetectWindow) and then decoded as a stream. Bytes that turn out to be
// neither — invalid UTF-8 after UTF-8 was decided, bytes GB18030 cannot read — fail the read
// with 422 invalid_encoding, and every read after it too (as does any error of the source).
// Memory is the window, whatever the file's size.
type Text struct {
	src      *bufio.Reader
	out      io.Reader // after the decision: the validated or decoded stream
	enc      string
	err      error // sticky
	carry    []byte
	tail     [2]byte // the last bytes of GB18030 output, for a U+FFFD cut by a read
	tailN    int
	started  bool
	nonBlank bool
}

// NewText returns r read as UTF-8 (see Text).
func NewText(r io.Reader) *Text {
	return &Text{src: bufio.NewReaderSize(&sticky{r: r}, DetectWindow+4096)}
}

// sticky keeps the first error of its reader: bufio hands an error on once (a Peek takes it),
// and the text must not take a source that failed for one that ended.
type sticky struct {
	r   io.Reader
	err error
}

func (s *sticky) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.r.Read(p)
	s.err = err
	return n, err
}

// Encoding is the encoding the file was found in: EncUTF8 until a non-ASCII byte says
// otherwise (an ASCII file is UTF-8).
func (t *Text) Encoding() string {
	if t.enc == "" {
		return EncUTF8
	}
	return t.enc
}

// Err is the error that stopped the reading (an encoding error or the source's), nil at a
// clean end or before it.
func (t *Text) Err() error {
	if errors.Is(t.err, io.EOF) {
		return nil
	}
	return t.err
}

// Blank says whether everything read so far was white space (true for an empty file).
func (t *Text) Blank() bool { return !t.nonBlank }

// Read reads UTF-8 text.
func (t *Text) Read(p []byte) (int, error) {
	if t.err != nil {
		return 0, t.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	n, err := t.read(p)
	if n > 0 && !t.nonBlank && len(bytes.TrimSpace(p[:n])) > 0 {
		t.nonBlank = true
	}
	if err != nil {
		t.err = err
	}
	return n, err
}

func (t *Text) read(p []byte) (int, error) {
	if t.out != nil {
		return t.out.Read(p)
	}
	if !t.started {
		t.started = true
		if head, _ := t.src.Peek(3); bytes.Equal(head, []byte("\xef\xbb\xbf")) {
			_, _ = t.src.Discard(3)
			t.enc = EncUTF8BOM
			t.out = readerFunc(t.utf8)
			return t.out.Read(p)
		}
	}
	// ASCII so far: pass it on up to the first non-ASCII byte, which decides.
	if t.src.Buffered() == 0 {
		if _, err := t.src.Peek(1); err != nil {
			return 0, err
		}
	}
	buf, _ := t.src.Peek(min(len(p), t.src.Buffered()))
	i := 0
	for i < len(buf) && buf[i] < utf8.RuneSelf {
		i++
	}
	if i > 0 {
		n := copy(p, buf[:i])
		_, _ = t.src.Discard(n)
		return n, nil
	}
	win, _ := t.src.Peek(DetectWindow)
	if len(win) == DetectWindow { // a character cut by the window's end is not a wrong one
		win = win[:completeUTF8(win)]
	}
	if utf8.Valid(win) {
		t.enc = EncUTF8
		t.out = readerFunc(t.utf8)
	} else {
		t.enc = EncGB18030
		t.out = readerFunc(t.gb18030(transform.NewReader(t.src, simplifiedchinese.GB18030.NewDecoder())))
	}
	return t.out.Read(p)
}

// utf8 passes the source on, checking that it is UTF-8 across reads (a character cut by a read
// waits in carry for the rest).
func (t *Text) utf8(p []byte) (int, error) {
	if len(p) < utf8.UTFMax {
		return 0, io.ErrShortBuffer
	}
	for {
		n := copy(p, t.carry)
		m, err := t.src.Read(p[n:])
		n += m
		data := p[:n]
		cut := n
		if !errors.Is(err, io.EOF) {
			cut = completeUTF8(data)
		}
		if !utf8.Valid(data[:cut]) {
			return 0, errEncoding
		}
		t.carry = append(t.carry[:0], data[cut:]...)
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		if cut > 0 || err != nil {
			return cut, err
		}
		// only the start of a character so far: read on
	}
}

// gb18030 reads the decoder's output, refusing bytes it could not read (U+FFFD, also when a
// read cuts it: tail holds the last two bytes of the read before).
func (t *Text) gb18030(dec io.Reader) func([]byte) (int, error) {
	bad := []byte("\ufffd")
	return func(p []byte) (int, error) {
		n, err := dec.Read(p)
		if n > 0 {
			edge := append(t.tail[:t.tailN:t.tailN], p[:min(n, 2)]...)
			if bytes.Contains(edge, bad) || bytes.Contains(p[:n], bad) {
				return 0, errEncoding
			}
			last := edge[max(len(edge)-2, 0):]
			if n > 2 {
				last = p[n-2 : n]
			}
			t.tailN = copy(t.tail[:], last)
		}
		return n, err
	}
}

// completeUTF8 is the length of b without a trailing incomplete UTF-8 character (at most the
// last three bytes: the start of one that continues past b).
func completeUTF8(b []byte) int {
	for k := 1; k <= utf8.UTFMax-1 && k <= len(b); k++ {
		c := b[len(b)-k]
		if c < utf8.RuneSelf {
			return len(b)
		}
		if utf8.RuneStart(c) {
			if utf8.FullRune(b[len(b)-k:]) {
				return len(b)
			}
			return len(b) - k
		}
	}
	return len(b)
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }
