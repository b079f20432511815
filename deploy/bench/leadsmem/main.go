// Command leadsmem checks that the leads import streams (issue 14): a generated vehicle-track
// file of -mb megabytes (GBK, what Chinese office software writes; default 200 MB, ~3 million
// fixes) is posted to POST /api/v1/leads/import?kind=vehicle_track of a real `sieve serve` on
// the loopback as a chunked body (no Content-Length), after a small file of the same shape
// (-small-mb), and the server's peak resident memory (VmHWM in /proc/PID/status) is read after
// each: a core that held the file would grow by the file's size (twice: the bytes and their
// UTF-8 copy), a streaming one stays where the small file left it. The target is a peak under
// 256 MB. The file is generated while it is sent, so the benchmark holds none of it either.
//
// It makes its own database (from sieve_template) and buckets on the stack that
// deploy/local/stack.sh env describes, and removes them at the end. Run it with
// deploy/bench/leadsmem/run.sh.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/sieve-city/sieve/deploy/bench/benchstack"
	"github.com/sieve-city/sieve/internal/db"
)

var (
	sieveBin  = flag.String("sieve", "bin/sieve", "the sieve binary")
	bigMB     = flag.Int("mb", 200, "size of the big track file, MB")
	smallMB   = flag.Int("small-mb", 4, "size of the small track file posted first, MB")
	targetMB  = flag.Float64("target", 256, "the peak resident memory allowed, MB")
	timeLimit = flag.Duration("timeout", 15*time.Minute, "stop everything after this long")
)

// The city's extent (Yuzhou's).
const minLon, minLat, maxLon, maxLat = 113.07, 33.99, 113.66, 34.41

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
	fmt.Printf("command: ./deploy/bench/leadsmem/run.sh %s\nload average %s\n\n", strings.Join(os.Args[3:], " "), benchstack.LoadAverage())
	if err := makeCity(ctx, st); err != nil {
		return err
	}
	srv, err := st.Serve(ctx, "false")
	if err != nil {
		return err
	}
	defer srv.Stop()
	tok, err := srv.Login(ctx)
	if err != nil {
		return err
	}
	time.Sleep(time.Second)
	fmt.Printf("   resident at rest                         %6.0f MB\n", srv.Status("VmRSS"))
	for i, mb := range []int{*smallMB, *bigMB} {
		start := time.Now()
		sent, answer, err := post(ctx, srv.URL, tok, int64(mb)<<20, uint64(i))
		if err != nil {
			return err
		}
		fmt.Printf("   %4d MB file (%.1f MB, %d fixes sent in %s): %s\n", mb, float64(sent.bytes)/(1<<20), sent.rows,
			time.Since(start).Round(time.Second), answer)
		fmt.Printf("   peak (VmHWM) after it                    %6.0f MB\n", srv.Status("VmHWM"))
	}
	peak := srv.Status("VmHWM")
	fmt.Printf("load average %s\n", benchstack.LoadAverage())
	if peak >= *targetMB {
		return fmt.Errorf("peak %.0f MB is over %.0f MB", peak, *targetMB)
	}
	return nil
}

// makeCity adds the city's outline (the tracks refuse a city without one).
func makeCity(ctx context.Context, st *benchstack.Stack) error {
	u, err := url.Parse(st.DBURL)
	if err != nil {
		return err
	}
	u.Path = "/sieve_" + st.Name
	pool, err := pgxpool.New(ctx, u.String())
	if err != nil {
		return err
	}
	defer pool.Close()
	return db.AsSystem(ctx, pool, "bench", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO regions (level, code, name, geom) VALUES ('city', 'B', '基准市',
			ST_Multi(ST_MakeEnvelope($1, $2, $3, $4, 4326)))`, minLon, minLat, maxLon, maxLat)
		return err
	})
}

type sent struct{ bytes, rows int64 }

// post sends a generated GBK track file of about size bytes as a chunked body and returns the
// answer's status and counts.
func post(ctx context.Context, base, tok string, size int64, seed uint64) (*sent, string, error) {
	pr, pw := io.Pipe()
	s := &sent{}
	go func() { pw.CloseWithError(generate(pw, size, seed, s)) }()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v1/leads/import?kind=vehicle_track", pr)
	req.ContentLength = -1
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "text/csv")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return s, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	out := string(b)
	if i := strings.Index(out, `"errors"`); i > 0 {
		out = out[:i] + "…"
	}
	if resp.StatusCode != http.StatusCreated {
		return s, "", fmt.Errorf("import: %d %s", resp.StatusCode, out)
	}
	return s, fmt.Sprintf("%d %s", resp.StatusCode, out), nil
}

// generate writes fixes of 200 vehicles every 30 s, in GBK (plates 豫K…, a 备注 column in
// Chinese), each vehicle stopping now and then at one of 30 yards, until size bytes.
func generate(w io.Writer, size int64, seed uint64, s *sent) error {
	enc := simplifiedchinese.GBK.NewEncoder()
	bw := bufio.NewWriterSize(w, 1<<20)
	cw := &counting{w: bw}
	gw := enc.Writer(cw) // a transform.Writer: Close flushes it
	rng := rand.New(rand.NewPCG(seed, 14))
	yards := make([][2]float64, 30)
	for i := range yards {
		yards[i] = [2]float64{minLon + 0.05 + rng.Float64()*0.5, minLat + 0.05 + rng.Float64()*0.3}
	}
	type vehicle struct {
		lon, lat float64
		stop     int
	}
	vs := make([]vehicle, 200)
	for i := range vs {
		vs[i] = vehicle{lon: minLon + 0.05 + rng.Float64()*0.5, lat: minLat + 0.05 + rng.Float64()*0.3}
	}
	if _, err := io.WriteString(gw, "车牌号,定位时间,经度,纬度,速度,方向,备注\n"); err != nil {
		return err
	}
	t := time.Date(2026, 5, 1, 6, 0, 0, 0, time.FixedZone("CST", 8*3600))
	line := make([]byte, 0, 128)
	for cw.n < size {
		stamp := t.Format(time.RFC3339)
		for i := range vs {
			v := &vs[i]
			switch {
			case v.stop > 0:
				v.stop--
			case rng.IntN(200) == 0:
				y := yards[rng.IntN(len(yards))]
				v.lon, v.lat, v.stop = y[0]+(rng.Float64()-0.5)*0.0004, y[1]+(rng.Float64()-0.5)*0.0004, 40+rng.IntN(80)
			default:
				v.lon = min(max(v.lon+(rng.Float64()-0.5)*0.004, minLon+0.01), maxLon-0.01)
				v.lat = min(max(v.lat+(rng.Float64()-0.5)*0.004, minLat+0.01), maxLat-0.01)
			}
			line = fmt.Appendf(line[:0], "豫K%05d,%s,%.6f,%.6f,%d,%d,正常行驶\n", 10000+i, stamp, v.lon, v.lat, rng.IntN(80), rng.IntN(360))
			if _, err := gw.Write(line); err != nil {
				return err
			}
			s.rows++
		}
		t = t.Add(30 * time.Second)
	}
	if err := gw.(io.Closer).Close(); err != nil {
		return err
	}
	s.bytes = cw.n
	return bw.Flush()
}

type counting struct {
	w io.Writer
	n int64
}

func (c *counting) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
