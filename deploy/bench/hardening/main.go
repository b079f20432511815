// Command hardening checks that memory stays bounded by design in a real `sieve serve` process
// (issue 16): a zip bomb of a 200 MB .shp posted to POST /api/v1/regions/import while four
// 120 MP 16-bit RGBA PNGs (under the pixel limit; 1.5 GB each to decode and flatten whole) are
// posted to POST /api/v1/media, all at once, with the image jobs running in the same process
// (SIEVE_WORKER_INPROCESS=true). It prints the answers and the server's peak resident memory
// (VmHWM in /proc/PID/status) next to its resident memory at rest; the target is < 512 MB.
//
// It makes its own database (from sieve_template) and buckets on the stack that
// deploy/local/stack.sh env describes, and removes them at the end. Run it with
// deploy/bench/hardening/run.sh.
package main

import (
	"archive/zip"
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"hash/crc32"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sieve-city/sieve/deploy/bench/benchstack"
)

var (
	sieveBin  = flag.String("sieve", "bin/sieve", "the sieve binary")
	pngs      = flag.Int("pngs", 4, "16-bit PNGs posted at once")
	side      = flag.Int("side", 10950, "side of each PNG, pixels (10,950² is just under 120 MP)")
	shpMB     = flag.Int("shp-mb", 200, "expanded size of the zip bomb's .shp, MB")
	timeLimit = flag.Duration("timeout", 6*time.Minute, "stop everything after this long")
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run() error {
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *timeLimit)
	defer cancel()
	st, err := benchstack.New(ctx, *sieveBin)
	if err != nil {
		return err
	}
	defer st.Remove()
	fmt.Printf("command: ./deploy/bench/hardening/run.sh %s\n\n", strings.Join(os.Args[3:], " "))

	bomb, err := zipBomb(*shpMB << 20)
	if err != nil {
		return err
	}
	var images [][]byte
	base, err := png16(*side, *side)
	if err != nil {
		return err
	}
	for i := 0; i < *pngs; i++ {
		images = append(images, withText(base, fmt.Sprint("bench image ", i))) // distinct SHA-256s
	}
	fmt.Printf("zip bomb: %.2f MB zip, %d MB .shp; PNGs: %d × %.2f MB, %d×%d 16-bit RGBA (%.0f MB each decoded)\n",
		float64(len(bomb))/(1<<20), *shpMB, *pngs, float64(len(base))/(1<<20), *side, *side,
		float64(*side)*float64(*side)*8/(1<<20))

	srv, err := st.Serve(ctx, "true")
	if err != nil {
		return err
	}
	defer srv.Stop()
	tok, err := srv.Login(ctx)
	if err != nil {
		return err
	}
	time.Sleep(2 * time.Second)
	rest := srv.Status("VmRSS")

	var wg sync.WaitGroup
	answers := make([]string, 1+len(images))
	wg.Add(1)
	go func() {
		defer wg.Done()
		answers[0] = "regions/import (zip bomb): " + post(ctx, srv.URL+"/api/v1/regions/import", tok, "application/zip", bomb)
	}()
	for i, img := range images {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var body bytes.Buffer
			mw := multipart.NewWriter(&body)
			_ = mw.WriteField("size", strconv.Itoa(len(img)))
			fw, _ := mw.CreateFormFile("file", fmt.Sprintf("big-%d.png", i))
			fw.Write(img)
			mw.Close()
			answers[1+i] = fmt.Sprintf("media (PNG %d):              ", i) + post(ctx, srv.URL+"/api/v1/media", tok, mw.FormDataContentType(), body.Bytes())
		}()
	}
	wg.Wait()
	for _, a := range answers {
		fmt.Println("  ", a)
	}
	drained := st.WaitProcessed(ctx, len(images), 3*time.Minute)
	peak := srv.Status("VmHWM")
	fmt.Printf("\n== server memory\n")
	fmt.Printf("   resident at rest before the run              %6.0f MB\n", rest)
	fmt.Printf("   peak (VmHWM) once the jobs had run (%s)  %6.0f MB   (target < 512 MB)\n", drained, peak)
	if peak >= 512 {
		return fmt.Errorf("peak %.0f MB is over 512 MB", peak)
	}
	return nil
}

// post sends body and returns the status and the error code of the answer.
func post(ctx context.Context, u, tok, ctype string, body []byte) string {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", ctype)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "error " + err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	s := string(b)
	if i := strings.Index(s, `"code":"`); i >= 0 {
		s = s[i+8:]
		s = s[:strings.IndexByte(s, '"')]
	} else {
		s = "stored"
	}
	return fmt.Sprintf("%d %s", resp.StatusCode, s)
}

// zipBomb is a zipped shapefile whose .shp expands to shpBytes of zeros.
func zipBomb(shpBytes int) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	zeros := make([]byte, 1<<20)
	for _, f := range []struct {
		name string
		n    int
	}{{"bomb.shp", shpBytes}, {"bomb.shx", 100}, {"bomb.dbf", 100}} {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: f.name, Method: zip.Deflate})
		if err != nil {
			return nil, err
		}
		for left := f.n; left > 0; left -= len(zeros) {
			if _, err := w.Write(zeros[:min(left, len(zeros))]); err != nil {
				return nil, err
			}
		}
	}
	err := zw.Close()
	return buf.Bytes(), err
}

// png16 is a side×side 16-bit RGBA PNG of one grey, written row by row (never in memory whole).
func png16(w, h int) ([]byte, error) {
	var b bytes.Buffer
	b.Write([]byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'})
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9] = 16, 6
	chunk(&b, "IHDR", ihdr)
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	row := make([]byte, 1+w*8)
	for i := 1; i < len(row); i++ {
		row[i] = 0x80
	}
	for y := 0; y < h; y++ {
		if _, err := zw.Write(row); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	chunk(&b, "IDAT", z.Bytes())
	chunk(&b, "IEND", nil)
	return b.Bytes(), nil
}

// withText inserts a tEXt chunk after the IHDR of a PNG.
func withText(p []byte, text string) []byte {
	var b bytes.Buffer
	b.Write(p[:33]) // signature + IHDR
	chunk(&b, "tEXt", append([]byte("Comment\x00"), text...))
	b.Write(p[33:])
	return b.Bytes()
}

func chunk(b *bytes.Buffer, typ string, data []byte) {
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
