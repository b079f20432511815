package tracks

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/sieve-city/sieve/internal/leads"
)

// BenchmarkRows is the Go side of an import: reading and checking 100,000 rows (no database).
//
//	go test -run '^$' -bench Rows ./internal/tracks/
func BenchmarkRows(b *testing.B) {
	var buf bytes.Buffer
	buf.WriteString("plate,time,lon,lat,speed,heading\n")
	t0 := time.Date(2026, 5, 1, 8, 0, 0, 0, time.FixedZone("CST", 8*3600))
	for i := range 100_000 {
		fmt.Fprintf(&buf, "豫K%05d,%s,%.6f,%.6f,40,90\n", i%300, t0.Add(time.Duration(i/300)*30*time.Second).Format(time.RFC3339),
			113.3+float64(i%1000)*1e-4, 34.2+float64(i%777)*1e-4)
	}
	data := buf.Bytes()
	ext := leads.Extent{MinLon: 113, MinLat: 34, MaxLon: 114, MaxLat: 35, Known: true}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		t, err := leads.OpenTable(bytes.NewReader(data), trackColumns)
		if err != nil {
			b.Fatal(err)
		}
		src := &rows{t: t, ext: ext, vals: make([]any, 3), errs: []leads.LineError{}, vehicles: map[string]int32{}}
		n := 0
		for src.Next() {
			n++
		}
		if n != 100_000 || src.Err() != nil {
			b.Fatalf("%d rows, %v", n, src.Err())
		}
	}
}
