// Command thumbnail is the Go side of the thumbnail benchmark
// (deploy/bench/thumbnail/run.sh), run as a separate process per image so
// that it is timed the way vipsthumbnail is:
//
//	thumbnail gen SRC.jpg OUT.jpg   make the 5472x3648 (20 MP) test JPEG from a photo
//	thumbnail make IN.jpg OUTDIR    write IN's list and detail thumbnails to OUTDIR
//	thumbnail worker IN.jpg K       time Make on IN K times in one process, after
//	                                one warm-up, as a running worker does; print
//	                                the median in microseconds
//	thumbnail batch IN.jpg...       the fair run (issue 15): Make on every file in
//	                                one process, streamed from disk, after a warm-up
//	                                on the first; print the CPU time (user + system,
//	                                all threads) and the wall time per image, in µs
//	thumbnail gen SRC OUT SEED      as gen, with another grain (distinct files)
//	thumbnail decode IN.jpg...      the floor: only the 1/4-scale libjpeg-turbo decode
//	                                Make starts with, CPU and wall µs per image
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"syscall"
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
		return gen(args[1], args[2], 1)
	case len(args) == 4 && args[0] == "gen":
		seed, err := strconv.ParseUint(args[3], 10, 32)
		if err != nil {
			return fmt.Errorf("bad seed %q", args[3])
		}
		return gen(args[1], args[2], uint32(seed))
	case len(args) >= 2 && args[0] == "batch":
		return batch(args[1:])
	case len(args) >= 2 && args[0] == "decode":
		return decodeOnly(args[1:])
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
func gen(src, out string, seed uint32) error {
	img, err := imaging.Open(src)
	if err != nil {
		return err
	}
	big := imaging.Fill(img, 5472, 3648, imaging.Center, imaging.Linear)
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

// cpuTime is the process's user + system CPU time so far, all threads.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// batch makes both thumbnails and the pHash of every file in one process, as a worker does
// over a survey, streaming each from disk; the first file is done once more first as a
// warm-up that is not counted. It prints CPU and wall microseconds per image.
func batch(files []string) error {
	th, err := imagery.NewThumbnailer(imagery.DefaultThumbConfig())
	if err != nil {
		return err
	}
	one := func(path string) error {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = th.Make(context.Background(), f, 1)
		return err
	}
	if err := one(files[0]); err != nil {
		return err
	}
	if prof := os.Getenv("THUMBNAIL_CPUPROFILE"); prof != "" {
		pf, err := os.Create(prof)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	cpu0, wall0 := cpuTime(), time.Now()
	for _, path := range files {
		if err := one(path); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	n := int64(len(files))
	fmt.Println((cpuTime()-cpu0).Microseconds()/n, time.Since(wall0).Microseconds()/n)
	return nil
}

// decodeOnly decodes every file at the scale Make decodes a 20 MP frame at (1/4, for the
// 1280 px size) and nothing else: the part of the work no resampler or encoder can save.
func decodeOnly(files []string) error {
	one := func(path string) error {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = jpeg.DecodeIntoRGBA(f, &jpeg.DecoderOptions{ScaleTarget: image.Rect(0, 0, 1280, 853)})
		return err
	}
	if err := one(files[0]); err != nil {
		return err
	}
	cpu0, wall0 := cpuTime(), time.Now()
	for _, path := range files {
		if err := one(path); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	n := int64(len(files))
	fmt.Println((cpuTime()-cpu0).Microseconds()/n, time.Since(wall0).Microseconds()/n)
	return nil
}
