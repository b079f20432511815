package regions_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sieve-city/sieve/gis"
	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/premises"
	"github.com/sieve-city/sieve/internal/regions"
	"github.com/sieve-city/sieve/internal/testenv"
)

// env is a database with a city (113.0-114.0 E, 34.0-34.5 N) and one township in it,
// 火龙镇 (411081100, 113.4-113.6 E, 34.1-34.3 N).
type env struct {
	pool           *pgxpool.Pool
	store          *regions.Store
	city, township int64
	townshipPath   string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{pool: testenv.DB(t), store: regions.NewStore(premises.NewStore())}
	ctx := context.Background()
	err := db.AsSystem(ctx, e.pool, "test", func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO regions (level, code, name, geom)
			VALUES ('city', '411081', '禹州市', ST_Multi(ST_MakeEnvelope(113.0, 34.0, 114.0, 34.5, 4326))) RETURNING id`).
			Scan(&e.city); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `INSERT INTO regions (parent_id, level, code, name, geom)
			VALUES ($1, 'township', '411081100', '火龙镇', ST_Multi(ST_MakeEnvelope(113.4, 34.1, 113.6, 34.3, 4326)))
			RETURNING id, path::text`, e.city).Scan(&e.township, &e.townshipPath)
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// square is a GeoJSON Polygon of the box.
func square(x0, y0, x1, y1 float64) string {
	return fmt.Sprintf(`{"type":"Polygon","coordinates":[[[%v,%v],[%v,%v],[%v,%v],[%v,%v],[%v,%v]]]}`,
		x0, y0, x1, y0, x1, y1, x0, y1, x0, y0)
}

func feat(code, name, geometry string) string {
	return fmt.Sprintf(`{"type":"Feature","properties":{"code":%q,"name":%q},"geometry":%s}`, code, name, geometry)
}

func collection(features ...string) string {
	return `{"type":"FeatureCollection","features":[` + strings.Join(features, ",") + `]}`
}

// importAs imports data in one transaction acting as a (system when a is nil).
func (e *env) importAs(t *testing.T, a *db.Actor, data []byte, opt regions.ImportOptions) (regions.Report, error) {
	t.Helper()
	ctx := context.Background()
	actor := db.System("test")
	if a != nil {
		actor = *a
	}
	features, err := e.store.ReadFeatures(ctx, data, opt.CRS)
	if err != nil {
		return regions.Report{}, err
	}
	var rep regions.Report
	err = db.InScope(ctx, e.pool, actor, func(tx pgx.Tx) error {
		rep, err = e.store.Import(ctx, tx, features, opt)
		return err
	})
	return rep, err
}

func (e *env) count(t *testing.T, sql string, args ...any) float64 {
	t.Helper()
	var n float64
	err := db.AsSystem(context.Background(), e.pool, "test", func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), sql, args...).Scan(&n)
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func problems(rep regions.Report, severity string) []string {
	var out []string
	for _, is := range rep.Issues {
		if is.Severity == severity {
			out = append(out, fmt.Sprintf("%d:%s", is.Feature, is.Problem))
		}
	}
	return out
}

func reportOf(t *testing.T, err error) regions.Report {
	t.Helper()
	ae, ok := apperr.As(err)
	if !ok || ae.Status != 422 {
		t.Fatalf("want a 422, got %v", err)
	}
	rep, ok := ae.Details.(regions.Report)
	if !ok {
		t.Fatalf("422 %s without a report: %v", ae.Code, err)
	}
	return rep
}

// Villages of 火龙镇 (113.4-113.6 E, 34.1-34.3 N).
var (
	west      = square(113.4, 34.1, 113.5, 34.3)
	east      = square(113.5, 34.1, 113.6, 34.3)
	bowTie    = `{"type":"Polygon","coordinates":[[[113.4,34.1],[113.5,34.3],[113.5,34.1],[113.4,34.3],[113.4,34.1]]]}`
	outside   = square(113.55, 34.1, 113.75, 34.3)  // half outside the township
	overhang  = square(113.4, 34.1, 113.5001, 34.3) // 11 m past the east edge of the township? no: into east
	bigLap    = square(113.45, 34.1, 113.6, 34.3)   // overlaps west by half of west
	sliverLap = square(113.4995, 34.1, 113.6, 34.3) // overlaps west by 50 m
	poking    = square(113.5, 34.1, 113.6004, 34.3) // pokes 40 m out of the township
)

// TestImport runs boundary files through the import, grouped by outcome.
func TestImport(t *testing.T) {
	type want struct {
		created  int
		errors   []string // feature:problem of the errors, in order
		warnings []string // feature:problem that must be among the warnings
	}
	cases := []struct {
		name string
		data string
		opt  regions.ImportOptions
		want want
	}{
		// Accepted as they are.
		{"two villages tiling the township", collection(feat("411081100201", "西村", west), feat("411081100202", "东村", east)),
			regions.ImportOptions{}, want{created: 2}},
		{"bare array of features", "[" + feat("411081100201", "西村", west) + "," + feat("411081100202", "东村", east) + "]",
			regions.ImportOptions{}, want{created: 2}},
		{"12-digit statistical codes", collection(
			`{"type":"Feature","properties":{"统计用区划代码":"411081100201","名称":"西村"},"geometry":`+west+`}`,
			`{"type":"Feature","properties":{"统计用区划代码":411081100202,"名称":"东村"},"geometry":`+east+`}`),
			regions.ImportOptions{}, want{created: 2}},
		// Accepted with a repair or a remark.
		{"self-intersecting ring repaired", collection(feat("411081100201", "西村", bowTie), feat("411081100202", "东村", east)),
			regions.ImportOptions{}, want{created: 2, warnings: []string{"0:repaired", "-1:gap"}}},
		{"gap between villages", collection(feat("411081100201", "西村", square(113.4, 34.1, 113.45, 34.3)), feat("411081100202", "东村", east)),
			regions.ImportOptions{}, want{created: 2, warnings: []string{"-1:gap"}}},
		{"sliver overlap snapped", collection(feat("411081100201", "西村", west), feat("411081100202", "东村", sliverLap)),
			regions.ImportOptions{}, want{created: 2, warnings: []string{"1:sliver_overlap_snapped"}}},
		{"sliver outside the parent clipped", collection(feat("411081100201", "西村", west), feat("411081100202", "东村", poking)),
			regions.ImportOptions{}, want{created: 2, warnings: []string{"1:clipped_to_parent"}}},
		// Rejected as a whole.
		{"village outside its township", collection(feat("411081100201", "西村", west), feat("411081100202", "东村", outside)),
			regions.ImportOptions{}, want{errors: []string{"1:outside_parent"}}},
		{"overlapping villages", collection(feat("411081100201", "西村", west), feat("411081100202", "东村", bigLap)),
			regions.ImportOptions{}, want{errors: []string{"0:overlap", "1:overlap"}}},
		{"one feature without a name", collection(feat("411081100201", "西村", west), feat("411081100202", "", east)),
			regions.ImportOptions{}, want{errors: []string{"1:missing_name"}}},
		{"a point is not a boundary", collection(feat("411081100201", "西村", west), feat("411081100202", "东村", `{"type":"Point","coordinates":[113.5,34.2]}`)),
			regions.ImportOptions{}, want{errors: []string{"1:not_polygonal"}}},
		{"parent not found", collection(feat("411081199201", "外村", west)),
			regions.ImportOptions{}, want{errors: []string{"0:parent_not_found"}}},
		{"a village cannot sit in the city", collection(`{"type":"Feature","properties":{"code":"X1","name":"西村","level":"village","parent":"411081"},"geometry":` + west + `}`),
			regions.ImportOptions{}, want{errors: []string{"0:wrong_nesting"}}},
		{"swapped coordinates", collection(feat("411081100201", "西村", square(34.1, 113.4, 34.3, 113.5))),
			regions.ImportOptions{}, want{errors: []string{"0:invalid_feature"}}},
		{"duplicate code", collection(feat("411081100201", "西村", west), feat("411081100201", "东村", east)),
			regions.ImportOptions{}, want{errors: []string{"1:duplicate_code"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			before := e.count(t, `SELECT count(*) FROM regions`)
			rep, err := e.importAs(t, nil, []byte(c.data), c.opt)
			if len(c.want.errors) > 0 {
				rep = reportOf(t, err)
				if got := problems(rep, regions.SeverityError); strings.Join(got, " ") != strings.Join(c.want.errors, " ") {
					t.Fatalf("errors %v, want %v (report %+v)", got, c.want.errors, rep.Issues)
				}
				if after := e.count(t, `SELECT count(*) FROM regions`); after != before {
					t.Fatalf("a rejected file changed the regions: %v -> %v", before, after)
				}
				return
			}
			if err != nil {
				t.Fatalf("import: %v", err)
			}
			if rep.Created != c.want.created || rep.Errors != 0 {
				t.Fatalf("created %d errors %d, want %d and 0: %+v", rep.Created, rep.Errors, c.want.created, rep.Issues)
			}
			got := problems(rep, regions.SeverityWarning)
			for _, w := range c.want.warnings {
				if !contains(got, w) {
					t.Errorf("warning %s missing from %v", w, got)
				}
			}
			// Whatever was repaired, the stored villages are valid, inside the township and
			// do not overlap.
			if n := e.count(t, `SELECT count(*) FROM regions WHERE level = 'village' AND NOT ST_IsValid(geom)`); n != 0 {
				t.Errorf("%v invalid villages stored", n)
			}
			if a := e.count(t, `SELECT coalesce(sum(ST_Area(ST_Difference(v.geom, t.geom)::geography)), 0)
				FROM regions v JOIN regions t ON t.id = v.parent_id WHERE v.level = 'village'`); a > 1 {
				t.Errorf("%v m² of villages outside the township", a)
			}
			if a := e.count(t, `SELECT coalesce(sum(ST_Area(ST_Intersection(a.geom, b.geom)::geography)), 0)
				FROM regions a JOIN regions b ON a.parent_id = b.parent_id AND a.id < b.id WHERE a.level = 'village'`); a > 1 {
				t.Errorf("%v m² of overlap between villages", a)
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestImportGCJ02 converts GCJ-02 input exactly (the inverse of the published formula).
func TestImportGCJ02(t *testing.T) {
	gcj := square(113.45, 34.15, 113.55, 34.25)
	// distance from the expected WGS-84 corner to the nearest stored vertex, in degrees
	nearest := func(e *env) float64 {
		lon, lat := gis.GCJ02ToWGS84(113.45, 34.15)
		return e.count(t, `SELECT min(ST_Distance((dp).geom, ST_SetSRID(ST_MakePoint($1, $2), 4326)))
			FROM (SELECT ST_DumpPoints(geom) AS dp FROM regions WHERE code = '411081100201') x`, lon, lat)
	}
	e := newEnv(t)
	if _, err := e.importAs(t, nil, []byte(collection(feat("411081100201", "西村", gcj))), regions.ImportOptions{CRS: gis.GCJ02}); err != nil {
		t.Fatal(err)
	}
	if d := nearest(e); d > 1e-9 {
		t.Fatalf("stored corner %v° from the converted one", d)
	}
	// The GCJ-02 offset here is hundreds of metres: the corner as written is not stored.
	if d := e.count(t, `SELECT min(ST_Distance((dp).geom, ST_SetSRID(ST_MakePoint(113.45, 34.15), 4326)))
		FROM (SELECT ST_DumpPoints(geom) AS dp FROM regions WHERE code = '411081100201') x`); d < 1e-3 {
		t.Fatalf("GCJ-02 input was not converted (%v°)", d)
	}
	// The same through the document's own crs member.
	e2 := newEnv(t)
	doc := `{"type":"FeatureCollection","crs":"gcj02","features":[` + feat("411081100201", "西村", gcj) + `]}`
	if _, err := e2.importAs(t, nil, []byte(doc), regions.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	if d := nearest(e2); d > 1e-9 {
		t.Fatalf("crs member: stored corner %v° from the converted one", d)
	}
}

// TestImportShapefile reads zipped shapefiles with GBK attribute text, with and without .cpg.
func TestImportShapefile(t *testing.T) {
	for _, file := range []string{"testdata/villages_gbk.zip", "testdata/villages_nocpg.zip"} {
		t.Run(file, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			e := newEnv(t)
			rep, err := e.importAs(t, nil, data, regions.ImportOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Created != 2 {
				t.Fatalf("created %d, want 2: %+v", rep.Created, rep.Issues)
			}
			var names string
			err = db.AsSystem(context.Background(), e.pool, "test", func(tx pgx.Tx) error {
				return tx.QueryRow(context.Background(), `SELECT string_agg(name || '/' || kind, ',' ORDER BY code) FROM regions WHERE level = 'village'`).Scan(&names)
			})
			if err != nil {
				t.Fatal(err)
			}
			if names != "大墙王村/村,火龙社区/社区" {
				t.Fatalf("names %q", names)
			}
		})
	}
	t.Run("not a shapefile", func(t *testing.T) {
		e := newEnv(t)
		_, err := e.importAs(t, nil, []byte("PK\x03\x04garbage"), regions.ImportOptions{})
		if ae, ok := apperr.As(err); !ok || ae.Code != "invalid_shapefile" {
			t.Fatalf("got %v, want invalid_shapefile", err)
		}
	})
}

// TestImportScope: a coordinator imports inside their township only.
func TestImportScope(t *testing.T) {
	e := newEnv(t)
	var other int64
	var otherPath string
	err := db.AsSystem(context.Background(), e.pool, "test", func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), `INSERT INTO regions (parent_id, level, code, name, geom)
			VALUES ($1, 'township', '411081101', '顺店镇', ST_Multi(ST_MakeEnvelope(113.6, 34.1, 113.8, 34.3, 4326)))
			RETURNING id, path::text`, e.city).Scan(&other, &otherPath)
	})
	if err != nil {
		t.Fatal(err)
	}
	coord := &db.Actor{UserID: 0, Username: "coord", Role: "township_coordinator", Scope: []string{e.townshipPath}}
	rep, err := e.importAs(t, coord, []byte(collection(feat("411081100201", "西村", west))), regions.ImportOptions{})
	if err != nil || rep.Created != 1 {
		t.Fatalf("in scope: %v %+v", err, rep)
	}
	_, err = e.importAs(t, coord, []byte(collection(feat("411081101201", "顺店村", square(113.6, 34.1, 113.7, 34.3)))), regions.ImportOptions{})
	// Another township's regions are invisible: its village has no parent the caller can see.
	if got := problems(reportOf(t, err), regions.SeverityError); strings.Join(got, " ") != "0:parent_not_found" {
		t.Fatalf("out of scope: %v", got)
	}
	_, err = e.importAs(t, coord, []byte(collection(feat("411081102", "新镇", square(113.0, 34.0, 113.1, 34.1)))), regions.ImportOptions{})
	if got := problems(reportOf(t, err), regions.SeverityError); strings.Join(got, " ") != "0:outside_scope" {
		t.Fatalf("township under the city: %v", got)
	}
}

// TestGenerateCells splits a village into cells and places its premises in them.
func TestGenerateCells(t *testing.T) {
	e := newEnv(t)
	if _, err := e.importAs(t, nil, []byte(collection(feat("411081100201", "西村", square(113.40, 34.10, 113.41, 34.11)))), regions.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	village := int64(e.count(t, `SELECT id FROM regions WHERE code = '411081100201'`))
	ctx := context.Background()
	ps := premises.NewStore()
	err := db.AsSystem(ctx, e.pool, "test", func(tx pgx.Tx) error {
		for i := 0; i < 20; i++ {
			lon, lat := 113.4003+float64(i)*0.0005, 34.1003+float64(i%7)*0.0013
			if _, err := ps.Create(ctx, tx, premises.NewPremise{Name: fmt.Sprint("户", i), Lon: &lon, Lat: &lat}, premises.SourceRegister, 0); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		spec regions.CellSpec
		want int    // cells, 0 for an error
		code string // the error code
	}{
		{"square 300 m", regions.CellSpec{Shape: "square", Size: 300}, 16, ""},
		{"again without replace", regions.CellSpec{Shape: "square", Size: 300}, 0, "cells_exist"},
		{"hexagon 400 m, replacing", regions.CellSpec{Shape: "hexagon", Size: 400, Replace: true}, -1, ""},
		{"bad shape", regions.CellSpec{Shape: "triangle", Size: 300, Replace: true}, 0, "invalid_shape"},
		{"too small", regions.CellSpec{Shape: "square", Size: 5, Replace: true}, 0, "invalid_size"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var res regions.CellsResult
			err := db.AsSystem(ctx, e.pool, "test", func(tx pgx.Tx) error {
				var err error
				res, err = e.store.GenerateCells(ctx, tx, village, c.spec)
				return err
			})
			if c.code != "" {
				var ae *apperr.Error
				if !errors.As(err, &ae) || ae.Code != c.code {
					t.Fatalf("got %v, want %s", err, c.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.want > 0 && res.Created != c.want {
				t.Fatalf("created %d cells, want %d", res.Created, c.want)
			}
			// The cells tile the village exactly, are named by position, and hold every premise.
			if d := e.count(t, `SELECT abs(ST_Area(v.geom::geography) - (SELECT sum(ST_Area(c.geom::geography)) FROM regions c WHERE c.parent_id = v.id))
				FROM regions v WHERE v.id = $1`, village); d > 1 {
				t.Fatalf("cells differ from the village by %v m²", d)
			}
			if n := e.count(t, `SELECT count(*) FROM regions WHERE parent_id = $1 AND code = '411081100201-01' AND name = '西村01网格'`, village); n != 1 {
				t.Fatal("first cell not coded 411081100201-01 / 西村01网格")
			}
			if n := e.count(t, `SELECT count(*) FROM premises p JOIN regions c ON c.id = p.cell_id
				WHERE c.parent_id = $1 AND ST_Intersects(c.geom, p.geom) AND p.region_path = c.path`, village); n != 20 {
				t.Fatalf("%v of 20 premises placed in their cells", n)
			}
		})
	}
}

// TestImportMovesRegion: a file that puts an existing village under another township (区划调整)
// moves it with its cells, and every copy of their paths follows: premises, grid workers and
// their cells, the shapes used for placement. The new township's coordinator then sees its
// premises, the old one's no longer does.
func TestImportMovesRegion(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	withParent := func(code, name, level, parent, geometry string) string {
		return fmt.Sprintf(`{"type":"Feature","properties":{"code":%q,"name":%q,"level":%q,"parent":%q},"geometry":%s}`,
			code, name, level, parent, geometry)
	}
	// 顺店镇 east of 火龙镇, and 河村 on 火龙镇's eastern edge with one hand-drawn cell.
	rep, err := e.importAs(t, nil, []byte(collection(
		withParent("411081101", "顺店镇", "township", "411081", square(113.6, 34.1, 113.8, 34.3)),
		withParent("HC", "河村", "village", "411081100", square(113.55, 34.1, 113.6, 34.3)),
		withParent("HC-01", "河村一网格", "cell", "HC", square(113.55, 34.1, 113.6, 34.3)),
	)), regions.ImportOptions{})
	if err != nil {
		t.Fatalf("first import: %v %+v", err, rep)
	}
	var village, cell, shunDian int64
	var shunDianPath string
	err = db.AsSystem(ctx, e.pool, "test", func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT (SELECT id FROM regions WHERE code = 'HC'), (SELECT id FROM regions WHERE code = 'HC-01'),
			id, path::text FROM regions WHERE code = '411081101'`).Scan(&village, &cell, &shunDian, &shunDianPath)
	})
	if err != nil {
		t.Fatal(err)
	}
	lon, lat := 113.57, 34.2
	err = db.AsSystem(ctx, e.pool, "test", func(tx pgx.Tx) error {
		if _, err := premises.NewStore().Create(ctx, tx, premises.NewPremise{Name: "河村化工厂", Kind: "enterprise", Lon: &lon, Lat: &lat}, "register", 0); err != nil {
			return err
		}
		var worker int64
		if err := tx.QueryRow(ctx, `INSERT INTO users (username, role, password_hash, region_id) VALUES ('hc01', 'grid_worker', '!', $1)
			RETURNING id`, village).Scan(&worker); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO cell_assignments (user_id, cell_id, cell_path) SELECT $1, id, path FROM regions WHERE id = $2`, worker, cell)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	// The adjustment: 火龙镇 gives up its eastern strip and 河村 with it.
	rep, err = e.importAs(t, nil, []byte(collection(
		withParent("411081100", "火龙镇", "township", "411081", square(113.4, 34.1, 113.55, 34.3)),
		withParent("411081101", "顺店镇", "township", "411081", square(113.55, 34.1, 113.8, 34.3)),
		withParent("HC", "河村", "village", "411081101", square(113.55, 34.1, 113.6, 34.3)),
	)), regions.ImportOptions{})
	if err != nil || rep.Moved != 1 || !strings.Contains(strings.Join(problems(rep, regions.SeverityWarning), " "), "2:moved") {
		t.Fatalf("moving import: %v %+v", err, rep)
	}
	want := fmt.Sprintf("%s.%d.%d", shunDianPath, village, cell)
	stale := e.count(t, `SELECT
		(SELECT count(*) FROM regions WHERE path::text = $1 AND id = $2)
		+ (SELECT count(*) FROM region_shapes WHERE path::text = $1)
		+ (SELECT count(*) FROM premises WHERE region_path::text = $1 AND cell_id = $2)
		+ (SELECT count(*) FROM cell_assignments WHERE cell_path::text = $1)
		+ (SELECT count(*) FROM users WHERE region_path::text = subpath($1::ltree, 0, nlevel($1::ltree) - 1)::text)`, want, cell)
	if stale != 5 {
		t.Errorf("%v of the 5 path copies (cell, its shape, the premise, the assignment, the worker) moved to %s", stale, want)
	}
	if n := e.count(t, `SELECT count(*) FROM regions WHERE code = 'HC' AND parent_id = $1`, shunDian); n != 1 {
		t.Error("河村 is not under 顺店镇")
	}
	sees := func(townshipPath string) float64 {
		var n float64
		a := db.Actor{UserID: 0, Username: "coord", Role: "township_coordinator", Scope: []string{townshipPath}}
		if err := db.InScope(ctx, e.pool, a, func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, `SELECT count(*) FROM premises WHERE name = '河村化工厂'`).Scan(&n)
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if sees(shunDianPath) != 1 || sees(e.townshipPath) != 0 {
		t.Errorf("after the move: 顺店镇 sees %v, 火龙镇 sees %v of the premise (want 1, 0)", sees(shunDianPath), sees(e.townshipPath))
	}
	// A coordinator of 火龙镇 cannot take it back: 顺店镇's village is outside their area (and
	// invisible to them: its code is simply taken).
	coord := &db.Actor{Username: "coord", Role: "township_coordinator", Scope: []string{e.townshipPath}}
	_, err = e.importAs(t, coord, []byte(collection(withParent("HC", "河村", "village", "411081100", square(113.55, 34.1, 113.6, 34.3)))), regions.ImportOptions{})
	if got := problems(reportOf(t, err), regions.SeverityError); strings.Join(got, " ") != "0:code_taken" {
		t.Fatalf("a coordinator taking another township's village: %v", got)
	}
}
