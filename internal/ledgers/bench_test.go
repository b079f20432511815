package ledgers

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/xuri/excelize/v2"

	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/testenv"
)

var (
	benchCases  = flag.Int("ledger-cases", 2000, "BenchmarkCityIllegal: cases in the city")
	benchRounds = flag.Int("ledger-rounds", 7, "BenchmarkCityIllegal: alternating rounds of each side")
)

// benchCity makes a city of 26 townships with n cases verified illegal or later, one to three
// disposal actions each, spread over the townships.
func benchCity(b *testing.B, n int) *testWorld {
	b.Helper()
	ctx := context.Background()
	w := &testWorld{pool: testenv.DB(b)}
	err := db.AsSystem(ctx, w.pool, "bench", func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO regions (level, code, name) VALUES ('city', '411081', '禹州市') RETURNING id, path::text`).
			Scan(&w.city, &w.cityPath); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO regions (parent_id, level, code, name)
			SELECT $1, 'township', '411081' || lpad(g::text, 3, '0'), '第' || g || '镇' FROM generate_series(1, 26) g`, w.city); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO sites (point, source, classes, firm_name, address, industry, legal_rep, contact_phone, participants,
				status, created_at, region_path)
			SELECT ST_SetSRID(ST_MakePoint(113.4, 34.2), 4326), 'inspection',
				CASE g % 4 WHEN 0 THEN ARRAY['unlicensed'] WHEN 1 THEN ARRAY['beyond_licence', 'other']
					WHEN 2 THEN ARRAY['non_chemical_producing'] ELSE ARRAY['affiliated_leased', 'factory_in_factory'] END,
				'某化工加工点（第' || g || '处）', '某镇某村' || (g % 9) || '组', '化学原料', '王某', '1390374' || lpad(g::text, 4, '0'),
				ARRAY['李网格', '赵应急'], (ARRAY['verified_illegal', 'under_disposal', 'rectified'])[1 + g % 3],
				now() - interval '60 days', NULL
			FROM generate_series(1, $1) g`, n); err != nil {
			return err
		}
		// Placed by hand (the placing trigger finds no cell: the townships have no boundaries).
		if _, err := tx.Exec(ctx, `WITH t AS (SELECT path, row_number() OVER (ORDER BY code) - 1 AS k FROM regions WHERE level = 'township')
			UPDATE sites s SET region_path = t.path FROM t WHERE t.k = s.id % 26`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `
			INSERT INTO site_actions (site_id, action, department, responsible, deadline, result, done_at, created_at)
			SELECT s.id, (ARRAY['stop_production', 'seal_up', 'dismantle_by_deadline'])[k], 'emergency_management', '赵应急',
				now() - interval '10 days', '已责令停止生产，现场断电', CASE WHEN k = 1 THEN now() - interval '20 days' END,
				now() - interval '50 days'
			FROM sites s CROSS JOIN LATERAL generate_series(1, 1 + s.id::int % 3) k`)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return w
}

// plainWorkbook writes the cells of forms with excelize and nothing else: a sheet each, the
// same values row by row, no style, merge, width, height or print setting. The baseline.
func plainWorkbook(forms []*form) ([]byte, error) {
	f := excelize.NewFile()
	defer f.Close()
	for i, fm := range forms {
		if i == 0 {
			if err := f.SetSheetName("Sheet1", fm.Sheet); err != nil {
				return nil, err
			}
		} else if _, err := f.NewSheet(fm.Sheet); err != nil {
			return nil, err
		}
		head := []any{fm.Corner}
		if err := f.SetSheetRow(fm.Sheet, "A1", &head); err != nil {
			return nil, err
		}
		for r, line := range append([][]string{{fm.Title}, {fm.Unit, fm.FiledOn}, titles(fm.Columns)}, fm.Rows...) {
			vals := make([]any, len(line))
			for k, v := range line {
				vals[k] = v
			}
			if err := f.SetSheetRow(fm.Sheet, cellName(0, r+2), &vals); err != nil {
				return nil, err
			}
		}
	}
	buf, err := f.WriteToBuffer()
	if err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// BenchmarkCityIllegal: the whole city's 附件2 (Render as the city office: the scoped read, the
// forms, styles, merges, print settings) against excelize writing the same cells without
// styling, alternating rounds in one run; it reports both medians and their ratio (target ≤ 2).
//
//	./deploy/bench/ledgers/run.sh
func BenchmarkCityIllegal(b *testing.B) {
	w := benchCity(b, *benchCases)
	svc := New(func() time.Time { return time.Now() })
	month := Month(time.Now())
	ctx := context.Background()
	render := func() File {
		var f File
		if err := db.ReadInScope(ctx, w.pool, w.cityOffice(), func(tx pgx.Tx) error {
			var err error
			f, err = svc.In(tx).Render(ctx, Request{Kind: Illegal, Month: month})
			return err
		}); err != nil {
			b.Fatal(err)
		}
		return f
	}
	// The same cells, made once: the baseline writes them.
	var forms []*form
	_, end, _ := ParseMonth(month)
	if err := db.ReadInScope(ctx, w.pool, w.cityOffice(), func(tx pgx.Tx) error {
		c, towns, err := city(ctx, tx)
		if err != nil {
			return err
		}
		rows, err := illegalRows(ctx, tx, towns, end)
		if err != nil {
			return err
		}
		l := ledger{kind: Illegal, corner: "附件2", place: c, towns: towns, whole: true, end: end, filed: dateCN(time.Now())}
		l.illegal(rows)
		forms = l.forms
		if len(rows) != *benchCases {
			return fmt.Errorf("%d rows, want %d", len(rows), *benchCases)
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	var sieveT, plainT, queryT []time.Duration
	var size, plainSize int
	render() // warm both up
	if _, err := plainWorkbook(forms); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		for range *benchRounds {
			t0 := time.Now()
			f := render()
			sieveT = append(sieveT, time.Since(t0))
			size = len(f.Body)
			t0 = time.Now()
			if err := db.ReadInScope(ctx, w.pool, w.cityOffice(), func(tx pgx.Tx) error {
				_, towns, err := city(ctx, tx)
				if err == nil {
					_, err = illegalRows(ctx, tx, towns, end)
				}
				return err
			}); err != nil {
				b.Fatal(err)
			}
			queryT = append(queryT, time.Since(t0))
			t0 = time.Now()
			body, err := plainWorkbook(forms)
			if err != nil {
				b.Fatal(err)
			}
			plainT = append(plainT, time.Since(t0))
			plainSize = len(body)
		}
	}
	b.StopTimer()
	med := func(d []time.Duration) time.Duration {
		d = slices.Clone(d)
		slices.Sort(d)
		return d[len(d)/2]
	}
	ms, mp := med(sieveT), med(plainT)
	b.ReportMetric(float64(ms.Microseconds())/1000, "sieve-ms")
	b.ReportMetric(float64(mp.Microseconds())/1000, "plain-ms")
	b.ReportMetric(float64(ms)/float64(mp), "ratio")
	b.ReportMetric(float64(med(queryT).Microseconds())/1000, "query-ms")
	b.Logf("%d cases, %d sheets: Render %v (%d bytes; of which the scoped read of cases and actions %v), plain excelize %v (%d bytes), ratio %.2f (target ≤ 2); rounds %v / %v",
		*benchCases, len(forms), ms, size, med(queryT), mp, plainSize, float64(ms)/float64(mp), sieveT, plainT)
	if !bytes.HasPrefix(render().Body, []byte("PK")) {
		b.Fatal("not a zip")
	}
}
