package regions_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/media"
	"github.com/sieve-city/sieve/internal/premises"
	"github.com/sieve-city/sieve/internal/regions"
)

// medium is a photo or drone image to store: its point and footprint as WKT ("" for none).
type medium struct {
	drone            bool
	point, footprint string
}

// addMedia stores media as the system, as the upload and placement jobs leave them (point,
// footprint, cells from place_media), with a drone operator of the township as their uploader.
func (e *env) addMedia(t *testing.T, ms ...medium) {
	t.Helper()
	ctx := context.Background()
	err := db.AsSystem(ctx, e.pool, "test", func(tx pgx.Tx) error {
		var user, survey int64
		err := tx.QueryRow(ctx, `SELECT id FROM users WHERE username = 'flyer'`).Scan(&user)
		if errors.Is(err, pgx.ErrNoRows) {
			err = tx.QueryRow(ctx, `INSERT INTO users (username, role, password_hash, region_id)
				VALUES ('flyer', 'drone_operator', '!', $1) RETURNING id`, e.township).Scan(&user)
		}
		if err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `INSERT INTO surveys (region_id, operator_id, flight_date) VALUES ($1, $2, now())
			RETURNING id`, e.township, user).Scan(&survey); err != nil {
			return err
		}
		for _, m := range ms {
			const sql = `INSERT INTO media (kind, survey_id, uploaded_by, region_path, sha256, size, format, content_type, object_key,
					point, footprint)
				SELECT CASE WHEN $1 THEN 'drone' ELSE 'photo' END, CASE WHEN $1 THEN $2::bigint END, $3, $4::ltree,
					sha256(k::bytea), 1000, 'jpeg', 'image/jpeg', k,
					ST_GeomFromText(nullif($5, ''), 4326), ST_GeomFromText(nullif($6, ''), 4326)
				FROM (SELECT gen_random_uuid()::text AS k) k`
			if _, err := tx.Exec(ctx, sql, m.drone, survey, user, e.townshipPath, m.point, m.footprint); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `SELECT place_media()`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRegenerateCellsKeepsMedia: regenerating a village's cells with replace deletes the old
// cells and with them their media_cells rows; the placers put every photo and drone image of
// the village, and every premise, in the new cells, each in one bulk change with one summary
// audit entry, and the report counts both. It runs as the township's coordinator, who may not
// write media_cells themselves.
func TestRegenerateCellsKeepsMedia(t *testing.T) {
	e := newEnv(t)
	e.store = regions.NewStore(premises.NewStore(), media.NewPlacer())
	ctx := context.Background()
	if _, err := e.importAs(t, nil, []byte(collection(feat("411081100201", "西村", square(113.40, 34.10, 113.41, 34.11)))), regions.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	village := int64(e.count(t, `SELECT id FROM regions WHERE code = '411081100201'`))
	generate := func(a db.Actor, spec regions.CellSpec) regions.CellsResult {
		t.Helper()
		var res regions.CellsResult
		if err := db.InScope(ctx, e.pool, a, func(tx pgx.Tx) error {
			var err error
			res, err = e.store.GenerateCells(ctx, tx, village, spec)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return res
	}
	generate(db.System("test"), regions.CellSpec{Shape: "square", Size: 300})

	const nPremises = 6
	err := db.AsSystem(ctx, e.pool, "test", func(tx pgx.Tx) error {
		for i := range nPremises {
			lon, lat := 113.4011+float64(i)*0.0015, 34.1012+float64(i)*0.0014
			if _, err := premises.NewStore().Create(ctx, tx, premises.NewPremise{Name: fmt.Sprint("户", i), Lon: &lon, Lat: &lat},
				premises.SourceRegister, 0); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ofVillage := []medium{
		{point: "POINT(113.4013 34.1021)"}, // photos
		{point: "POINT(113.4031 34.1034)"},
		{point: "POINT(113.4055 34.1062)"},
		{point: "POINT(113.4088 34.1091)"},
		{drone: true, point: "POINT(113.4035 34.1035)", footprint: box(113.402, 34.102, 113.405, 34.105)},
		{drone: true, footprint: box(113.405, 34.104, 113.409, 34.108)}, // over several cells, no point
	}
	e.addMedia(t, ofVillage...)
	inVillage := len(ofVillage)
	// One photo elsewhere in the township, in no cell: not the village's, never counted.
	e.addMedia(t, medium{point: "POINT(113.55 34.2)"})
	placedRight := func() (wrong, media float64) {
		// Every medium's cells are exactly the village's cells its point or footprint meets.
		wrong = e.count(t, `WITH want AS (
				SELECT m.id AS media_id, c.id AS cell_id,
					CASE WHEN ST_Intersects(c.geom, m.point) THEN 'point' ELSE 'footprint' END AS how
				FROM media m JOIN regions c ON c.level = 'cell'
				 AND (ST_Intersects(c.geom, m.point) OR ST_Intersects(c.geom, m.footprint)))
			SELECT count(*) FROM ((SELECT * FROM want EXCEPT SELECT media_id, cell_id, how FROM media_cells)
				UNION ALL (SELECT media_id, cell_id, how FROM media_cells EXCEPT SELECT * FROM want)) d`)
		media = e.count(t, `SELECT count(DISTINCT mc.media_id) FROM media_cells mc JOIN regions c ON c.id = mc.cell_id
			WHERE c.parent_id = $1`, village)
		return wrong, media
	}
	if wrong, n := placedRight(); wrong != 0 || n != float64(inVillage) {
		t.Fatalf("before: %v wrong placements, %v of %d media in cells", wrong, n, inVillage)
	}
	oldCells := e.count(t, `SELECT max(id) FROM regions WHERE parent_id = $1`, village)

	coord := db.Actor{Username: "coord", Role: "township_coordinator", Scope: []string{e.townshipPath}}
	res := generate(coord, regions.CellSpec{Shape: "hexagon", Size: 400, Replace: true})
	if res.Deleted == 0 || res.Created == 0 {
		t.Fatalf("replace: %+v", res)
	}
	if res.Placed["media"] != int64(inVillage) || res.Placed["premises"] != nPremises || res.PremisesMoved != nPremises {
		t.Errorf("report placed %v, premisesMoved %d; want media %d, premises %d", res.Placed, res.PremisesMoved, inVillage, nPremises)
	}
	if wrong, n := placedRight(); wrong != 0 || n != float64(inVillage) {
		t.Errorf("after replace: %v wrong placements, %v of %d media in the new cells", wrong, n, inVillage)
	}
	if n := e.count(t, `SELECT count(*) FROM media_cells WHERE cell_id <= $1`, oldCells); n != 0 {
		t.Errorf("%v media_cells rows still name old cells", n)
	}
	if n := e.count(t, `SELECT count(*) FROM media_cells mc JOIN media m ON m.id = mc.media_id
		WHERE ST_Equals(m.point, ST_SetSRID(ST_MakePoint(113.55, 34.2), 4326))`); n != 0 {
		t.Errorf("the photo outside every cell got %v cells", n)
	}
	// The grid worker of a new cell sees the photo in it again (media_cells carries the view).
	if n := e.count(t, `SELECT count(*) FROM media_cells mc JOIN regions c ON c.id = mc.cell_id
		WHERE mc.cell_path = c.path AND c.parent_id = $1`, village); n == 0 {
		t.Error("no media_cells row carries its new cell's path")
	}

	// One summary entry per placer for the change, with its counts, attributed to the
	// coordinator; no entry per row.
	summaries := e.count(t, `SELECT count(*) FROM audit_log WHERE actor = 'coord' AND entity_id = ''
		AND ((entity, action) IN (('media', 'place'), ('premises', 'reassign')))`)
	counted := e.count(t, `SELECT count(*) FROM audit_log WHERE actor = 'coord' AND region_path::text = $3
		AND ((entity = 'media' AND action = 'place' AND (after->>'placed')::int = $1)
		  OR (entity = 'premises' AND action = 'reassign' AND (after->>'moved')::int = $2))
		AND (after->>'region')::bigint = $4`, inVillage, nPremises, fmt.Sprintf("%s.%d", e.townshipPath, village), village)
	perRow := e.count(t, `SELECT count(*) FROM audit_log WHERE actor = 'coord' AND entity IN ('premises', 'media', 'media_cells') AND entity_id <> ''`)
	if summaries != 2 || counted != 2 || perRow != 0 {
		t.Errorf("audit: %v summaries (%v with the right counts and area), %v per-row entries; want 2, 2, 0", summaries, counted, perRow)
	}

	// Nothing changed, nothing recorded: importing the same boundary again places nothing anew
	// and writes no summary.
	var rep regions.Report
	err = db.InScope(ctx, e.pool, coord, func(tx pgx.Tx) error {
		features, err := e.store.ReadFeatures(ctx, []byte(collection(feat("411081100201", "西村", square(113.40, 34.10, 113.41, 34.11)))), "")
		if err != nil {
			return err
		}
		rep, err = e.store.Import(ctx, tx, features, regions.ImportOptions{})
		return err
	})
	if err != nil || rep.Placed["media"] != 0 || rep.Placed["premises"] != 0 {
		t.Errorf("re-importing the same boundary: %v, placed %v; want nothing placed anew", err, rep.Placed)
	}
	if n := e.count(t, `SELECT count(*) FROM audit_log WHERE entity_id = '' AND action IN ('place', 'reassign')`); n != 2 {
		t.Errorf("%v summaries after a change that placed nothing, want the 2 of the replace", n)
	}
}

// box is the WKT polygon of a box.
func box(x0, y0, x1, y1 float64) string {
	return fmt.Sprintf("POLYGON((%[1]v %[2]v,%[3]v %[2]v,%[3]v %[4]v,%[1]v %[4]v,%[1]v %[2]v))", x0, y0, x1, y1)
}

// TestPlacingOneImageUsesShapeIndex: placing one image finds its cells through the spatial
// index of region_shapes, on a village of about 1,600 cells with fresh statistics (ANALYZE, no
// planner settings changed). Two views: EXPLAIN of the placement query place_media runs
// (sieve_media_placement, inlined), and the transaction's own scan counters while
// place_media(ARRAY[id]) itself runs — index scans on region_shapes, no sequential scan. It
// also checks sieve_cells_in, the other way into region_shapes.
func TestPlacingOneImageUsesShapeIndex(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.importAs(t, nil, []byte(collection(feat("411081100201", "西村", square(113.40, 34.10, 113.42, 34.12)))), regions.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	village := int64(e.count(t, `SELECT id FROM regions WHERE code = '411081100201'`))
	err := db.AsSystem(ctx, e.pool, "test", func(tx pgx.Tx) error {
		_, err := e.store.GenerateCells(ctx, tx, village, regions.CellSpec{Shape: "square", Size: 50})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	cells := e.count(t, `SELECT count(*) FROM region_shapes WHERE level = 'cell'`)
	if cells < 1000 {
		t.Fatalf("only %v cells", cells)
	}
	e.addMedia(t, medium{point: "POINT(113.4107 34.1093)"})
	id := int64(e.count(t, `SELECT id FROM media`))
	if _, err := e.pool.Exec(ctx, `ANALYZE region_shapes; ANALYZE media; ANALYZE media_cells`); err != nil {
		t.Fatal(err)
	}

	var plan []string
	var seqScans, indexScans, placed int64
	err = db.AsSystem(ctx, e.pool, "test", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `EXPLAIN SELECT * FROM sieve_media_placement(ARRAY[$1]::bigint[])`, id)
		if err != nil {
			return err
		}
		if plan, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return err
		}
		// The backend's scan counters (they may include earlier transactions not yet flushed to
		// the statistics, so the difference across the call is what counts).
		const counters = `SELECT pg_stat_get_xact_numscans('region_shapes'::regclass),
			pg_stat_get_xact_numscans('region_shapes_cells'::regclass) + pg_stat_get_xact_numscans('region_shapes_geom'::regclass)`
		var seq0, idx0 int64
		if err := tx.QueryRow(ctx, counters).Scan(&seq0, &idx0); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT place_media(ARRAY[$1]::bigint[])`, id).Scan(&placed); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, counters).Scan(&seqScans, &indexScans); err != nil {
			return err
		}
		seqScans, indexScans = seqScans-seq0, indexScans-idx0
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(plan, "\n")
	if !strings.Contains(text, "region_shapes_cells") && !strings.Contains(text, "region_shapes_geom") ||
		strings.Contains(text, "Seq Scan on region_shapes") {
		t.Errorf("placing one image does not go through region_shapes' spatial index:\n%s", text)
	}
	if seqScans != 0 || indexScans == 0 || placed != 1 {
		t.Errorf("place_media(ARRAY[id]): %d sequential and %d index scans of region_shapes, %d cells; want 0, some, 1",
			seqScans, indexScans, placed)
	}

	// sieve_cells_in: the village's cells, and those meeting a box, as regions says.
	inVillage := e.count(t, `SELECT count(*) FROM sieve_cells_in($1)`, village)
	inBox := e.count(t, `SELECT count(*) FROM sieve_cells_in(NULL, ST_MakeEnvelope(113.405, 34.105, 113.408, 34.107, 4326))`)
	wantBox := e.count(t, `SELECT count(*) FROM regions WHERE level = 'cell'
		AND ST_Intersects(geom, ST_MakeEnvelope(113.405, 34.105, 113.408, 34.107, 4326))`)
	if inVillage != cells || inBox != wantBox || inBox == 0 {
		t.Errorf("sieve_cells_in: %v cells in the village (want %v), %v in the box (want %v)", inVillage, cells, inBox, wantBox)
	}
	// ... and a box's cells come through the spatial index for a caller under row-level security.
	coord := db.Actor{Username: "coord", Role: "township_coordinator", Scope: []string{e.townshipPath}}
	err = db.InScope(ctx, e.pool, coord, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `EXPLAIN SELECT * FROM sieve_cells_in(NULL, ST_MakeEnvelope(113.405, 34.105, 113.408, 34.107, 4326))`)
		if err != nil {
			return err
		}
		plan, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if text := strings.Join(plan, "\n"); err != nil || !strings.Contains(text, "region_shapes_cells") && !strings.Contains(text, "region_shapes_geom") {
		t.Errorf("sieve_cells_in of a box does not use region_shapes' spatial index: %v\n%s", err, text)
	}
}
