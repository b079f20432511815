package premises_test

import (
	"context"
	"fmt"
	"sort"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sieve-city/sieve/gis"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/premises"
	"github.com/sieve-city/sieve/internal/testenv"
)

// placementWorld is a city (113-114 E, 34-35 N) with one township and one village
// (113.4-113.6 E, 34.1-34.3 N); the village has two cells side by side, west (113.4-113.5) and
// east (113.5-113.55), sharing the border at 113.5; its strip 113.55-113.6 has no cell.
type placementWorld struct {
	pool                         *pgxpool.Pool
	village, west, east          int64
	villagePath, westP, eastPath string
}

func newPlacementWorld(t *testing.T) placementWorld {
	t.Helper()
	w := placementWorld{pool: testenv.DB(t)}
	ctx := context.Background()
	err := db.AsSystem(ctx, w.pool, "test", func(tx pgx.Tx) error {
		add := func(parent int64, level, code string, x0, y0, x1, y1 float64) (int64, string, error) {
			var id int64
			var path string
			err := tx.QueryRow(ctx, `INSERT INTO regions (parent_id, level, code, name, geom)
				VALUES (nullif($1::bigint, 0), $2, $3, $3, ST_Multi(ST_MakeEnvelope($4, $5, $6, $7, 4326)))
				RETURNING id, path::text`, parent, level, code, x0, y0, x1, y1).Scan(&id, &path)
			return id, path, err
		}
		city, _, err := add(0, "city", "C", 113, 34, 114, 35)
		if err != nil {
			return err
		}
		town, _, err := add(city, "township", "T", 113.4, 34.1, 113.6, 34.3)
		if err != nil {
			return err
		}
		if w.village, w.villagePath, err = add(town, "village", "V", 113.4, 34.1, 113.6, 34.3); err != nil {
			return err
		}
		if w.west, w.westP, err = add(w.village, "cell", "V-W", 113.4, 34.1, 113.5, 34.3); err != nil {
			return err
		}
		w.east, w.eastPath, err = add(w.village, "cell", "V-E", 113.5, 34.1, 113.55, 34.3)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

type placed struct {
	cell *int64
	path *string
}

func placeOf(t *testing.T, pool *pgxpool.Pool, name string) placed {
	t.Helper()
	var p placed
	err := db.AsSystem(context.Background(), pool, "test", func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), `SELECT cell_id, region_path::text FROM premises WHERE name = $1`, name).
			Scan(&p.cell, &p.path)
	})
	if err != nil {
		t.Fatalf("premise %s: %v", name, err)
	}
	return p
}

// TestImportPlacesLikeCreate: an import places each premise by the same rule as adding one
// premise does — inside a cell, on the border of two cells (the lower id, always), in a
// village but in no cell, and outside every region.
func TestImportPlacesLikeCreate(t *testing.T) {
	w := newPlacementWorld(t)
	ctx := context.Background()
	store := premises.NewStore()
	points := []struct {
		name     string
		lon, lat float64
		cell     int64  // 0: none
		path     string // "": none
	}{
		{"in-west", 113.45, 34.2, w.west, w.westP},
		{"in-east", 113.52, 34.2, w.east, w.eastPath},
		{"on-border", 113.5, 34.2, min(w.west, w.east), map[bool]string{true: w.westP, false: w.eastPath}[w.west < w.east]},
		{"no-cell", 113.58, 34.2, 0, w.villagePath},
		{"nowhere", 115.0, 36.0, 0, ""},
	}
	var b premises.Batch
	for i, p := range points {
		lon, lat := p.lon, p.lat
		b.Add(premises.NewPremise{Name: "import-" + p.name, Kind: "household", Lon: &lon, Lat: &lat}, gis.WGS84, i+2)
	}
	var rep premises.ImportReport
	err := db.AsSystem(ctx, w.pool, "test", func(tx pgx.Tx) error {
		var err error
		if rep, err = store.Import(ctx, tx, &b, 0); err != nil {
			return err
		}
		for _, p := range points {
			lon, lat := p.lon, p.lat
			if _, err := store.Create(ctx, tx, premises.NewPremise{Name: "create-" + p.name, Kind: "household", Lon: &lon, Lat: &lat}, "register", 0); err != nil {
				return fmt.Errorf("create %s: %w", p.name, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Created != 5 || rep.InCells != 3 || rep.OutsideCells != 1 {
		t.Errorf("report %+v, want 5 created, 3 in cells, 1 outside cells", rep)
	}
	for _, p := range points {
		for _, how := range []string{"import-", "create-"} {
			got := placeOf(t, w.pool, how+p.name)
			var gotCell int64
			var gotPath string
			if got.cell != nil {
				gotCell = *got.cell
			}
			if got.path != nil {
				gotPath = *got.path
			}
			if gotCell != p.cell || gotPath != p.path {
				t.Errorf("%s%s: cell %d path %q, want cell %d path %q", how, p.name, gotCell, gotPath, p.cell, p.path)
			}
		}
	}
}

// TestLargeImportKeepsSpatialIndex: an import big enough to rebuild the register's spatial
// index leaves it in place and valid, with every row stored.
func TestLargeImportKeepsSpatialIndex(t *testing.T) {
	w := newPlacementWorld(t)
	ctx := context.Background()
	n := premises.RebuildIndexAt + 10
	var b premises.Batch
	for i := 0; i < n; i++ {
		lon, lat := 113.4+0.15*float64(i%1000)/1000, 34.1+0.2*float64(i/1000)/float64(n/1000+1)
		b.Add(premises.NewPremise{Name: fmt.Sprintf("户%d", i), Kind: "household", Lon: &lon, Lat: &lat}, gis.WGS84, i+2)
	}
	err := db.AsSystem(ctx, w.pool, "test", func(tx pgx.Tx) error {
		rep, err := premises.NewStore().Import(ctx, tx, &b, 0)
		if err == nil && (rep.Created != int64(n) || rep.InCells != int64(n)) {
			err = fmt.Errorf("report %+v, want %d created in cells", rep, n)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var def string
	var valid bool
	err = db.AsSystem(ctx, w.pool, "test", func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT pg_get_indexdef(i.indexrelid), i.indisvalid FROM pg_index i
			WHERE i.indexrelid = 'premises_geom'::regclass`).Scan(&def, &valid)
	})
	if err != nil || !valid {
		t.Fatalf("premises_geom after a large import: %q valid=%v err=%v", def, valid, err)
	}
	var inBox int
	err = db.AsSystem(ctx, w.pool, "test", func(tx pgx.Tx) error {
		sql := `SELECT count(*) FROM premises WHERE geom && ST_MakeEnvelope(113.4, 34.1, 113.4751, 34.3, 4326)`
		return tx.QueryRow(ctx, sql).Scan(&inBox)
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := countWest(n); inBox != want {
		t.Errorf("%d premises in the western half, want %d", inBox, want)
	}
}

func countWest(n int) int {
	c := 0
	for i := 0; i < n; i++ {
		if i%1000 <= 500 { // west of 113.4751 (points are 0.00015° apart)
			c++
		}
	}
	return c
}

// TestListByAreaBothWays: listing by region or bbox gives the same premises whether it walks
// the register in id order or reads the area's cells (and the premises in no cell), page by
// page.
func TestListByAreaBothWays(t *testing.T) {
	w := newPlacementWorld(t)
	ctx := context.Background()
	store := premises.NewStore()
	add := map[string][2]float64{
		"w1": {113.41, 34.15}, "w2": {113.45, 34.25}, "w3": {113.49, 34.2}, "border": {113.5, 34.2},
		"e1": {113.52, 34.2}, "strip": {113.58, 34.2}, "nowhere": {115, 36},
	}
	err := db.AsSystem(ctx, w.pool, "test", func(tx pgx.Tx) error {
		for _, name := range []string{"w1", "w2", "w3", "border", "e1", "strip", "nowhere"} {
			lon, lat := add[name][0], add[name][1]
			if _, err := store.Create(ctx, tx, premises.NewPremise{Name: name, Kind: "household", Lon: &lon, Lat: &lat}, "register", 0); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	lowCell := map[bool]string{true: "border", false: ""}[w.west < w.east]
	westNames := []string{"w1", "w2", "w3"}
	if lowCell != "" {
		westNames = append(westNames, "border")
	}
	cases := []struct {
		name string
		f    premises.Filter
		want []string
	}{
		{"village", premises.Filter{RegionID: w.village}, []string{"w1", "w2", "w3", "border", "e1", "strip"}},
		{"west cell as a region", premises.Filter{RegionID: w.west}, westNames},
		{"bbox over the strip without cells", premises.Filter{BBox: &[4]float64{113.56, 34.1, 113.6, 34.3}}, []string{"strip"}},
		{"bbox over the west", premises.Filter{BBox: &[4]float64{113.4, 34.1, 113.495, 34.3}}, []string{"w1", "w2", "w3"}},
		{"region and bbox", premises.Filter{RegionID: w.village, BBox: &[4]float64{113.44, 34.1, 113.53, 34.3}}, []string{"w2", "w3", "border", "e1"}},
	}
	for _, share := range []int{1, 1_000_000} {
		store := premises.NewStore()
		store.FewCellsShare = share
		for _, c := range cases {
			var got []string
			f := c.f
			f.Limit = 2
			for page := 0; page < 10; page++ {
				var ps []premises.Premise
				err := db.AsSystem(ctx, w.pool, "test", func(tx pgx.Tx) error {
					var err error
					ps, err = store.List(ctx, tx, f)
					return err
				})
				if err != nil {
					t.Fatalf("share %d, %s: %v", share, c.name, err)
				}
				for _, p := range ps {
					got = append(got, p.Name)
					f.After = p.ID
				}
				if len(ps) < f.Limit {
					break
				}
			}
			if fmt.Sprint(sorted(got)) != fmt.Sprint(sorted(c.want)) {
				t.Errorf("share %d, %s: got %v, want %v", share, c.name, got, c.want)
			}
		}
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

// TestConcurrentLargeImports: two large imports at once into an empty register (each of which
// would drop and rebuild the spatial index) both succeed, one after the other.
func TestConcurrentLargeImports(t *testing.T) {
	w := newPlacementWorld(t)
	ctx := context.Background()
	n := premises.RebuildIndexAt
	batch := func(prefix string) *premises.Batch {
		var b premises.Batch
		for i := 0; i < n; i++ {
			lon, lat := 113.4+0.15*float64(i%1000)/1000, 34.1+0.2*float64(i/1000)/float64(n/1000+1)
			b.Add(premises.NewPremise{Name: fmt.Sprintf("%s户%d", prefix, i), Kind: "household", Ref: fmt.Sprintf("%s-%d", prefix, i),
				Lon: &lon, Lat: &lat}, gis.WGS84, i+2)
		}
		return &b
	}
	batches := []*premises.Batch{batch("A"), batch("B")}
	errs := make(chan error, 2)
	for _, b := range batches {
		go func() {
			errs <- db.AsSystem(ctx, w.pool, "test", func(tx pgx.Tx) error {
				_, err := premises.NewStore().Import(ctx, tx, b, 0)
				return err
			})
		}()
	}
	for range batches {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent import: %v", err)
		}
	}
	var total int
	err := db.AsSystem(ctx, w.pool, "test", func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) FROM premises`).Scan(&total)
	})
	if err != nil || total != 2*n {
		t.Fatalf("%d premises after two imports of %d (%v)", total, n, err)
	}
}
