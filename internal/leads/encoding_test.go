package leads

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/sieve-city/sieve/internal/apperr"
)

func gbk(t *testing.T, s string) string {
	t.Helper()
	out, err := simplifiedchinese.GBK.NewEncoder().String(s)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// readText reads in through Text, the source cut into pieces of chunk bytes (0: as it comes)
// and the output read chunk bytes at a time too.
func readText(in string, chunk int) (string, *Text, error) {
	var src io.Reader = strings.NewReader(in)
	if chunk > 0 {
		src = &chunked{r: src, n: chunk}
	}
	tx := NewText(src)
	var out bytes.Buffer
	buf := make([]byte, max(chunk, 4))
	for {
		n, err := tx.Read(buf)
		out.Write(buf[:n])
		if errors.Is(err, io.EOF) {
			return out.String(), tx, nil
		}
		if err != nil {
			return out.String(), tx, err
		}
	}
}

// chunked gives at most n bytes a read.
type chunked struct {
	r io.Reader
	n int
}

func (c *chunked) Read(p []byte) (int, error) { return c.r.Read(p[:min(len(p), c.n)]) }

func isEncodingErr(err error) bool {
	e, ok := apperr.As(err)
	return ok && e.Code == "invalid_encoding" && e.Status == 422
}

// TestText: the encodings are told apart and decoded as a stream, whatever the cuts of the
// reads.
func TestText(t *testing.T) {
	g := gbk(t, "企业名称,地址\n某化工厂,火龙镇\n")
	for _, c := range []struct {
		name, in, enc, want string
	}{
		{"ascii", "plate,time\nA,1\n", EncUTF8, "plate,time\nA,1\n"},
		{"utf-8", "企业名称,地址\n", EncUTF8, "企业名称,地址\n"},
		{"utf-8 with BOM", "\ufeff企业名称,地址\n", EncUTF8BOM, "企业名称,地址\n"},
		{"GBK", g, EncGB18030, "企业名称,地址\n某化工厂,火龙镇\n"},
		{"ASCII then GBK", "name,address\n" + g, EncGB18030, "name,address\n企业名称,地址\n某化工厂,火龙镇\n"},
		{"empty", "", EncUTF8, ""},
	} {
		for _, chunk := range []int{0, 1, 2, 3, 5, 7, 4096} {
			out, tx, err := readText(c.in, chunk)
			if err != nil || out != c.want || tx.Encoding() != c.enc {
				t.Errorf("%s (reads of %d): %q %s %v, want %q %s", c.name, chunk, out, tx.Encoding(), err, c.want, c.enc)
			}
		}
	}
	for _, c := range []struct{ name, in string }{
		{"binary", "\xff\xfe\x00\x81\x30"},
		{"a BOM before GBK", "\ufeff" + g},
		{"UTF-8 (a BOM) cut at the end", "\ufeff企业名称\xe4\xbc"},
	} {
		for _, chunk := range []int{0, 1, 3} {
			if _, _, err := readText(c.in, chunk); !isEncodingErr(err) {
				t.Errorf("%s (reads of %d): %v, want invalid_encoding", c.name, chunk, err)
			}
		}
	}
}

// TestTextFarAndCut: the decision waits for the first non-ASCII byte however far into the file
// it is (here 3 MB, far past any buffer and the detection window), a character cut by a
// buffer's or the window's end is neither misread nor refused, and bytes of the other encoding
// after the window fail the read.
func TestTextFarAndCut(t *testing.T) {
	ascii := strings.Repeat("A1234,2024-05-01T08:00:00+08:00,113.45,34.15\n", 3<<20/46)
	row := "豫K12345,火龙镇\n"
	far := ascii + gbk(t, row)
	out, tx, err := readText(far, 0)
	if err != nil || tx.Encoding() != EncGB18030 || out != ascii+row {
		t.Fatalf("GBK 3 MB in: %s %v, tail %q", tx.Encoding(), err, out[max(len(out)-40, 0):])
	}
	if out, tx, err = readText(ascii+row, 0); err != nil || tx.Encoding() != EncUTF8 || out != ascii+row {
		t.Fatalf("UTF-8 3 MB in: %s %v", tx.Encoding(), err)
	}
	// Every cut of a GBK (2-byte) and a UTF-8 (3-byte) character across the window's end (the
	// window starts at the first 化; pad ASCII bytes after it shift the cut) and across reads:
	// the text is the same.
	for pad := 0; pad < 4; pad++ {
		for _, c := range []struct {
			enc   string
			chars int
		}{{EncGB18030, DetectWindow/2 + 4}, {EncUTF8, DetectWindow/3 + 4}} {
			text := "x化" + strings.Repeat("a", pad) + strings.Repeat("化", c.chars-1)
			in := text
			if c.enc == EncGB18030 {
				in = gbk(t, text)
			}
			for _, chunk := range []int{0, 4093 + pad} {
				out, tx, err := readText(in, chunk)
				if err != nil || tx.Encoding() != c.enc || out != text {
					t.Errorf("%s, pad %d, reads of %d: %s %v, %d characters", c.enc, pad, chunk, tx.Encoding(), err, strings.Count(out, "化"))
				}
			}
		}
	}
	// UTF-8 decided by the window, then GBK bytes: refused, not misread.
	mixed := "a," + strings.Repeat("化", DetectWindow/3+10) + "\n" + gbk(t, "火龙镇\n")
	if _, _, err := readText(mixed, 0); !isEncodingErr(err) {
		t.Errorf("UTF-8 then GBK: %v, want invalid_encoding", err)
	}
	// One byte at a time from the source (iotest.OneByteReader): the same text.
	tx = NewText(iotest.OneByteReader(strings.NewReader("a,b\n" + gbk(t, row))))
	if b, err := io.ReadAll(tx); err != nil || string(b) != "a,b\n"+row {
		t.Errorf("one byte a read: %q %v", b, err)
	}
}

// errOnce fails one read, then ends.
type errOnce struct{ err error }

func (e *errOnce) Read([]byte) (int, error) {
	err := e.err
	if err == nil {
		return 0, io.EOF
	}
	e.err = nil
	return 0, err
}

// TestTextStickyError: an error of the source (here the size limit's) stops the text for good,
// and Err says it; a clean end is no error.
func TestTextStickyError(t *testing.T) {
	boom := errors.New("boom")
	tx := NewText(io.MultiReader(strings.NewReader("a,b\n"), iotest.ErrReader(boom)))
	if _, err := io.ReadAll(tx); !errors.Is(err, boom) || !errors.Is(tx.Err(), boom) {
		t.Fatalf("read: %v, Err %v", err, tx.Err())
	}
	if n, err := tx.Read(make([]byte, 8)); n != 0 || !errors.Is(err, boom) {
		t.Errorf("read after the error: %d %v", n, err)
	}
	// The error comes while the detection window is read (a Peek), once (a reader that then
	// says EOF): it is not lost.
	for _, head := range []string{"a,化\n", gbk(t, "a,化\n")} {
		tx = NewText(io.MultiReader(strings.NewReader(head), &errOnce{err: boom}))
		if _, err := io.ReadAll(tx); !errors.Is(err, boom) {
			t.Errorf("error inside the window after %q: %v", head, err)
		}
	}
	tx = NewText(strings.NewReader(" \n\t"))
	if _, err := io.ReadAll(tx); err != nil || tx.Err() != nil || !tx.Blank() {
		t.Errorf("blank file: %v %v blank=%v", err, tx.Err(), tx.Blank())
	}
}
