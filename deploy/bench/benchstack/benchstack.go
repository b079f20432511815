// Package benchstack is the plumbing the benchmarks that drive a real `sieve serve` share: a
// scratch database and buckets on the stack of ./deploy/local/stack.sh env, the server started
// on a free loopback port, its /readyz and process status, a login, waiting for image jobs.
package benchstack

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

// Stack is a scratch database and buckets of the benchmark, named Name, on the test stack.
type Stack struct {
	SieveBin                        string // the sieve binary
	DBURL, Endpoint, Access, Secret string
	Name                            string // database and bucket prefix
	Env                             []string
	MC                              *minio.Client
	Media, Derived                  string
}

// New makes the scratch database (migrated, with a city administrator "bench") and buckets on
// the stack that the SIEVE_* variables name, to be run by the sieve binary at sieveBin.
func New(ctx context.Context, sieveBin string) (*Stack, error) {
	st := &Stack{SieveBin: sieveBin, DBURL: os.Getenv("SIEVE_DB_URL"), Endpoint: os.Getenv("SIEVE_S3_ENDPOINT"),
		Access: os.Getenv("SIEVE_S3_ACCESS_KEY"), Secret: os.Getenv("SIEVE_S3_SECRET_KEY")}
	if st.DBURL == "" || st.Endpoint == "" {
		return nil, errors.New("SIEVE_DB_URL and SIEVE_S3_* must be set (eval \"$(./deploy/local/stack.sh env)\")")
	}
	b := make([]byte, 4)
	rand.Read(b)
	st.Name = "bench" + hex.EncodeToString(b)
	conn, err := pgx.Connect(ctx, st.DBURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{"sieve_" + st.Name}.Sanitize()+" TEMPLATE sieve_template"); err != nil {
		return nil, err
	}
	u, _ := url.Parse(st.DBURL)
	u.Path = "/sieve_" + st.Name
	st.Media, st.Derived = st.Name+"-media", st.Name+"-derived"
	st.MC, err = minio.New(st.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(st.Access, st.Secret, ""), Region: "us-east-1"})
	if err != nil {
		return nil, err
	}
	st.Env = append(os.Environ(), "SIEVE_DB_URL="+u.String(), "SIEVE_S3_BUCKET_MEDIA="+st.Media,
		"SIEVE_S3_BUCKET_DERIVED="+st.Derived, "SIEVE_LOG_LEVEL=warn", "SIEVE_HTTP_UPLOAD_LIMIT=64MB", "SIEVE_DB_MAX_CONNS=40")
	cmd := exec.CommandContext(ctx, st.SieveBin, "migrate")
	cmd.Env, cmd.Stderr = st.Env, os.Stderr
	if err := cmd.Run(); err != nil {
		return st, fmt.Errorf("sieve migrate: %w", err)
	}
	cmd = exec.CommandContext(ctx, st.SieveBin, "user", "add", "--username", "bench", "--role", "city_admin", "--password-stdin")
	cmd.Env, cmd.Stdin = st.Env, strings.NewReader("bench-password-1234\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return st, fmt.Errorf("sieve user add: %w: %s", err, out)
	}
	return st, nil
}

// Remove drops the database and the buckets.
func (st *Stack) Remove() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, b := range []string{st.Media, st.Derived} {
		objs := st.MC.ListObjects(ctx, b, minio.ListObjectsOptions{Recursive: true})
		for range st.MC.RemoveObjects(ctx, b, objs, minio.RemoveObjectsOptions{}) {
		}
		_ = st.MC.RemoveBucket(ctx, b)
	}
	if conn, err := pgx.Connect(ctx, st.DBURL); err == nil {
		_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{"sieve_" + st.Name}.Sanitize()+" WITH (FORCE)")
		conn.Close(ctx)
	}
}

// WaitProcessed waits until n media are processed (or failed), at most max; it says how long.
func (st *Stack) WaitProcessed(ctx context.Context, n int, max time.Duration) string {
	u, _ := url.Parse(st.DBURL)
	u.Path = "/sieve_" + st.Name
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

// Server is a running `sieve serve` of the benchmark.
type Server struct {
	Cmd *exec.Cmd
	URL string
}

// Serve starts `sieve serve` on a free loopback port and waits until it is ready.
func (st *Stack) Serve(ctx context.Context, inProcess string) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(st.SieveBin, "serve")
	cmd.Env = append(st.Env, "SIEVE_HTTP_ADDR="+addr, "SIEVE_WORKER_INPROCESS="+inProcess)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &Server{Cmd: cmd, URL: "http://" + addr}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Get(s.URL + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s, nil
			}
		}
	}
	s.Stop()
	return nil, errors.New("sieve serve did not become ready")
}

func (s *Server) Stop() {
	_ = s.Cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.Cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = s.Cmd.Process.Kill()
	}
}

// Status reads a memory figure (kB) of the server from /proc/PID/status, in MB.
func (s *Server) Status(field string) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", s.Cmd.Process.Pid))
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

func (s *Server) Login(ctx context.Context) (string, error) {
	resp, err := http.Post(s.URL+"/api/v1/auth/login", "application/json",
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
