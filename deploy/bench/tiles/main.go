// Command tiles is the map tile benchmark (issue 12), on the benchmark city of the coverage
// benchmark (5,000 cells, 400,000 premises, a round with visits):
//
//   - a z12 and a z14 cells tile through the API (GET /tiles/cells/{z}/{x}/{y}.mvt as the city
//     office: token check, scoped read-only transaction, ETag) against the bare ST_AsMVT query
//     of the same tile run directly on one connection as the system (what a plain tile server
//     does); target ≤ 1.2×;
//   - the same tile repeated with If-None-Match (answered 304 from the layer's change state)
//     against a fresh one; target ≤ 0.3×.
//
// Requests alternate and medians are compared, in the same run. The API's tile must equal the
// bare query's bytes. It also fetches every layer at every zoom up to 16 at the city's centre
// and checks each tile stays under 500 KB. Exits 1 when a target is missed.
//
//	go run ./deploy/bench/tiles [-cells 5000] [-premises 400000] [-n 300]
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"sort"
	"time"

	"github.com/sieve-city/sieve/deploy/bench/benchstack"
	"github.com/sieve-city/sieve/deploy/bench/coverage/city"
	"github.com/sieve-city/sieve/internal/sites"
	"github.com/sieve-city/sieve/internal/tiles"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "tiles bench:", err)
		os.Exit(1)
	}
}

func tileOf(lon, lat float64, z int) (int, int) {
	n := math.Exp2(float64(z))
	r := lat * math.Pi / 180
	return int((lon + 180) / 360 * n), int((1 - math.Asinh(math.Tan(r))/math.Pi) / 2 * n)
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("tiles", flag.ContinueOnError)
	nCells := fs.Int("cells", 5000, "about how many grid cells")
	nPremises := fs.Int("premises", 400000, "premises")
	n := fs.Int("n", 300, "requests of each kind (the medians are compared)")
	apiTarget := fs.Float64("target", 1.2, "API/bare ratio to stay under (0: report only)")
	etagTarget := fs.Float64("etag-target", 0.3, "304/fresh ratio to stay under (0: report only)")
	keep := fs.Bool("keep", false, "keep the scratch database")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of 500 fresh z14 tiles through the API to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	base := os.Getenv("SIEVE_DB_URL")
	if base == "" {
		return fmt.Errorf("SIEVE_DB_URL is not set (use deploy/bench/tiles/run.sh)")
	}
	ctx := context.Background()
	c, err := city.Build(ctx, base, *nCells, *nPremises, *keep)
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Fprintf(out, "city: %d cells, %d premises, %d inspections\n", c.Cells, c.Premises, c.Inspections)

	conn, err := c.Pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT set_config('sieve.system', 'on', false)`); err != nil {
		return err
	}
	layer, err := tiles.NewRegistry().Layer("cells")
	if err != nil {
		return err
	}
	bareSQL := tiles.TileSQL(layer)
	client := &http.Client{}
	fetch := func(path, etag string) (int, []byte, string, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+c.Token)
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		res, err := client.Do(req)
		if err != nil {
			return 0, nil, "", err
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		return res.StatusCode, b, res.Header.Get("ETag"), err
	}
	failed := false
	for _, z := range []int{12, 14} {
		x, y := tileOf((city.MinLon+city.MaxLon)/2, (city.MinLat+city.MaxLat)/2, z)
		path := fmt.Sprintf("/tiles/cells/%d/%d/%d.mvt", z, x, y)
		bare := func() ([]byte, error) {
			var b []byte
			return b, conn.QueryRow(ctx, bareSQL, z, x, y).Scan(&b)
		}
		want, err := bare()
		if err != nil {
			return err
		}
		status, got, etag, err := fetch(path, "")
		if err != nil {
			return err
		}
		if status != http.StatusOK || !bytes.Equal(got, want) {
			return fmt.Errorf("%s: %d, %d bytes; the bare query gives %d bytes", path, status, len(got), len(want))
		}
		var apiT, bareT, etagT []time.Duration
		for i := 0; i < *n; i++ {
			t0 := time.Now()
			if _, err := bare(); err != nil {
				return err
			}
			bareT = append(bareT, time.Since(t0))
			t0 = time.Now()
			if s, _, _, err := fetch(path, ""); err != nil || s != http.StatusOK {
				return fmt.Errorf("%s: %d %v", path, s, err)
			}
			apiT = append(apiT, time.Since(t0))
			t0 = time.Now()
			if s, _, _, err := fetch(path, etag); err != nil || s != http.StatusNotModified {
				return fmt.Errorf("%s with If-None-Match: %d %v", path, s, err)
			}
			etagT = append(etagT, time.Since(t0))
		}
		a, b, e := median(apiT), median(bareT), median(etagT)
		r1, r2 := float64(a)/float64(b), float64(e)/float64(a)
		fmt.Fprintf(out, "z%d tile %s (%d bytes), median of %d: bare ST_AsMVT %v, API %v (%.2f×, target ≤ %.1f), repeated with If-None-Match %v (%.2f× a fresh one, target ≤ %.1f)\n",
			z, path, len(want), *n, b.Round(10*time.Microsecond), a.Round(10*time.Microsecond), r1, *apiTarget,
			e.Round(10*time.Microsecond), r2, *etagTarget)
		if (*apiTarget > 0 && r1 > *apiTarget) || (*etagTarget > 0 && r2 > *etagTarget) {
			failed = true
		}
		if *cpuprofile != "" && z == 14 {
			if err := benchstack.CPUProfile(*cpuprofile, 500, func() error { _, _, _, err := fetch(path, ""); return err }); err != nil {
				return err
			}
		}
	}
	// Tile sizes: every layer at every zoom from 0 to 16, the tile at the city's centre, under
	// the 500 KB the map page can take.
	all := tiles.NewRegistry()
	all.Add(sites.TileLayer) // as api.New serves it
	for _, name := range all.Names() {
		biggest, at := 0, 0
		for z := 0; z <= 16; z++ {
			x, y := tileOf((city.MinLon+city.MaxLon)/2, (city.MinLat+city.MaxLat)/2, z)
			status, b, _, err := fetch(fmt.Sprintf("/tiles/%s/%d/%d/%d.mvt", name, z, x, y), "")
			if err != nil || (status != http.StatusOK && status != http.StatusNoContent) {
				return fmt.Errorf("%s tile at z%d: %d %v", name, z, status, err)
			}
			if len(b) > biggest {
				biggest, at = len(b), z
			}
		}
		fmt.Fprintf(out, "layer %s: largest tile at the centre %d bytes (z%d), limit 500 KB\n", name, biggest, at)
		if biggest > 500<<10 {
			failed = true
		}
	}
	if failed {
		return fmt.Errorf("a target was missed")
	}
	return nil
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}
