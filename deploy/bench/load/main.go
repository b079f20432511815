// Command load is the load benchmark of issue 16, against a real `sieve serve` on the loopback
// with the demo city loaded (sieve demo) in a database of its own:
//
//  1. lists: C grid-worker clients (default 200, tokens issued beforehand) each loop
//     GET /api/v1/premises?limit=50 with no filter for a while, then the same clients with
//     ?region=<their village> (the baseline, same run); then GET /regions?limit=50 and GET /me.
//     The target: the unfiltered list reaches at least 50 % of the baseline's throughput.
//  2. login: C clients log in at once (argon2id at the production cost) and list their
//     premises; prints the share answered and the share logged in, the login p50/p99.
//  3. burst: the grid workers' end of day: W workers (default 2,000, C at a time), tokens
//     issued beforehand, each syncing, reading /me, its regions and its premises (up to 3 pages) and
//     posting P photos (default 2); the target is zero errors, with p50/p95/p99 by request.
//     Each first syncs its phone (GET /api/v1/sync: the snapshot of its cells, then a delta).
//
// Bounded: every phase has a duration or a count, the whole run a time limit (-timeout), and
// it removes its database and buckets at the end. Run it with deploy/bench/load/run.sh.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/sieve-city/sieve/client"
	"github.com/sieve-city/sieve/internal/accounts"
	"github.com/sieve-city/sieve/internal/db"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "load bench:", err)
		os.Exit(1)
	}
}

var (
	sieveBin  = flag.String("sieve", "bin/sieve", "the sieve binary")
	only      = flag.String("only", "lists,login,burst", "phases to run, comma-separated")
	clients   = flag.Int("clients", 200, "concurrent clients")
	phase     = flag.Duration("phase", 15*time.Second, "duration of each list phase")
	workers   = flag.Int("workers", 2000, "grid workers in the end-of-day burst")
	photos    = flag.Int("photos", 2, "photos each worker posts in the burst")
	nPremises = flag.Int("premises", 60000, "premises of the demo city")
	timeLimit = flag.Duration("timeout", 15*time.Minute, "stop everything after this long")
	logLevel  = flag.String("log", "warn", "the server's log level (its log goes to stderr)")
	target    = flag.Float64("target", 0.5, "lists: unfiltered/region throughput to reach (0: report only)")
)

// password is every bench user's password (their hash is made once, at the production cost).
const password = "bench password 2026"

func run() error {
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *timeLimit)
	defer cancel()
	st, err := newStack(ctx)
	if err != nil {
		return err
	}
	defer st.remove()
	fmt.Printf("demo city: loading (%d premises)\n", *nPremises)
	cmd := exec.CommandContext(ctx, *sieveBin, "demo", "--premises", fmt.Sprint(*nPremises))
	cmd.Env = st.env
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("sieve demo: %w: %s", err, out)
	} else if i := bytes.Index(out, []byte("demo city")); i >= 0 {
		fmt.Print(string(out[i : bytes.IndexByte(out[i:], '\n')+i+1]))
	}
	pool, err := db.Open(ctx, st.appURL, 8)
	if err != nil {
		return err
	}
	defer pool.Close()
	ws, err := makeWorkers(ctx, pool, max(*workers, *clients))
	if err != nil {
		return err
	}
	srv, err := st.serve(ctx)
	if err != nil {
		return err
	}
	defer srv.stop()
	// Idle connections are dropped before the server's idle timeout (2 min) would close them
	// under a request (a POST on a connection the server is closing fails, as on any server).
	hc := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 2 * *clients,
		IdleConnTimeout: 30 * time.Second}}

	var failed []string
	for _, p := range strings.Split(*only, ",") {
		var err error
		switch strings.TrimSpace(p) {
		case "lists":
			err = listsPhase(ctx, hc, srv.url, ws[:*clients])
		case "login":
			err = loginPhase(ctx, hc, srv.url, ws[:*clients])
		case "burst":
			err = burstPhase(ctx, hc, srv.url, ws[:*workers])
		default:
			err = fmt.Errorf("unknown phase %q", p)
		}
		if err != nil {
			failed = append(failed, p+": "+err.Error())
		}
	}
	if len(failed) > 0 {
		return errors.New(strings.Join(failed, "; "))
	}
	return nil
}

// worker is a grid worker of the bench: one demo cell, its village, a token.
type worker struct {
	username string
	village  int64
	token    string
}

// makeWorkers adds n grid workers, each holding one cell of the demo city (cells taken in id
// order, so neighbours share villages), with the bench password, and issues each a token.
func makeWorkers(ctx context.Context, pool *pgxpool.Pool, n int) ([]worker, error) {
	hash, err := accounts.NewHasher(accounts.DefaultHashParams, 1).Hash(ctx, password)
	if err != nil {
		return nil, err
	}
	var ids []int64
	var out []worker
	err = db.AsSystem(ctx, pool, "bench", func(tx pgx.Tx) error {
		const users = `WITH c AS (SELECT id, parent_id, path, row_number() OVER (ORDER BY id) AS i FROM regions WHERE level = 'cell'),
			w AS (SELECT g, c.id AS cell, c.parent_id AS village, c.path
				FROM generate_series(1, $1) g JOIN c ON c.i = 1 + (g - 1) % (SELECT count(*) FROM c)),
			u AS (INSERT INTO users (username, display_name, role, region_id, password_hash)
				SELECT 'bench-w' || lpad(g::text, 5, '0'), '基准网格员' || g, 'grid_worker', village, $2 FROM w
				RETURNING id, username, region_id),
			a AS (INSERT INTO cell_assignments (user_id, cell_id, cell_path)
				SELECT u.id, w.cell, w.path FROM u JOIN w ON u.username = 'bench-w' || lpad(w.g::text, 5, '0'))
			SELECT id, username, region_id FROM u ORDER BY username`
		rows, err := tx.Query(ctx, users, n, hash)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id int64
			var w worker
			if err := rows.Scan(&id, &w.username, &w.village); err != nil {
				return err
			}
			ids, out = append(ids, id), append(out, w)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("workers: %w", err)
	}
	if len(out) < n {
		return nil, fmt.Errorf("workers: %d made, %d wanted (no cells?)", len(out), n)
	}
	acc := accounts.NewStore(accounts.NewHasher(accounts.DefaultHashParams, 1), 24*time.Hour, 0, time.Now)
	for i, id := range ids {
		if out[i].token, err = acc.CreateSession(ctx, pool, id); err != nil {
			return nil, err
		}
	}
	fmt.Printf("grid workers: %d, one cell each, tokens issued\n", len(out))
	return out, nil
}

// stats collects latencies and outcomes of one kind of request.
type stats struct {
	mu   sync.Mutex
	lat  []time.Duration
	code map[int]int
	errs map[string]int
}

func newStats() *stats { return &stats{code: map[int]int{}, errs: map[string]int{}} }

func (s *stats) add(d time.Duration, status int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lat = append(s.lat, d)
	if err != nil {
		msg := err.Error()
		if len(msg) > 160 {
			msg = msg[:160]
		}
		s.errs[msg]++
		return
	}
	s.code[status]++
}

func (s *stats) errors() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for c, k := range s.code {
		if c >= 400 {
			n += k
		}
	}
	for _, k := range s.errs {
		n += k
	}
	return n
}

func (s *stats) pct(p float64) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.lat) == 0 {
		return 0
	}
	l := append([]time.Duration(nil), s.lat...)
	sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	return l[min(len(l)-1, int(p*float64(len(l))))]
}

func (s *stats) String() string {
	s.mu.Lock()
	n, codes, errs := len(s.lat), fmt.Sprint(s.code), fmt.Sprint(s.errs)
	s.mu.Unlock()
	out := fmt.Sprintf("n=%d p50=%s p95=%s p99=%s status=%s", n, ms(s.pct(.5)), ms(s.pct(.95)), ms(s.pct(.99)), codes)
	if errs != "map[]" {
		out += " errors=" + errs
	}
	return out
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0fms", float64(d.Microseconds())/1000) }

// get sends GET base+path with a token and reads the answer to the end.
func get(ctx context.Context, hc *http.Client, base, path, token string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}

// loop runs fn for every worker in parallel until d has passed, and returns requests/s.
func loop(ctx context.Context, ws []worker, d time.Duration, s *stats, fn func(ctx context.Context, w worker) (int, error)) float64 {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var n atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for _, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				t0 := time.Now()
				status, err := fn(ctx, w)
				if ctx.Err() != nil {
					return // cut off by the end of the phase: not counted
				}
				s.add(time.Since(t0), status, err)
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	return float64(n.Load()) / time.Since(start).Seconds()
}

func listsPhase(ctx context.Context, hc *http.Client, base string, ws []worker) error {
	fmt.Printf("== lists: %d grid-worker clients, %s per phase\n", len(ws), *phase)
	// A short warm-up: connections, plans, caches.
	loop(ctx, ws, 2*time.Second, newStats(), func(ctx context.Context, w worker) (int, error) {
		return get(ctx, hc, base, "/api/v1/premises?limit=50", w.token)
	})
	var rates []float64
	var errs int
	for _, c := range []struct {
		name string
		path func(w worker) string
	}{
		{"GET /premises?limit=50", func(worker) string { return "/api/v1/premises?limit=50" }},
		{"GET /premises?limit=50&region=<village>", func(w worker) string { return fmt.Sprintf("/api/v1/premises?limit=50&region=%d", w.village) }},
		{"GET /regions?limit=50", func(worker) string { return "/api/v1/regions?limit=50" }},
		{"GET /me", func(worker) string { return "/api/v1/me" }},
	} {
		s := newStats()
		rate := loop(ctx, ws, *phase, s, func(ctx context.Context, w worker) (int, error) {
			return get(ctx, hc, base, c.path(w), w.token)
		})
		rates = append(rates, rate)
		errs += s.errors()
		fmt.Printf("%-42s %7.1f req/s  %s\n", c.name, rate, s)
	}
	ratio := rates[0] / rates[1]
	fmt.Printf("unfiltered / region throughput: %.2f (target >= %.2f)\n", ratio, *target)
	if errs > 0 {
		return fmt.Errorf("%d failed requests", errs)
	}
	if *target > 0 && ratio < *target {
		return fmt.Errorf("unfiltered list at %.2f of the region list's throughput, target %.2f", ratio, *target)
	}
	return nil
}

func loginPhase(ctx context.Context, hc *http.Client, base string, ws []worker) error {
	fmt.Printf("== login: %d clients at once, each logging in (argon2id %d KiB, t=%d) and listing its premises;\n"+
		"   a client refused 503 login_busy tries again after Retry-After, as the app does, for up to 2 min\n",
		len(ws), accounts.DefaultHashParams.MemoryKiB, accounts.DefaultHashParams.Time)
	first, login, list := newStats(), newStats(), newStats()
	var wg sync.WaitGroup
	var ok, tries atomic.Int64
	var lastOK atomic.Int64
	start := make(chan struct{})
	t0 := time.Now()
	for _, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			c := client.New(base, client.WithHTTPClient(hc))
			began := time.Now()
			for attempt := 0; ; attempt++ {
				t := time.Now()
				_, err := c.Login(ctx, w.username, password)
				tries.Add(1)
				status := http.StatusOK
				var ae *client.Error
				if errors.As(err, &ae) {
					status, err = ae.Status, nil
				}
				login.add(time.Since(t), status, err)
				if attempt == 0 {
					first.add(time.Since(t), status, err)
				}
				if status == http.StatusServiceUnavailable && time.Since(began) < 2*time.Minute {
					time.Sleep(time.Second) // Retry-After: 1
					continue
				}
				if status != http.StatusOK || err != nil {
					return
				}
				break
			}
			ok.Add(1)
			lastOK.Store(int64(time.Since(t0)))
			t := time.Now()
			st, err := get(ctx, hc, base, "/api/v1/premises?limit=50", c.Token())
			list.add(time.Since(t), st, err)
		}()
	}
	close(start)
	wg.Wait()
	answered := len(ws)
	first.mu.Lock()
	for _, k := range first.errs {
		answered -= k
	}
	firstOK := first.code[http.StatusOK]
	first.mu.Unlock()
	fmt.Printf("first attempts  %s\n", first)
	fmt.Printf("all attempts    %s (%d attempts)\n", login, tries.Load())
	fmt.Printf("list            %s\n", list)
	fmt.Printf("answered %d/%d (%.0f %%) at the first attempt, %d logged in at once; all %d/%d logged in after %s\n",
		answered, len(ws), 100*float64(answered)/float64(len(ws)), firstOK, ok.Load(), len(ws),
		time.Duration(lastOK.Load()).Round(time.Millisecond))
	if answered < len(ws) || int(ok.Load()) < len(ws) {
		return fmt.Errorf("%d logins got no answer, %d did not log in", len(ws)-answered, len(ws)-int(ok.Load()))
	}
	return nil
}

// syncStep is a worker's phone sync at the end of the day (GET /api/v1/sync, issue 10's change
// feed): the snapshot of its cells, every page, as a phone that syncs from nothing (timed as one
// "sync", its items counted); the burst then asks for a delta from the cursor it got ("delta").
func syncStep(ctx context.Context, c *client.Client, items *atomic.Int64) (cursor string, status int, err error) {
	got, cursor, _, err := c.SyncAll(ctx, "")
	items.Add(int64(len(got)))
	return cursor, http.StatusOK, err
}

func burstPhase(ctx context.Context, hc *http.Client, base string, ws []worker) error {
	fmt.Printf("== end-of-day burst: %d grid workers, %d at a time, each sync (snapshot + delta) + /me + regions + premises (≤3 pages) + %d photos\n",
		len(ws), *clients, *photos)
	kinds := map[string]*stats{"sync": newStats(), "delta": newStats(), "me": newStats(), "regions": newStats(), "premises": newStats(), "photo": newStats()}
	timed := func(kind string, fn func() (int, error)) {
		t := time.Now()
		status, err := fn()
		var ae *client.Error
		if errors.As(err, &ae) {
			status, err = ae.Status, nil
		}
		kinds[kind].add(time.Since(t), status, err)
	}
	sem := make(chan struct{}, *clients)
	var wg sync.WaitGroup
	var resent, synced atomic.Int64
	t0 := time.Now()
	for i, w := range ws {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			c := client.New(base, client.WithToken(w.token), client.WithHTTPClient(hc))
			var cursor string
			timed("sync", func() (status int, err error) {
				cursor, status, err = syncStep(ctx, c, &synced)
				return status, err
			})
			if cursor != "" {
				timed("delta", func() (int, error) {
					_, err := c.Sync(ctx, cursor)
					return http.StatusOK, err
				})
			}
			timed("me", func() (int, error) { return get(ctx, hc, base, "/api/v1/me", w.token) })
			timed("regions", func() (int, error) { return get(ctx, hc, base, "/api/v1/regions?limit=50&geometry=false", w.token) })
			cursor = ""
			for range 3 {
				timed("premises", func() (int, error) {
					fc, err := c.ListPremises(ctx, client.PremiseFilter{PageRequest: client.PageRequest{Limit: 50, Cursor: cursor}})
					cursor = fc.NextCursor
					return http.StatusOK, err
				})
				if cursor == "" {
					break
				}
			}
			for p := range *photos {
				img := photo(i, p)
				timed("photo", func() (int, error) {
					// A phone sends a photo again, with the same Idempotency-Key, when the
					// connection broke before an answer (a keep-alive connection closed under it)
					// or the store asked it to (503 storage_unavailable): once here, counted.
					for attempt := 0; ; attempt++ {
						_, _, err := c.UploadPhoto(ctx, fmt.Sprintf("w%d-%d.jpg", i, p), bytes.NewReader(img), int64(len(img)),
							fmt.Sprintf("bench-%d-%d", i, p))
						var ae *client.Error
						retry := err != nil && (!errors.As(err, &ae) || ae.Status == http.StatusServiceUnavailable)
						if !retry || attempt > 0 {
							return http.StatusCreated, err
						}
						if n := resent.Add(1); n <= 40 {
							fmt.Printf("   resend %d: worker %d photo %d at +%s: %v\n", n, i, p, time.Since(t0).Round(time.Millisecond), err)
						}
						time.Sleep(time.Second)
					}
				})
			}
		}()
	}
	wg.Wait()
	el := time.Since(t0)
	errs := 0
	for _, k := range []string{"sync", "delta", "me", "regions", "premises", "photo"} {
		if s := kinds[k]; len(s.lat) > 0 {
			fmt.Printf("%-9s %s\n", k, s)
			errs += s.errors()
		}
	}
	fmt.Printf("sync: %d items in the snapshots (%.0f per worker)\n", synced.Load(), float64(synced.Load())/float64(len(ws)))
	fmt.Printf("burst done in %s (%.0f workers/min), %d errors; %d photos sent a second time (broken connection or 503)\n",
		el.Round(time.Millisecond), float64(len(ws))/el.Minutes(), errs, resent.Load())
	if errs > 0 {
		return fmt.Errorf("%d failed requests in the burst", errs)
	}
	return nil
}

// photo is a small JPEG (640×480), different for every worker and photo.
func photo(i, p int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 640, 480))
	for y := 0; y < 480; y++ {
		for x := 0; x < 640; x++ {
			img.Set(x, y, color.RGBA{uint8(x*i + y), uint8(y*p + x), uint8(i + p*7 + x*y), 255})
		}
	}
	var b bytes.Buffer
	_ = jpeg.Encode(&b, img, &jpeg.Options{Quality: 80})
	return b.Bytes()
}

// stack is the bench's database (from sieve_template) and buckets on the test stack.
type stack struct {
	dbURL, appURL, name string
	media, derived      string
	mc                  *minio.Client
	env                 []string
}

func newStack(ctx context.Context) (*stack, error) {
	st := &stack{dbURL: os.Getenv("SIEVE_DB_URL")}
	endpoint, access, secret := os.Getenv("SIEVE_S3_ENDPOINT"), os.Getenv("SIEVE_S3_ACCESS_KEY"), os.Getenv("SIEVE_S3_SECRET_KEY")
	if st.dbURL == "" || endpoint == "" {
		return nil, errors.New("SIEVE_DB_URL and SIEVE_S3_* must be set (eval \"$(./deploy/local/stack.sh env)\")")
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	st.name = "load" + hex.EncodeToString(b)
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
	st.appURL = u.String()
	st.media, st.derived = st.name+"-media", st.name+"-derived"
	st.mc, err = minio.New(endpoint, &minio.Options{Creds: credentials.NewStaticV4(access, secret, ""), Region: "us-east-1"})
	if err != nil {
		return st, err
	}
	st.env = append(os.Environ(), "SIEVE_DB_URL="+st.appURL, "SIEVE_S3_BUCKET_MEDIA="+st.media,
		"SIEVE_S3_BUCKET_DERIVED="+st.derived, "SIEVE_LOG_LEVEL="+*logLevel, "SIEVE_DB_MAX_CONNS=40")
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

type server struct {
	cmd *exec.Cmd
	url string
}

// serve starts `sieve serve` on a free loopback port (jobs in process, as the local demo runs)
// and waits until it is ready.
func (st *stack) serve(ctx context.Context) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(*sieveBin, "serve")
	cmd.Env = append(st.env, "SIEVE_HTTP_ADDR="+addr, "SIEVE_WORKER_INPROCESS=true", "SIEVE_WORKER_CONCURRENCY=2")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, url: "http://" + addr}
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline) && ctx.Err() == nil; time.Sleep(100 * time.Millisecond) {
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
