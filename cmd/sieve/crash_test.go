package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/jpeg"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"

	"github.com/sieve-city/sieve/internal/accounts"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/testenv"
)

// TestSurveyJobsSurviveSIGKILL (issue 16): the built binary end to end. A drone operator
// uploads a survey with `sieve upload` to a `sieve serve` that only enqueues; a `sieve worker`
// starts on the images' jobs and is killed with SIGKILL while it holds one (nothing marks that
// job: it stays running in the queue); a new worker starts. With a rescue delay of seconds
// (SIEVE_JOBS_TIMEOUT, SIEVE_JOBS_RESCUE_AFTER) the survey reaches processed = declared within
// the test's bound (River's rescuer looks every 30 s, the first retry waits 10 s) and every job
// completes, with nothing done twice: one media row per file, exactly the two thumbnail objects of each, one job per
// image, every job completed, the held one rescued (a second attempt). Meanwhile the survey's
// progress shows the held job as stuck.
func TestSurveyJobsSurviveSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and waits for River's rescuer (~1 min)")
	}
	dbURL := testenv.DatabaseURL(t)
	store := testenv.Blob(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	pool, err := db.Open(ctx, dbURL, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	bin := filepath.Join(t.TempDir(), "sieve")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	acc := accounts.NewStore(accounts.NewHasher(accounts.HashParams{MemoryKiB: 1024, Time: 1, Threads: 1}, 2), time.Hour, time.Second, time.Now)
	var region, uid int64
	if err := db.AsSystem(ctx, pool, "test", func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO regions (level, code, name) VALUES ('city', '411081', '禹州市') RETURNING id`).Scan(&region); err != nil {
			return err
		}
		u, err := acc.Create(ctx, tx, accounts.CityAdmin, accounts.NewUser{Username: "pilot", Password: "correct horse battery",
			Role: accounts.DroneOperator, RegionID: &region})
		uid = u.ID
		return err
	}); err != nil {
		t.Fatal(err)
	}
	tok, err := acc.CreateSession(ctx, pool, uid)
	if err != nil {
		t.Fatal(err)
	}

	// The card: distinct 3000×2000 JPEGs of noise (a few MB each, some 100 ms of decoding),
	// so that the worker is busy with them for a while.
	const files = 12
	card := t.TempDir()
	dir := filepath.Join(card, "DCIM", "100MEDIA")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range files {
		img := image.NewRGBA(image.Rect(0, 0, 3000, 2000))
		seed := uint32(i + 1)
		for p := range img.Pix {
			seed = seed*1664525 + 1013904223
			img.Pix[p] = byte(seed >> 24)
		}
		var b bytes.Buffer
		if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("DJI_%04d.JPG", i+1)), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	base := "http://" + addr
	logs := t.TempDir()
	env := append(os.Environ(), "SIEVE_DB_URL="+dbURL, "SIEVE_S3_BUCKET_MEDIA="+store.BucketMedia,
		"SIEVE_S3_BUCKET_DERIVED="+store.BucketDerived, "SIEVE_HTTP_ADDR="+addr, "SIEVE_LOG_LEVEL=info",
		"SIEVE_WORKER_INPROCESS=false", "SIEVE_WORKER_CONCURRENCY=1",
		// A crashed worker's jobs are taken back after seconds instead of minutes.
		"SIEVE_JOBS_TIMEOUT=10s", "SIEVE_JOBS_RESCUE_AFTER=10s")
	start := func(name string, args ...string) *exec.Cmd {
		t.Helper()
		logf, err := os.Create(filepath.Join(logs, name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, args...)
		cmd.Env, cmd.Stdout, cmd.Stderr = env, logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if cmd.ProcessState == nil {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
			}
			logf.Close()
			if t.Failed() {
				b, _ := os.ReadFile(logf.Name())
				t.Logf("%s log (last 3 KB):\n%s", name, b[max(0, len(b)-3000):])
			}
		})
		return cmd
	}
	start("serve", "serve")
	for ready := false; !ready; time.Sleep(100 * time.Millisecond) {
		if ctx.Err() != nil {
			t.Fatal("sieve serve did not become ready")
		}
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			ready = resp.StatusCode == http.StatusOK
		}
	}

	up := exec.CommandContext(ctx, bin, "upload", "--server", base, "--token", tok, "--region", fmt.Sprint(region),
		"--flight-date", "2024-04-20", "--wait", "0", card)
	up.Env = append(env, "XDG_CACHE_HOME="+t.TempDir())
	out, err := up.CombinedOutput()
	if err != nil || !strings.Contains(string(out), fmt.Sprintf("uploaded %d, already there 0, rejected 0, failed 0", files)) {
		t.Fatalf("sieve upload: %v\n%s", err, out)
	}
	var survey int64
	if _, err := fmt.Sscanf(string(out[bytes.Index(out, []byte("created survey ")):]), "created survey %d", &survey); err != nil {
		t.Fatalf("no survey in %q", out)
	}

	// jobs counts the media_thumbnail jobs by state.
	jobs := func() map[string]int {
		t.Helper()
		m := map[string]int{}
		rows, err := pool.Query(ctx, `SELECT state::text, count(*) FROM river_job WHERE kind = 'media_thumbnail' GROUP BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var s string
			var n int
			if err := rows.Scan(&s, &n); err != nil {
				t.Fatal(err)
			}
			m[s] = n
		}
		return m
	}
	if j := jobs(); j["available"] != files {
		t.Fatalf("before any worker: jobs %v, want %d available", j, files)
	}

	// A worker starts on them and is killed while it holds a job, after it finished some.
	w1 := start("worker1", "worker")
	var atKill map[string]int
	for {
		if ctx.Err() != nil {
			t.Fatalf("the worker never held a job; jobs %v", jobs())
		}
		if j := jobs(); j["running"] > 0 && j["completed"] >= 2 {
			if err := w1.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = w1.Wait()
			atKill = jobs() // after the death: what the dead process left
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if atKill["running"] == 0 || atKill["completed"] >= files {
		t.Fatalf("the kill did not land during the jobs: jobs after it %v", atKill)
	}
	t.Logf("SIGKILL with jobs %v", atKill)
	progress := func() map[string]any {
		t.Helper()
		var resp *http.Response
		for {
			// Each read bounded on its own: a slow answer on a loaded machine is asked again, and
			// the test's own bound still holds.
			rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(rctx, http.MethodGet, fmt.Sprintf("%s/api/v1/surveys/%d", base, survey), nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			var err error
			if resp, err = http.DefaultClient.Do(req); err == nil {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("GET survey: %v", err)
			}
			t.Logf("GET survey: %v (asking again)", err)
		}
		defer resp.Body.Close()
		var sv struct {
			Progress map[string]any `json:"progress"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&sv); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET survey: %d %v", resp.StatusCode, err)
		}
		return sv.Progress
	}
	if p := progress(); p["processed"].(float64) >= files {
		t.Fatalf("survey processed before the restart: %v", p)
	}

	// While no worker runs, the survey shows the held job as stuck once it is past its timeout.
	for {
		p := progress()
		if int(p["stuck"].(float64)) == atKill["running"] {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the dead worker's job never showed as stuck: %v", p)
		}
		time.Sleep(500 * time.Millisecond)
	}

	// The restart: a new worker; the held job is rescued and run again.
	restarted := time.Now()
	start("worker2", "worker")
	// The survey may show processed = declared before the held job has run again: a kill just
	// after the job's own commit leaves its image processed and its job running until rescued.
	// The rescued run must then change nothing (checked below), so wait for both.
	var p map[string]any
	var processedAfter time.Duration
	for {
		p = progress()
		if p["processed"].(float64) == files && processedAfter == 0 {
			processedAfter = time.Since(restarted)
		}
		if processedAfter > 0 && jobs()["completed"] == files {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("survey and jobs not done after the restart: %v; jobs %v", p, jobs())
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("processed = declared %.1f s after the restart, every job completed %.1f s after it; progress %v",
		processedAfter.Seconds(), time.Since(restarted).Seconds(), p)
	if p["declared"].(float64) != files || p["failed"].(float64) != 0 || p["stuck"].(float64) != 0 {
		t.Fatalf("survey progress %v, want declared = processed = %d, none failed or stuck", p, files)
	}

	// Nothing twice: media rows, jobs, thumbnail objects.
	var nMedia, nDistinct, rescued, maxAttempt int
	if err := db.AsSystem(ctx, pool, "test", func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT count(*), count(DISTINCT sha256) FROM media`).Scan(&nMedia, &nDistinct); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT count(*) FILTER (WHERE attempt > 1), coalesce(max(attempt), 0)
			FROM river_job WHERE kind = 'media_thumbnail'`).Scan(&rescued, &maxAttempt)
	}); err != nil {
		t.Fatal(err)
	}
	if nMedia != files || nDistinct != files {
		t.Fatalf("%d media rows (%d distinct hashes), want %d", nMedia, nDistinct, files)
	}
	if j := jobs(); j["completed"] != files || len(j) != 1 {
		t.Fatalf("jobs %v, want %d completed and nothing else", j, files)
	}
	if rescued < atKill["running"] {
		t.Fatalf("%d jobs ran a second attempt, want at least the %d the dead worker held", rescued, atKill["running"])
	}
	perMedium := map[string][]string{}
	for obj := range store.Client.ListObjects(ctx, store.BucketDerived, minio.ListObjectsOptions{Prefix: "thumbs/", Recursive: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		parts := strings.Split(obj.Key, "/") // thumbs/<media id>/<size>.jpg
		perMedium[parts[1]] = append(perMedium[parts[1]], parts[2])
	}
	if len(perMedium) != files {
		t.Fatalf("thumbnails of %d media, want %d: %v", len(perMedium), files, perMedium)
	}
	for id, names := range perMedium {
		if len(names) != 2 || !(names[0] == "detail.jpg" && names[1] == "list.jpg") {
			t.Fatalf("medium %s has thumbnail objects %v, want exactly detail.jpg and list.jpg", id, names)
		}
	}
}
