// Command coverage is the coverage benchmark (issue 12): GET /api/v1/coverage for the whole
// city (5,000 cells, 400,000 premises, a round with visits of about half of them) through the
// API, against the naive aggregate, one GROUP BY over all premises and their inspections of the
// round run directly as the system (coverage.Naive), alternating, in the same run.
//
//	go run ./deploy/bench/coverage [-cells 5000] [-premises 400000] [-n 20]
//
// It needs SIEVE_DB_URL (run.sh uses the test stack), makes a scratch database from
// sieve_template and drops it at the end. It prints both medians and their ratio; the target is
// at most 1/20 (0.05), and it exits 1 when that is missed. It also checks that both give the
// same totals, and prints the time of the statement that recorded all the visits, with the
// coverage refresh its trigger ran.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sieve-city/sieve/deploy/bench/coverage/city"
	"github.com/sieve-city/sieve/internal/coverage"
	"github.com/sieve-city/sieve/internal/db"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "coverage bench:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("coverage", flag.ContinueOnError)
	nCells := fs.Int("cells", 5000, "about how many grid cells")
	nPremises := fs.Int("premises", 400000, "premises")
	n := fs.Int("n", 20, "requests of each kind (the medians are compared)")
	target := fs.Float64("target", 0.05, "the ratio API/naive to stay under (0: report only)")
	keep := fs.Bool("keep", false, "keep the scratch database")
	if err := fs.Parse(args); err != nil {
		return err
	}
	base := os.Getenv("SIEVE_DB_URL")
	if base == "" {
		return fmt.Errorf("SIEVE_DB_URL is not set (use deploy/bench/coverage/run.sh)")
	}
	ctx := context.Background()
	c, err := city.Build(ctx, base, *nCells, *nPremises, *keep)
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Fprintf(out, "city: %d cells, %d premises, %d inspections; built in %v (the visits' statement with its coverage refresh: %v)\n",
		c.Cells, c.Premises, c.Inspections, c.Setup.Round(time.Millisecond), c.Refresh.Round(time.Millisecond))

	client := &http.Client{}
	url := fmt.Sprintf("%s/api/v1/coverage?region=%d", c.URL, c.CityID)
	get := func() (coverage.Report, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		req.Header.Set("Authorization", "Bearer "+c.Token)
		res, err := client.Do(req)
		if err != nil {
			return coverage.Report{}, err
		}
		defer res.Body.Close()
		var rep coverage.Report
		if res.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(res.Body)
			return rep, fmt.Errorf("GET /coverage: %d %s", res.StatusCode, b)
		}
		return rep, json.NewDecoder(res.Body).Decode(&rep)
	}
	naive := func() (coverage.Numbers, error) {
		var nb coverage.Numbers
		err := db.AsSystem(ctx, c.Pool, "bench", func(tx pgx.Tx) error {
			var err error
			nb, err = coverage.Naive(ctx, tx, c.CityID, c.RoundID)
			return err
		})
		return nb, err
	}
	// Warm both, and check they agree.
	rep, err := get()
	if err != nil {
		return err
	}
	nb, err := naive()
	if err != nil {
		return err
	}
	if rep.Region.Premises != nb.Premises || rep.Region.Verified != nb.Verified || rep.Region.Flagged != nb.Flagged {
		return fmt.Errorf("the API says %d premises, %d verified, %d flagged; the naive aggregate %d, %d, %d",
			rep.Region.Premises, rep.Region.Verified, rep.Region.Flagged, nb.Premises, nb.Verified, nb.Flagged)
	}
	var apiT, naiveT []time.Duration
	for i := 0; i < *n; i++ {
		t0 := time.Now()
		if _, err := get(); err != nil {
			return err
		}
		apiT = append(apiT, time.Since(t0))
		t0 = time.Now()
		if _, err := naive(); err != nil {
			return err
		}
		naiveT = append(naiveT, time.Since(t0))
	}
	a, b := median(apiT), median(naiveT)
	ratio := float64(a) / float64(b)
	fmt.Fprintf(out, "city totals: %d premises, %d verified (%.1f %%), %d flagged\n", nb.Premises, nb.Verified, 100*rep.Region.ShareVerified, nb.Flagged)
	fmt.Fprintf(out, "median of %d: GET /api/v1/coverage (city) %v, naive GROUP BY %v, ratio %.4f (target ≤ %.2f)\n",
		*n, a.Round(10*time.Microsecond), b.Round(10*time.Microsecond), ratio, *target)
	if *target > 0 && ratio > *target {
		return fmt.Errorf("ratio %.4f above the target %.2f", ratio, *target)
	}
	return nil
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}
