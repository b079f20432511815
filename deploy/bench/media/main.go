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
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
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

type stack struct {
	dbURL, endpoint, access, secret string
	name                            string // database and bucket prefix
	env                             []string
	mc                              *minio.Client
	media, derived                  string
}

func run() error {
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *timeLimit)
	defer cancel()
	st, err := newStack(ctx)
	if err != nil {
		return err
	}
	defer st.remove()

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
func memoryRun(ctx context.Context, st *stack, drone []byte) error {
	srv, err := st.serve(ctx, "true")
	if err != nil {
		return err
	}
	tok, err := srv.login(ctx)
	if err != nil {
		srv.stop()
		return err
	}
	time.Sleep(2 * time.Second) // let start-up settle
	rest := srv.status("VmRSS")
	start := time.Now()
	n, err := uploadMany(ctx, srv.url, tok, drone, *memClients, *memUploads)
	el := time.Since(start)
	peakUpload := srv.status("VmHWM")
	if err != nil {
		srv.stop()
		return fmt.Errorf("memory run: %w", err)
	}
	// And while the jobs make thumbnails of what arrived (bounded wait).
	drained := st.waitProcessed(ctx, n, 3*time.Minute)
	peakAll := srv.status("VmHWM")
	srv.stop()
	fmt.Printf("== server memory, %d clients uploading %d MB images (%d uploads, %.1f MB/s)\n", *memClients, *imageBytes, n,
		float64(n)*float64(len(drone))/(1<<20)/el.Seconds())
	fmt.Printf("   baseline: resident at rest before the run   %6.0f MB\n", rest)
	fmt.Printf("   peak (VmHWM) by the end of the uploads      %6.0f MB   (target < 512 MB)\n", peakUpload)
	fmt.Printf("   peak (VmHWM) once the jobs had run (%s)  %6.0f MB\n\n", drained, peakAll)
	return nil
}

// throughputRun compares uploads through the API with direct PUTs, on a server that only takes
// uploads (its jobs run elsewhere).
func throughputRun(ctx context.Context, st *stack, photo []byte) error {
	srv, err := st.serve(ctx, "false")
	if err != nil {
		return err
	}
	defer srv.stop()
	tok, err := srv.login(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("== phone uploads, %d clients, %.1f MB photos, %d rounds of %d each way\n", *clients,
		float64(len(photo))/(1<<20), *rounds, *photos)
	// Warm up both paths (connections, buffers, caches) without measuring.
	if _, err := putMany(ctx, st, photo, *clients, 2**clients); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	if _, err := uploadMany(ctx, srv.url, tok, photo, *clients, 2**clients); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	var direct, api time.Duration
	var directN, apiN int
	minio := minioPID()
	var cpuDirect, cpuAPI [3]float64 // seconds of CPU: this program, sieve serve, MinIO
	pids := []int{os.Getpid(), srv.cmd.Process.Pid, minio}
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
			k, err := uploadMany(ctx, srv.url, tok, photo, *clients, *photos)
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

func newStack(ctx context.Context) (*stack, error) {
	st := &stack{dbURL: os.Getenv("SIEVE_DB_URL"), endpoint: os.Getenv("SIEVE_S3_ENDPOINT"),
		access: os.Getenv("SIEVE_S3_ACCESS_KEY"), secret: os.Getenv("SIEVE_S3_SECRET_KEY")}
	if st.dbURL == "" || st.endpoint == "" {
		return nil, errors.New("SIEVE_DB_URL and SIEVE_S3_* must be set (eval \"$(./deploy/local/stack.sh env)\")")
	}
	b := make([]byte, 4)
	rand.Read(b)
	st.name = "bench" + hex.EncodeToString(b)
	conn, err := pgx.Connect(ctx, st.dbURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{"sieve_" + st.name}.Sanitize()+" TEMPLATE sieve_template"); err != nil {
		return nil, err
	}
	u, _ := url.Parse(st.dbURL)
	u.Path = "/sieve_" + st.name
	st.media, st.derived = st.name+"-media", st.name+"-derived"
	st.mc, err = minio.New(st.endpoint, &minio.Options{Creds: credentials.NewStaticV4(st.access, st.secret, ""), Region: "us-east-1"})
	if err != nil {
		return nil, err
	}
	st.env = append(os.Environ(), "SIEVE_DB_URL="+u.String(), "SIEVE_S3_BUCKET_MEDIA="+st.media,
		"SIEVE_S3_BUCKET_DERIVED="+st.derived, "SIEVE_LOG_LEVEL=warn", "SIEVE_HTTP_UPLOAD_LIMIT=64MB", "SIEVE_DB_MAX_CONNS=40")
	cmd := exec.CommandContext(ctx, *sieveBin, "migrate")
	cmd.Env, cmd.Stderr = st.env, os.Stderr
	if err := cmd.Run(); err != nil {
		return st, fmt.Errorf("sieve migrate: %w", err)
	}
	cmd = exec.CommandContext(ctx, *sieveBin, "user", "add", "--username", "bench", "--role", "city_admin", "--password-stdin")
	cmd.Env, cmd.Stdin = st.env, strings.NewReader("bench-password-1234\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return st, fmt.Errorf("sieve user add: %w: %s", err, out)
	}
	return st, nil
}

// remove drops the database and the buckets.
func (st *stack) remove() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, b := range []string{st.media, st.derived} {
		objs := st.mc.ListObjects(ctx, b, minio.ListObjectsOptions{Recursive: true})
		for range st.mc.RemoveObjects(ctx, b, objs, minio.RemoveObjectsOptions{}) {
		}
		_ = st.mc.RemoveBucket(ctx, b)
	}
	if conn, err := pgx.Connect(ctx, st.dbURL); err == nil {
		_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{"sieve_" + st.name}.Sanitize()+" WITH (FORCE)")
		conn.Close(ctx)
	}
}

// waitProcessed waits until n media are processed (or failed), at most max; it says how long.
func (st *stack) waitProcessed(ctx context.Context, n int, max time.Duration) string {
	u, _ := url.Parse(st.dbURL)
	u.Path = "/sieve_" + st.name
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		return "unknown"
	}
	defer conn.Close(ctx)
	start := time.Now()
	for time.Since(start) < max {
		var done int
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SELECT set_config('sieve.system', 'on', true)"); err != nil {
				return err
			}
			return tx.QueryRow(ctx, "SELECT count(*) FROM media WHERE status <> 'received'").Scan(&done)
		})
		if err == nil && done >= n {
			return fmt.Sprintf("%d in %s", done, time.Since(start).Round(time.Second))
		}
		time.Sleep(time.Second)
	}
	return "not all in " + max.String()
}

type server struct {
	cmd *exec.Cmd
	url string
}

// serve starts `sieve serve` on a free loopback port and waits until it is ready.
func (st *stack) serve(ctx context.Context, inProcess string) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(*sieveBin, "serve")
	cmd.Env = append(st.env, "SIEVE_HTTP_ADDR="+addr, "SIEVE_WORKER_INPROCESS="+inProcess)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, url: "http://" + addr}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Get(s.url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s, nil
			}
		}
	}
	s.stop()
	return nil, errors.New("sieve serve did not become ready")
}

func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
	}
}

// status reads a memory figure (kB) of the server from /proc/PID/status, in MB.
func (s *server) status(field string) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024
		}
	}
	return -1
}

func (s *server) login(ctx context.Context) (string, error) {
	resp, err := http.Post(s.url+"/api/v1/auth/login", "application/json",
		strings.NewReader(`{"username":"bench","password":"bench-password-1234"}`))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Token == "" {
		return "", fmt.Errorf("login: %d %v", resp.StatusCode, err)
	}
	return out.Token, nil
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
func putMany(ctx context.Context, st *stack, data []byte, k, n int) (int, error) {
	var key atomic.Int64
	return parallel(ctx, k, n, func() error {
		b := unique(data)
		_, err := st.mc.PutObject(ctx, st.media, fmt.Sprintf("direct/%d", key.Add(1)), bytes.NewReader(b), int64(len(b)),
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
