// Command thumbnail is the Go side of the thumbnail benchmark
// (deploy/bench/thumbnail/run.sh), run as a separate process per image so
// that it is timed the way vipsthumbnail is:
//
//	thumbnail gen SRC.jpg OUT.jpg   make the 5472x3648 (20 MP) test JPEG from a photo
//	thumbnail make IN.jpg OUTDIR    write IN's list and detail thumbnails to OUTDIR
//	thumbnail worker IN.jpg K       time Make on IN K times in one process, after
//	                                one warm-up, as a running worker does; print
//	                                the median in microseconds
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/disintegration/imaging"
	"github.com/pixiv/go-libjpeg/jpeg"

	"github.com/sieve-city/sieve/imagery"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "thumbnail:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	switch {
	case len(args) == 3 && args[0] == "gen":
		return gen(args[1], args[2])
	case len(args) == 3 && args[0] == "make":
		return makeThumbs(args[1], args[2])
	case len(args) == 3 && args[0] == "worker":
		k, err := strconv.Atoi(args[2])
		if err != nil || k < 1 {
			return fmt.Errorf("bad count %q", args[2])
		}
		return worker(args[1], k)
	}
	return errors.New("usage: thumbnail gen SRC OUT | thumbnail make IN OUTDIR | thumbnail worker IN K")
}

// gen upscales a photo to 5472x3648 (a DJI FC6310 frame) and adds grain so
// that it compresses like a real 20 MP frame, then writes it at quality 92.
// It matches make20MPJPEG in imagery/thumb_bench_test.go.
func gen(src, out string) error {
	img, err := imaging.Open(src)
	if err != nil {
		return err
	}
	big := imaging.Fill(img, 5472, 3648, imaging.Center, imaging.Linear)
	seed := uint32(1)
	for i := 0; i < len(big.Pix); i += 4 {
		seed = seed*1664525 + 1013904223
		n := int(seed>>27) - 16
		for c := range 3 {
			big.Pix[i+c] = uint8(min(255, max(0, int(big.Pix[i+c])+n)))
		}
	}
	var buf bytes.Buffer
	// The pixels are opaque, so the NRGBA bytes are also RGBA, the layout
	// go-libjpeg encodes from.
	rgba := &image.RGBA{Pix: big.Pix, Stride: big.Stride, Rect: big.Rect}
	if err := jpeg.Encode(&buf, rgba, &jpeg.EncoderOptions{Quality: 92}); err != nil {
		return err
	}
	return os.WriteFile(out, buf.Bytes(), 0o644)
}

// makeThumbs is what the worker does for one image: read the metadata,
// make both thumbnails with the orientation applied, write them.
func makeThumbs(in, outDir string) error {
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	md, err := imagery.ReadMetadata(f, st.Size())
	if err != nil {
		return err
	}
	th, err := imagery.NewThumbnailer(imagery.DefaultThumbConfig())
	if err != nil {
		return err
	}
	if _, err := f.Seek(0, 0); err != nil {
		return err
	}
	out, err := th.Make(context.Background(), f, md.Orientation)
	if err != nil {
		return err
	}
	for name, t := range out.Sizes {
		if err := os.WriteFile(filepath.Join(outDir, name+".jpg"), t.JPEG, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// worker times Thumbnailer.Make (both sizes and the pHash) on the bytes of
// in, K times after one warm-up, and prints the median in microseconds.
func worker(in string, k int) error {
	data, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	th, err := imagery.NewThumbnailer(imagery.DefaultThumbConfig())
	if err != nil {
		return err
	}
	times := make([]time.Duration, 0, k)
	for i := range k + 1 {
		start := time.Now()
		if _, err := th.Make(context.Background(), bytes.NewReader(data), 1); err != nil {
			return err
		}
		if i > 0 {
			times = append(times, time.Since(start))
		}
	}
	slices.Sort(times)
	fmt.Println(times[len(times)/2].Microseconds())
	return nil
}
