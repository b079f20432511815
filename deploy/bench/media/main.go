// Command media benchmarks photo uploads through a real `sieve serve` process on the loopback:
//
//  1. throughput: 4 MB photos POSTed to /api/v1/media by 8 concurrent clients, next to direct
//     minio-go PUTs of the same bytes to the same MinIO by 8 goroutines (the baseline);
//  2. memory: the server's peak resident memory (VmHWM in /proc/PID/status) while 32 clients
//     upload 20 MB images, next to its resident memory at rest before the run (the baseline),
//     with the image jobs running in the same process (SIEVE_WORKER_INPROCESS=true).
//
// It makes its own database (from sieve_template) and buckets on the stack that
// deploy/local/stack.sh env describes, and removes them at the end. Run it with
// deploy/bench/media/run.sh.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/sieve-city/sieve/deploy/bench/benchstack"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

var (
	sieveBin   = flag.String("sieve", "bin/sieve", "the sieve binary")
	clients    = flag.Int("clients", 8, "concurrent clients of the throughput run")
	photos     = flag.Int("photos", 96, "4 MB photos per round of the throughput run (each way)")
	rounds     = flag.Int("rounds", 4, "rounds of the throughput run (direct and API alternate)")
	memClients = flag.Int("mem-clients", 32, "concurrent clients of the memory run")
	memUploads = flag.Int("mem-uploads", 64, "20 MB images uploaded in the memory run")
	timeLimit  = flag.Duration("timeout", 8*time.Minute, "stop everything after this long")
	photoBytes = flag.Int("photo-mb", 4, "size of a phone photo, MB")
	skipMemory = flag.Bool("skip-memory", false, "run only the throughput benchmark")
	imageBytes = flag.Int("image-mb", 20, "size of a drone image, MB")
)

func run() error {
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *timeLimit)
	defer cancel()
	st, err := benchstack.New(ctx, *sieveBin)
	if err != nil {
		return err
	}
	defer st.Remove()

	fmt.Printf("command: ./deploy/bench/media/run.sh %s\n", strings.Join(os.Args[3:], " "))
	fmt.Printf("machine: %d CPUs; loopback; MinIO and PostgreSQL of the test stack\n\n", numCPU())

	photo := noiseJPEG(*photoBytes << 20)
	drone := noiseJPEG(*imageBytes << 20)

	if !*skipMemory {
		if err := memoryRun(ctx, st, drone); err != nil {
			return err
		}
	}
	return throughputRun(ctx, st, photo)
}

// memoryRun measures the server's memory while many clients upload large images, on a fresh
// server with the image jobs in process.
func memoryRun(ctx context.Context, st *benchstack.Stack, drone []byte) error {
	srv, err := st.Serve(ctx, "true")
	if err != nil {
		return err
	}
	tok, err := srv.Login(ctx)
	if err != nil {
		srv.Stop()
		return err
	}
	time.Sleep(2 * time.Second) // let start-up settle
	rest := srv.Status("VmRSS")
	start := time.Now()
	n, err := uploadMany(ctx, srv.URL, tok, drone, *memClients, *memUploads)
	el := time.Since(start)
	peakUpload := srv.Status("VmHWM")
	if err != nil {
		srv.Stop()
		return fmt.Errorf("memory run: %w", err)
	}
	// And while the jobs make thumbnails of what arrived (bounded wait).
	drained := st.WaitProcessed(ctx, n, 3*time.Minute)
	peakAll := srv.Status("VmHWM")
	srv.Stop()
	fmt.Printf("== server memory, %d clients uploading %d MB images (%d uploads, %.1f MB/s)\n", *memClients, *imageBytes, n,
		float64(n)*float64(len(drone))/(1<<20)/el.Seconds())
	fmt.Printf("   baseline: resident at rest before the run   %6.0f MB\n", rest)
	fmt.Printf("   peak (VmHWM) by the end of the uploads      %6.0f MB   (target < 512 MB)\n", peakUpload)
	fmt.Printf("   peak (VmHWM) once the jobs had run (%s)  %6.0f MB\n\n", drained, peakAll)
	return nil
}

// throughputRun compares uploads through the API with direct PUTs, on a server that only takes
// uploads (its jobs run elsewhere).
func throughputRun(ctx context.Context, st *benchstack.Stack, photo []byte) error {
	srv, err := st.Serve(ctx, "false")
	if err != nil {
		return err
	}
	defer srv.Stop()
	tok, err := srv.Login(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("== phone uploads, %d clients, %.1f MB photos, %d rounds of %d each way\n", *clients,
		float64(len(photo))/(1<<20), *rounds, *photos)
	// Warm up both paths (connections, buffers, caches) without measuring.
	if _, err := putMany(ctx, st, photo, *clients, 2**clients); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	if _, err := uploadMany(ctx, srv.URL, tok, photo, *clients, 2**clients); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	var direct, api time.Duration
	var directN, apiN int
	minio := minioPID()
	var cpuDirect, cpuAPI [3]float64 // seconds of CPU: this program, sieve serve, MinIO
	pids := []int{os.Getpid(), srv.Cmd.Process.Pid, minio}
	// Each round runs both ways; the order alternates, so that neither always goes first.
	for r := 0; r < *rounds; r++ {
		var dr, ar time.Duration
		runDirect := func() error {
			c0, t0 := cpuOf(pids), time.Now()
			k, err := putMany(ctx, st, photo, *clients, *photos)
			if err != nil {
				return fmt.Errorf("direct PUTs: %w", err)
			}
			dr = time.Since(t0)
			direct += dr
			directN += k
			c1 := cpuOf(pids)
			for i := range pids {
				cpuDirect[i] += c1[i] - c0[i]
			}
			return nil
		}
		runAPI := func() error {
			c0, t0 := cpuOf(pids), time.Now()
			k, err := uploadMany(ctx, srv.URL, tok, photo, *clients, *photos)
			if err != nil {
				return fmt.Errorf("API uploads: %w", err)
			}
			ar = time.Since(t0)
			api += ar
			apiN += k
			c1 := cpuOf(pids)
			for i := range pids {
				cpuAPI[i] += c1[i] - c0[i]
			}
			return nil
		}
		first, second := runDirect, runAPI
		if r%2 == 1 {
			first, second = runAPI, runDirect
		}
		if err := first(); err != nil {
			return err
		}
		if err := second(); err != nil {
			return err
		}
		mbr := float64(len(photo)) / (1 << 20)
		fmt.Printf("   round %d: direct %6.1f MB/s, API %6.1f MB/s (%3.0f %%)\n", r+1,
			float64(*photos)*mbr/dr.Seconds(), float64(*photos)*mbr/ar.Seconds(), 100*dr.Seconds()/ar.Seconds())
	}
	mb := float64(len(photo)) / (1 << 20)
	d := float64(directN) * mb / direct.Seconds()
	a := float64(apiN) * mb / api.Seconds()
	fmt.Printf("   all rounds:\n")
	fmt.Printf("   baseline: direct minio-go PUTs   %7.1f MB/s  %6.1f photos/s\n", d, float64(directN)/direct.Seconds())
	fmt.Printf("   POST /api/v1/media               %7.1f MB/s  %6.1f photos/s\n", a, float64(apiN)/api.Seconds())
	fmt.Printf("   API / direct                     %7.0f %%     (target >= 80 %%)\n", 100*a/d)
	fmt.Printf("   CPU seconds per GB (clients, sieve, MinIO): direct %.1f / %.1f / %.1f, API %.1f / %.1f / %.1f\n",
		cpuDirect[0]/(float64(directN)*mb/1024), cpuDirect[1]/(float64(directN)*mb/1024), cpuDirect[2]/(float64(directN)*mb/1024),
		cpuAPI[0]/(float64(apiN)*mb/1024), cpuAPI[1]/(float64(apiN)*mb/1024), cpuAPI[2]/(float64(apiN)*mb/1024))
	return nil
}

// minioPID is the test stack's MinIO server process (0 if unknown).
func minioPID() int {
	b, _ := os.ReadFile(".data/test/minio.pid")
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

// cpuOf returns the CPU seconds (user + system) each process has used so far.
func cpuOf(pids []int) []float64 {
	out := make([]float64, len(pids))
	for i, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
		if len(f) > 12 {
			u, _ := strconv.ParseFloat(f[11], 64)
			s, _ := strconv.ParseFloat(f[12], 64)
			out[i] = (u + s) / 100
		}
	}
	return out
}

func numCPU() int {
	b, _ := os.ReadFile("/proc/cpuinfo")
	return strings.Count(string(b), "processor\t:")
}

// noiseJPEG makes a JPEG of random pixels of about size bytes (noise compresses badly, so the
// bytes are those of a real photo of that size).
func noiseJPEG(size int) []byte {
	px := size / 2 // about 2 bytes per pixel at quality 100
	w := int(float64(px) / 0.75)
	w = int(sqrt(float64(w)))
	h := px / w
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	rand.Read(img.Pix)
	var buf bytes.Buffer
	_ = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 100})
	return buf.Bytes()
}

func sqrt(x float64) float64 {
	z := x / 2
	for i := 0; i < 50; i++ {
		z -= (z*z - x) / (2 * z)
	}
	return z
}

var counter atomic.Int64

// unique appends 16 distinct bytes after the image's end marker, so that no two uploads have
// the same SHA-256 (the server would keep only one).
func unique(data []byte) []byte {
	out := make([]byte, len(data), len(data)+16)
	copy(out, data)
	return append(out, []byte(fmt.Sprintf("%016d", counter.Add(1)))...)
}

// parallel runs fn n times on k goroutines and returns how many succeeded.
func parallel(ctx context.Context, k, n int, fn func() error) (int, error) {
	var next, ok atomic.Int64
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for i := 0; i < k; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) && ctx.Err() == nil {
				if err := fn(); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	return int(ok.Load()), first
}

// putMany PUTs n copies of data (each unique) straight to MinIO with k goroutines.
func putMany(ctx context.Context, st *benchstack.Stack, data []byte, k, n int) (int, error) {
	var key atomic.Int64
	return parallel(ctx, k, n, func() error {
		b := unique(data)
		_, err := st.MC.PutObject(ctx, st.Media, fmt.Sprintf("direct/%d", key.Add(1)), bytes.NewReader(b), int64(len(b)),
			minio.PutObjectOptions{ContentType: "image/jpeg"})
		return err
	})
}

// uploadMany POSTs n copies of data (each unique) to /api/v1/media with k clients, as the phone
// app does: a multipart body of known length (the size field, then the file), streamed.
func uploadMany(ctx context.Context, base, tok string, data []byte, k, n int) (int, error) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: k}}
	return parallel(ctx, k, n, func() error {
		b := unique(data)
		var head, tail bytes.Buffer
		mw := multipart.NewWriter(&head)
		_ = mw.WriteField("size", strconv.Itoa(len(b)))
		if _, err := mw.CreateFormFile("file", "IMG.JPG"); err != nil {
			return err
		}
		ct := mw.FormDataContentType()
		fmt.Fprintf(&tail, "\r\n--%s--\r\n", mw.Boundary())
		body := io.MultiReader(bytes.NewReader(head.Bytes()), bytes.NewReader(b), bytes.NewReader(tail.Bytes()))
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v1/media", body)
		if err != nil {
			return err
		}
		req.ContentLength = int64(head.Len() + len(b) + tail.Len())
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", ct)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		msg, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusCreated {
			return fmt.Errorf("POST /media: %d %s", resp.StatusCode, msg)
		}
		return nil
	})
}
