package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// The stack and server plumbing below is that of deploy/bench/media (a copy: each bench is
// its own program).

type stack struct {
	dbURL, endpoint, access, secret string
	name                            string // database and bucket prefix
	env                             []string
	mc                              *minio.Client
	media, derived                  string
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
