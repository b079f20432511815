package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twpayne/go-geom"

	"github.com/sieve-city/sieve/gis"
	"github.com/sieve-city/sieve/internal/accounts"
	"github.com/sieve-city/sieve/internal/audit"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/inspections"
	"github.com/sieve-city/sieve/internal/jobs"
	"github.com/sieve-city/sieve/internal/media"
	"github.com/sieve-city/sieve/internal/premises"
	"github.com/sieve-city/sieve/internal/regions"
)

const demoUsage = `usage: sieve demo [--credentials FILE] [--premises N] [--photos N]

Loads the demo city modelled on Yuzhou (禹州市, 411081): its 26 township-level units as
plausible polygons tiling the city, villages and communities inside them, grid cells inside
those, about N premises (default 60000) including the four exited enterprises of the seed's
附件1, three users (admin, a coordinator of 朱阁镇, a grid worker of 大墙王村) whose passwords
are printed (and written to FILE with --credentials), a grid worker holding the cells of each
other village (no password anyone knows), and a current inspection round with inspections of
a share of the premises that differs by township, N of them (default 60; 0: none) with
photos sent through the media path to MinIO (their jobs run in sieve serve). Does nothing when
the city is already loaded.`

// demoCityCode is the division code of the demo city; its presence means the demo is loaded.
const demoCityCode = "411081"

// cmdDemo builds the demo city, as the system (audit actor system:demo), in one transaction.
func cmdDemo(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sieve demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	credFile := fs.String("credentials", "", "also write the demo logins to this file (mode 0600)")
	nPremises := fs.Int("premises", 60000, "about how many premises to generate")
	nPhotos := fs.Int("photos", demoPhotoVisits, "how many inspections get photos (through MinIO; 0: none)")
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 || *nPremises < 100 || *nPremises > 2_000_000 ||
		*nPhotos < 0 || *nPhotos > 10_000 {
		return usageError(demoUsage)
	}
	a, err := open(ctx, getenv, stderr, *nPhotos > 0)
	if err != nil {
		return err
	}
	defer a.close()
	if _, err := db.Migrate(ctx, a.pool, a.log); err != nil {
		return err
	}
	start := time.Now()
	// The demo's inspections are judged by the evidence job, as the phone's are: enqueued here,
	// run by `sieve serve` (or `sieve worker`).
	q := jobs.New(a.pool, jobs.DefaultOptions(0), a.log)
	ins, err := inspections.New(inspections.Deps{Pool: a.pool, Jobs: q, Evidence: a.cfg.Evidence, Now: time.Now, Log: a.log})
	if err != nil {
		return err
	}
	// The photos go through the media service (its jobs enqueued on the same queue, a processed
	// photo re-checking the inspections that cite it, as in serve).
	var svc *media.Service
	domains := []jobs.Domain{ins}
	if *nPhotos > 0 {
		if svc, err = a.mediaService(q, media.Hooks{Processed: []func(context.Context, pgx.Tx, int64) error{ins.MediaProcessed}}); err != nil {
			return err
		}
		domains = []jobs.Domain{svc, ins}
	}
	if err := q.Build(domains...); err != nil {
		return err
	}
	d := &demo{ctx: ctx, acc: a.accounts(), ps: premises.NewStore(), rng: mrand.New(mrand.NewPCG(411081, 2024)), ins: ins}
	d.rs = a.regionStore(d.ps)
	var creds []string
	toppedUp := false
	err = db.AsSystem(ctx, a.pool, "demo", func(tx pgx.Tx) error {
		d.tx = tx
		var loaded bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM regions WHERE code = $1)`, demoCityCode).Scan(&loaded); err != nil {
			return err
		}
		if loaded {
			// A city loaded before inspections existed (migration 0011) gets them now.
			var rounds bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM rounds)`).Scan(&rounds); err != nil || rounds {
				return cmp.Or(err, errDemoLoaded)
			}
			if err := d.gridWorkers(); err != nil {
				return fmt.Errorf("demo: grid workers: %w", err)
			}
			if err := d.inspections(); err != nil {
				return fmt.Errorf("demo: inspections: %w", err)
			}
			toppedUp = true
			return nil
		}
		steps := []struct {
			name string
			fn   func() error
		}{
			{"city and townships", d.townships},
			{"villages", d.villages},
			{"grid cells", d.cells},
			{"premises", func() error { return d.premises(*nPremises) }},
			{"exited enterprises", d.exited},
			{"users", func() (err error) { creds, err = d.users(); return err }},
			{"grid workers", d.gridWorkers},
			{"inspections", d.inspections},
		}
		for _, s := range steps {
			t := time.Now()
			if err := s.fn(); err != nil {
				return fmt.Errorf("demo: %s: %w", s.name, err)
			}
			a.log.Info("demo", "step", s.name, "took", time.Since(t).Round(time.Millisecond))
		}
		return nil
	})
	if err != nil && err != errDemoLoaded {
		return err
	}
	loaded := err == errDemoLoaded
	if loaded || toppedUp {
		// A city loaded before the public tips existed gets them now (demoTips does nothing
		// when there are tips already); photos only on a fresh load.
		nTips, err := a.demoTips(ctx, svc, false)
		if err != nil {
			return err
		}
		var added []string
		if toppedUp {
			added = append(added, "its grid workers and inspections")
		}
		if nTips > 0 {
			added = append(added, fmt.Sprintf("%d tips", nTips))
		}
		if len(added) == 0 {
			fmt.Fprintln(stdout, "demo city 禹州市 (411081) is already loaded; nothing done")
		} else {
			fmt.Fprintf(stdout, "demo city 禹州市 (411081) is already loaded; added %s\n", strings.Join(added, " and "))
		}
		return nil
	}
	nStored := 0
	if *nPhotos > 0 {
		t := time.Now()
		if err := a.blob.EnsureBuckets(ctx); err != nil {
			return fmt.Errorf("demo: photos: %w (is MinIO running? ./deploy/local/stack.sh up)", err)
		}
		if nStored, err = photos(ctx, a.pool, svc, ins, *nPhotos); err != nil {
			return fmt.Errorf("demo: photos: %w", err)
		}
		a.log.Info("demo", "step", "photos", "stored", nStored, "took", time.Since(t).Round(time.Millisecond))
	}
	t := time.Now()
	nTips, err := a.demoTips(ctx, svc, *nPhotos > 0)
	if err != nil {
		return err
	}
	a.log.Info("demo", "step", "tips", "posted", nTips, "took", time.Since(t).Round(time.Millisecond))
	var sum struct {
		townships, villages, cells, premises, inspections int
		area                                              float64
	}
	err = db.AsSystem(ctx, a.pool, "demo", func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM regions WHERE level = 'township'), (SELECT count(*) FROM regions WHERE level = 'village'),
			(SELECT count(*) FROM regions WHERE level = 'cell'), (SELECT count(*) FROM premises),
			(SELECT count(*) FROM inspections), (SELECT `+gis.AreaKm2("geom")+` FROM regions WHERE code = $1)`, demoCityCode).
			Scan(&sum.townships, &sum.villages, &sum.cells, &sum.premises, &sum.inspections, &sum.area)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "demo city 禹州市 loaded in %s: %.0f km², %d townships and streets, %d villages and communities, %d grid cells, %d premises, %d inspections, %d photos, %d tips\n",
		time.Since(start).Round(time.Second), sum.area, sum.townships, sum.villages, sum.cells, sum.premises, sum.inspections, nStored, nTips)
	fmt.Fprintln(stdout, "logins (shown once; change them with sieve user set-password):")
	for _, c := range creds {
		fmt.Fprintln(stdout, "  "+c)
	}
	if *credFile != "" {
		if err := os.WriteFile(*credFile, []byte(strings.Join(creds, "\n")+"\n"), 0o600); err != nil {
			return err
		}
	}
	return nil
}

var errDemoLoaded = errors.New("demo already loaded")

type demo struct {
	ctx context.Context
	tx  pgx.Tx
	acc *accounts.Store
	ps  *premises.Store
	rs  *regions.Store
	rng *mrand.Rand
	ins *inspections.Service
}

func (d *demo) exec(sql string, args ...any) error {
	_, err := d.tx.Exec(d.ctx, sql, args...)
	return err
}

// townships makes the city outline and the township polygons: the Voronoi cells of the
// townships' seed points, clipped to the outline.
func (d *demo) townships() error {
	const n = 96
	flat := make([]float64, 0, 2*(n+1))
	for i := 0; i <= n; i++ {
		th := 2 * math.Pi * float64(i%n) / n
		r := 1 + 0.06*math.Sin(3*th+0.5) + 0.04*math.Cos(5*th+1.3)
		flat = append(flat, demoCentreLon+demoSemiLon*r*math.Cos(th), demoCentreLat+demoSemiLat*r*math.Sin(th))
	}
	outline := geom.NewPolygonFlat(geom.XY, flat, []int{len(flat)})
	wkb, err := gis.EncodeWKB(outline)
	if err != nil {
		return err
	}
	err = d.exec(`INSERT INTO regions (level, code, name, kind, geom) VALUES ('city', $1, '禹州市', '县级市', `+
		gis.MakeValidPolygonal(gis.GeomFromWKB(2))+`)`, demoCityCode, wkb)
	if err != nil {
		return err
	}
	var codes, names, kinds []string
	var lons, lats []float64
	for _, t := range demoTownships {
		codes, names, kinds = append(codes, t.Code), append(names, t.Name), append(kinds, t.Kind)
		lons, lats = append(lons, demoCentreLon+demoSemiLon*t.U), append(lats, demoCentreLat+demoSemiLat*t.V)
	}
	const sql = `WITH city AS (SELECT id, geom FROM regions WHERE code = $1),
		seeds AS (SELECT s.*, ST_SetSRID(ST_MakePoint(s.lon, s.lat), 4326) AS pt
			FROM unnest($2::text[], $3::text[], $4::text[], $5::float8[], $6::float8[]) AS s(code, name, kind, lon, lat)),
		cells AS (SELECT (ST_Dump(ST_VoronoiPolygons(ST_Collect(pt), 0, (SELECT geom FROM city)))).geom AS cell FROM seeds)
		INSERT INTO regions (parent_id, level, code, name, kind, geom)
		SELECT city.id, 'township', s.code, s.name, s.kind, ` + "ST_Multi(ST_CollectionExtract(ST_MakeValid(ST_Intersection(ST_SetSRID(c.cell, 4326), city.geom)), 3))" + `
		FROM seeds s JOIN cells c ON ST_Contains(ST_SetSRID(c.cell, 4326), s.pt) CROSS JOIN city`
	return d.exec(sql, demoCityCode, codes, names, kinds, lons, lats)
}

// villages splits each township into villages (communities in the streets), about 2.4 km²
// each (0.8 km² in the streets), again as clipped Voronoi cells of random points, coded by
// position north to south, and names them.
func (d *demo) villages() error {
	const sql = `WITH t AS (
			SELECT id, code, kind, geom,
				greatest(3, round(` + "ST_Area(geom::geography)/1e6" + ` / CASE WHEN kind = '街道' THEN 0.8 ELSE 2.4 END))::int AS n,
				row_number() OVER (ORDER BY code) AS seed
			FROM regions WHERE level = 'township'),
		cells AS (
			SELECT t.id, t.code, t.kind, t.geom,
				(ST_Dump(ST_VoronoiPolygons(ST_GeneratePoints(t.geom, t.n, t.seed::int), 0, t.geom))).geom AS cell
			FROM t),
		clipped AS (
			SELECT id, code, kind, ` + "ST_Multi(ST_CollectionExtract(ST_MakeValid(ST_Intersection(ST_SetSRID(cell, 4326), geom)), 3))" + ` AS g
			FROM cells),
		numbered AS (
			SELECT id, code, kind, g, row_number() OVER (PARTITION BY id ORDER BY ST_Y(ST_Centroid(g)) DESC, ST_X(ST_Centroid(g))) AS k
			FROM clipped WHERE NOT ST_IsEmpty(g))
		INSERT INTO regions (parent_id, level, code, name, kind, geom)
		SELECT id, 'village', code || lpad((CASE WHEN kind = '街道' THEN k ELSE 200 + k END)::text, 3, '0'),
			code || '-' || k, CASE WHEN kind = '街道' THEN '社区' ELSE '村' END, g
		FROM numbered`
	if err := d.exec(sql); err != nil {
		return err
	}
	rows, err := d.tx.Query(d.ctx, `SELECT v.id, v.kind, t.code FROM regions v JOIN regions t ON t.id = v.parent_id
		WHERE v.level = 'village' ORDER BY v.code`)
	if err != nil {
		return err
	}
	type village struct {
		id             int64
		kind, township string
	}
	var vs []village
	for rows.Next() {
		var v village
		if err := rows.Scan(&v.id, &v.kind, &v.township); err != nil {
			return err
		}
		vs = append(vs, v)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	b := &pgx.Batch{}
	used := map[string]bool{}
	for i, v := range vs {
		var name string
		for try := 0; name == "" || used[v.township+name]; try++ {
			if v.kind == "社区" {
				name = demoCommunities[(i+try)%len(demoCommunities)] + "社区"
				if try >= len(demoCommunities) {
					name = fmt.Sprintf("%s%d社区", demoCommunities[(i+try)%len(demoCommunities)], try/len(demoCommunities)+1)
				}
			} else {
				name = pick(d.rng, demoVillagePrefix) + pick(d.rng, demoSurnames) + pick(d.rng, demoVillageSuffix) + "村"
			}
		}
		if v.township == "411081113" && !used[v.township+"大墙王村"] {
			name = "大墙王村" // the address of 禹州市恒发溶解乙炔气厂 (附件1)
		}
		used[v.township+name] = true
		b.Queue(`UPDATE regions SET name = $2 WHERE id = $1`, v.id, name)
	}
	return d.tx.SendBatch(d.ctx, b).Close()
}

func pick(r *mrand.Rand, list []string) string { return list[r.IntN(len(list))] }

// cells splits every village into square cells (hexagons in 神垕镇 and 鸠山镇, to show both)
// sized for about six cells a village.
func (d *demo) cells() error {
	rows, err := d.tx.Query(d.ctx, `SELECT t.id, t.code,
			sqrt(avg(`+"ST_Area(v.geom::geography)"+`) / 6)
		FROM regions t JOIN regions v ON v.parent_id = t.id AND v.level = 'village'
		WHERE t.level = 'township' GROUP BY t.id, t.code ORDER BY t.code`)
	if err != nil {
		return err
	}
	type township struct {
		id   int64
		code string
		size float64
	}
	var ts []township
	for rows.Next() {
		var t township
		if err := rows.Scan(&t.id, &t.code, &t.size); err != nil {
			return err
		}
		ts = append(ts, t)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, t := range ts {
		shape := "square"
		if t.code == "411081103" || t.code == "411081109" {
			shape = "hexagon"
		}
		size := math.Max(100, math.Round(t.size/50)*50)
		if _, err := d.rs.GenerateCells(d.ctx, d.tx, t.id, regions.CellSpec{Shape: shape, Size: size}); err != nil {
			return fmt.Errorf("%s: %w", t.code, err)
		}
	}
	return nil
}

// premises scatters about n premises over the cells (four times as dense in the streets) and
// imports them through the register's own bulk import.
func (d *demo) premises(n int) error {
	var cells, streetCells float64
	if err := d.tx.QueryRow(d.ctx, `SELECT count(*), count(*) FILTER (WHERE t.kind = '街道')
		FROM regions c JOIN regions t ON c.path <@ t.path AND t.level = 'township' WHERE c.level = 'cell'`).
		Scan(&cells, &streetCells); err != nil {
		return err
	}
	perCell := float64(n) / (cells + 3*streetCells)
	const sql = `SELECT ST_X(p.geom), ST_Y(p.geom), t.name, t.code, v.name, c.code
		FROM regions c
		JOIN regions v ON v.id = c.parent_id
		JOIN regions t ON t.id = v.parent_id
		CROSS JOIN LATERAL (SELECT (ST_Dump(ST_GeneratePoints(c.geom,
			greatest(1, round($1 * CASE WHEN t.kind = '街道' THEN 4 ELSE 1 END * (0.5 + (abs(hashtext(c.code)) % 100) / 100.0)))::int,
			(c.id % 100000)::int))).geom) p
		WHERE c.level = 'cell'
		ORDER BY c.code`
	rows, err := d.tx.Query(d.ctx, sql, perCell)
	if err != nil {
		return err
	}
	b := &premises.Batch{}
	line := 0
	for rows.Next() {
		var (
			lon, lat                        float64
			township, tcode, village, ccode string
		)
		if err := rows.Scan(&lon, &lat, &township, &tcode, &village, &ccode); err != nil {
			return err
		}
		line++
		b.Add(d.premise(lon, lat, township, tcode, village, line), gis.WGS84, line)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(b.Issues) > 0 {
		return fmt.Errorf("generated premise invalid: %+v", b.Issues[0])
	}
	_, err = d.ps.Import(d.ctx, d.tx, b, 0)
	return err
}

// premise makes up one premise at a point: mostly households, some firms, idle and abandoned
// places; 神垕's traditional ceramics workshops are tagged, and so is the urban-rural fringe
// of the towns around the streets.
func (d *demo) premise(lon, lat float64, township, tcode, village string, i int) premises.NewPremise {
	r := d.rng
	person := pick(r, demoSurnames) + pick(r, demoGiven)
	phone := fmt.Sprintf("1%d%09d", 3+r.IntN(7), r.IntN(1_000_000_000))
	n := premises.NewPremise{Lon: &lon, Lat: &lat, ContactName: person, ContactPhone: phone,
		Address: fmt.Sprintf("禹州市%s%s%d号", township, village, 1+r.IntN(300)), Ref: fmt.Sprintf("DEMO-%06d", i)}
	switch x := r.Float64(); {
	case x < 0.86:
		n.Kind, n.Name = string(premises.Household), person+"家"
	case x < 0.93:
		n.Kind = string(premises.Enterprise)
		n.Name = "禹州市" + pick(r, demoFirmWords) + pick(r, demoIndustries) + "有限公司"
		n.CreditCode = creditCode(r)
	case x < 0.95:
		n.Kind, n.Name = string(premises.IdleFactory), village+"闲置厂房"
	case x < 0.965:
		n.Kind, n.Name = string(premises.IdleWarehouse), village+"闲置仓库"
	case x < 0.98:
		n.Kind, n.Name = string(premises.AbandonedFarm), village+"废弃养殖场"
	default:
		n.Kind, n.Name = string(premises.IdleHouse), person+"闲置房屋"
	}
	if tcode == "411081103" && r.Float64() < 0.3 {
		n.Tags = append(n.Tags, premises.TagWorkshopArea)
	}
	if math.Hypot((lon-113.47)/0.06, (lat-34.15)/0.05) < 1 && r.Float64() < 0.5 {
		n.Tags = append(n.Tags, premises.TagUrbanRuralFringe)
	}
	return n
}

// creditCode makes up an 18-character unified social credit code of a Yuzhou firm.
func creditCode(r *mrand.Rand) string {
	const chars = "0123456789ABCDEFGHJKLMNPQRTUWXY"
	b := []byte("91411081")
	for len(b) < 18 {
		b = append(b, chars[r.IntN(len(chars))])
	}
	return string(b)
}

// exited places the four firms of the seed's 附件1 in the townships their addresses name.
func (d *demo) exited() error {
	for i, f := range demoExited {
		var lon, lat float64
		const sql = `SELECT ST_X(p), ST_Y(p) FROM (
			SELECT ST_PointOnSurface(coalesce(
				(SELECT v.geom FROM regions v JOIN regions t ON t.id = v.parent_id WHERE t.code = $1 AND v.name = $2),
				(SELECT v.geom FROM regions v JOIN regions t ON t.id = v.parent_id WHERE t.code = $1 ORDER BY v.code OFFSET $3 LIMIT 1))) AS p) x`
		if err := d.tx.QueryRow(d.ctx, sql, f.Township, f.Village, i%3+1).Scan(&lon, &lat); err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
		_, err := d.ps.Create(d.ctx, d.tx, premises.NewPremise{Kind: string(premises.Enterprise), Name: f.Name,
			Address: f.Address, Tags: []string{premises.TagExitedHazchem}, Ref: fmt.Sprintf("附件1-%d", i+1),
			Lon: &lon, Lat: &lat}, premises.SourceRegister, 0)
		if err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
	}
	return nil
}

// users adds the city administrator, a coordinator of 朱阁镇 and a grid worker holding the
// cells of 大墙王村, with random passwords, and returns "username password role" lines.
func (d *demo) users() ([]string, error) {
	var zhuge, village int64
	var cells []int64
	if err := d.tx.QueryRow(d.ctx, `SELECT t.id, v.id, (SELECT array_agg(c.id ORDER BY c.code) FROM regions c WHERE c.parent_id = v.id)
		FROM regions t JOIN regions v ON v.parent_id = t.id WHERE t.code = '411081113' AND v.name = '大墙王村'`).
		Scan(&zhuge, &village, &cells); err != nil {
		return nil, err
	}
	users := []accounts.NewUser{
		{Username: "admin", DisplayName: "市安委办管理员", Role: accounts.CityAdmin},
		{Username: "zhuge", DisplayName: "朱阁镇安委办", Role: accounts.TownshipCoordinator, RegionID: &zhuge},
		{Username: "dqw01", DisplayName: "大墙王村网格员", Role: accounts.GridWorker, RegionID: &village, CellIDs: cells},
	}
	var out []string
	for _, u := range users {
		var exists bool
		if err := d.tx.QueryRow(d.ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE username = $1)`, u.Username).Scan(&exists); err != nil {
			return nil, err
		}
		if exists {
			out = append(out, fmt.Sprintf("%-6s (already existed, password unchanged)", u.Username))
			continue
		}
		u.Password = randomPassword()
		if _, err := d.acc.Create(d.ctx, d.tx, accounts.CityAdmin, u); err != nil {
			return nil, fmt.Errorf("user %s: %w", u.Username, err)
		}
		out = append(out, fmt.Sprintf("%-6s %s  (%s)", u.Username, u.Password, u.Role))
	}
	return out, nil
}

// gridWorkers adds a grid worker (网格员) for every village that has none, holding all its cells,
// so that every inspection has its inspector. Their password is random and shown nowhere (one
// hash for all of them, made once: hashing 700 passwords would take over a minute); an
// administrator gives one a password with sieve user set-password.
func (d *demo) gridWorkers() error {
	hash, err := d.acc.Hasher.Hash(d.ctx, randomPassword()+randomPassword())
	if err != nil {
		return err
	}
	const workers = `WITH v AS (
			SELECT v.id, v.code, v.name FROM regions v
			WHERE v.level = 'village'
			  AND NOT EXISTS (SELECT 1 FROM cell_assignments a JOIN regions c ON c.id = a.cell_id WHERE c.parent_id = v.id)),
		u AS (
			INSERT INTO users (username, display_name, role, password_hash, region_id)
			SELECT 'gw' || v.code, left(v.name, 90) || '网格员', 'grid_worker', $1, v.id FROM v
			RETURNING id, region_id, region_path)
		INSERT INTO cell_assignments (user_id, cell_id, cell_path)
		SELECT u.id, c.id, c.path FROM u JOIN regions c ON c.parent_id = u.region_id AND c.level = 'cell'`
	return d.exec(workers, hash)
}

// inspections opens the current round (started 40 days ago, ends in 50 days) and records
// inspections by each cell's grid worker over its first 40 days: a share of each township's
// premises between 15 % and 85 % (so some townships lag), mostly clear, some closed or refused,
// a few suspected with findings; the four exited enterprises are all inspected, their
// production equipment removed. No photos: they come with the phone app. One bulk change: a
// single summary audit entry (inspections, generate, created) instead of one per inspection.
func (d *demo) inspections() error {
	const round = `INSERT INTO rounds (name, starts_at, ends_at)
		VALUES ('非法违法"小化工"集中排查整治', date_trunc('day', now()) - interval '40 days', date_trunc('day', now()) + interval '50 days')
		RETURNING id, (SELECT id FROM regions WHERE code = $1)`
	var roundID, city int64
	if err := d.tx.QueryRow(d.ctx, round, demoCityCode).Scan(&roundID, &city); err != nil {
		return err
	}
	const sql = `WITH src AS (
			SELECT p.id, p.geom, p.kind, $2 = ANY (p.tags) AS exited, a.user_id,
				random() AS pick, random() AS o, random() AS f, random() AS t, random() AS g1, random() AS g2,
				0.15 + (abs(hashtext(t.code)) % 71) / 100.0 AS share
			FROM premises p
			JOIN LATERAL (SELECT min(user_id) AS user_id FROM cell_assignments a WHERE a.cell_id = p.cell_id) a ON true
			JOIN regions t ON t.level = 'township' AND p.region_path <@ t.path
			WHERE a.user_id IS NOT NULL
			ORDER BY p.id),
		visit AS (
			SELECT src.*,
				CASE WHEN exited THEN 'clear'
				     WHEN o < CASE WHEN kind = 'household' THEN 0.003 ELSE 0.04 END THEN 'suspected'
				     WHEN o < 0.08 THEN 'closed'
				     WHEN o < 0.095 THEN 'refused'
				     WHEN o < 0.10 THEN 'not_found'
				     ELSE 'clear' END AS outcome
			FROM src WHERE exited OR pick < share)
		INSERT INTO inspections (id, premise_id, round_id, inspector_id, visited_at, device_point, device_accuracy_m,
			outcome, findings, equipment_removed, converted, note)
		SELECT gen_random_uuid(), id, $1, user_id,
			(date_trunc('day', now() AT TIME ZONE 'Asia/Shanghai') - (1 + floor(t * 40)) * interval '1 day'
				+ interval '8 hours' + g1 * interval '10 hours') AT TIME ZONE 'Asia/Shanghai',
			ST_Project(geom::geography, 3 + g2 * 25, g1 * 2 * pi())::geometry, 5 + round((g2 * 25)::numeric, 1),
			outcome,
			CASE WHEN outcome <> 'suspected' THEN '{}'::text[]
			     WHEN f < 0.35 THEN ARRAY['unlicensed']
			     WHEN f < 0.55 THEN ARRAY['non_chemical_producing', 'unlicensed']
			     WHEN f < 0.70 THEN ARRAY['affiliated_leased']
			     WHEN f < 0.80 THEN ARRAY['factory_in_factory']
			     WHEN f < 0.92 THEN ARRAY['beyond_licence']
			     ELSE ARRAY['other'] END,
			CASE WHEN exited THEN true END,
			CASE WHEN exited THEN f < 0.5 END,
			CASE WHEN exited THEN '生产装置已拆除' || CASE WHEN f < 0.5 THEN '，已转产' ELSE '' END
			     WHEN outcome = 'suspected' THEN (ARRAY['发现疑似反应釜及原料桶，待核实', '院内有刺激性气味，夜间疑似生产',
			         '闲置厂房内有化工原料包装袋', '用电量异常，门口有槽罐车停靠'])[1 + floor(f * 4)::int]
			     WHEN outcome = 'closed' THEN '大门紧锁，无人在家，需再次走访'
			     WHEN outcome = 'refused' THEN '拒绝入内检查，已报乡镇安委办'
			     WHEN outcome = 'not_found' THEN '现场未找到该场所，疑已拆除'
			     ELSE '' END
		FROM visit`
	if err := d.exec(`SELECT setseed(0.411081)`); err != nil {
		return err
	}
	sum := audit.Summary{Entity: "inspections", Action: "generate", RegionID: city}
	err := db.Bulk(d.ctx, d.tx, sum, func(sum *audit.Summary) error {
		tag, err := d.tx.Exec(d.ctx, sql, roundID, premises.TagExitedHazchem)
		if err != nil {
			return err
		}
		sum.Counts = map[string]int64{"created": tag.RowsAffected()}
		return d.formalism(roundID)
	})
	if err != nil {
		return err
	}
	rows, err := d.tx.Query(d.ctx, `SELECT id::text FROM inspections WHERE round_id = $1 ORDER BY visited_at`, roundID)
	if err != nil {
		return err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	return d.ins.EnqueueChecks(d.ctx, d.tx, ids)
}

// formalismVillages are the villages (by the order of their codes) whose first grid worker
// looks like a formalism case (形式主义) in the demo: checks reported but never really done.
var formalismVillages = []int{7, 77, 177}

// formalism rewrites the visits of three grid workers so that the evidence check finds them
// out, each in its own way: the first sends mock fixes (accuracy exactly 0, as Android reports
// them); the second ticks through the list from a desk (every visit 60-90 s after the last,
// all from one point: the village committee, far from most premises); the third reports from
// a few kilometres away with a poor fix. The others' visits stay genuine (GPS noise of
// 3-28 m). Photos are not generated: the demo has no phone camera to take them.
func (d *demo) formalism(round int64) error {
	const sql = `WITH v AS (
			SELECT id, row_number() OVER (ORDER BY code) AS n FROM regions WHERE level = 'village'),
		w AS (
			SELECT v.n, (SELECT min(a.user_id) FROM cell_assignments a JOIN regions c ON c.id = a.cell_id
				WHERE c.parent_id = v.id) AS user_id, (SELECT ST_PointOnSurface(geom) FROM regions WHERE id = v.id) AS office
			FROM v WHERE v.n = ANY ($2::int[])),
		visits AS (
			SELECT i.id, w.n, w.office, row_number() OVER (PARTITION BY w.n ORDER BY i.visited_at) AS k,
				min(i.visited_at) OVER (PARTITION BY w.n) AS first
			FROM inspections i JOIN w ON w.user_id = i.inspector_id WHERE i.round_id = $1)
		UPDATE inspections i SET
			device_accuracy_m = CASE visits.n WHEN $3 THEN 0 WHEN $5 THEN 250 ELSE i.device_accuracy_m END,
			device_point = CASE visits.n WHEN $4 THEN visits.office
				WHEN $5 THEN ST_Project(i.device_point::geography, 3000, 1.0)::geometry ELSE i.device_point END,
			visited_at = CASE visits.n WHEN $4 THEN visits.first + (visits.k - 1) * interval '75 seconds' ELSE i.visited_at END
		FROM visits WHERE visits.id = i.id`
	f := formalismVillages
	return d.exec(sql, round, f, f[0], f[1], f[2])
}

func randomPassword() string {
	const chars = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = chars[int(b[i])%len(chars)]
	}
	return string(b)
}
