package db_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/testenv"
)

// TestInspectionPolicies checks the row-level security of rounds and inspections (migration
// 0011) before any API writes them: an inspector records visits only to premises of their own
// cells and only as themselves; people see the inspections of their area; a recorded
// inspection is changed only by the system's evidence check and deleted by nobody.
func TestInspectionPolicies(t *testing.T) {
	pool := testenv.DB(t)
	ctx := context.Background()
	var (
		cell1Path, town1Path, town2Path string
		p1, p2, w1, c1, c2, round       int64
	)
	err := db.AsSystem(ctx, pool, "test", func(tx pgx.Tx) error {
		const regions = `WITH city AS (INSERT INTO regions (level, code, name, geom)
				VALUES ('city', 'C', '市', ST_Multi(ST_MakeEnvelope(113, 34, 114, 35, 4326))) RETURNING id),
			t1 AS (INSERT INTO regions (parent_id, level, code, name, geom)
				SELECT id, 'township', 'T1', '甲镇', ST_Multi(ST_MakeEnvelope(113, 34, 113.5, 35, 4326)) FROM city RETURNING id, path),
			t2 AS (INSERT INTO regions (parent_id, level, code, name, geom)
				SELECT id, 'township', 'T2', '乙镇', ST_Multi(ST_MakeEnvelope(113.5, 34, 114, 35, 4326)) FROM city RETURNING id, path),
			k1 AS (INSERT INTO regions (parent_id, level, code, name, geom)
				SELECT id, 'cell', 'T1-K1', '网格1', ST_Multi(ST_MakeEnvelope(113, 34, 113.5, 35, 4326)) FROM t1 RETURNING id, path),
			k2 AS (INSERT INTO regions (parent_id, level, code, name, geom)
				SELECT id, 'cell', 'T2-K2', '网格2', ST_Multi(ST_MakeEnvelope(113.5, 34, 114, 35, 4326)) FROM t2 RETURNING id, path)
			SELECT k1.path::text, t1.path::text, t2.path::text, k1.id, k2.id, t1.id, t2.id FROM k1, t1, t2, k2`
		var k1, k2, t1, t2 int64
		if err := tx.QueryRow(ctx, regions).Scan(&cell1Path, &town1Path, &town2Path, &k1, &k2, &t1, &t2); err != nil {
			return err
		}
		const premise = `INSERT INTO premises (kind, name, geom, cell_id, region_path)
			SELECT 'household', $1, ST_SetSRID(ST_MakePoint($2, 34.5), 4326), id, path FROM regions WHERE id = $3 RETURNING id`
		if err := tx.QueryRow(ctx, premise, "甲户", 113.2, k1).Scan(&p1); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, premise, "乙户", 113.8, k2).Scan(&p2); err != nil {
			return err
		}
		const user = `INSERT INTO users (username, role, password_hash, region_id) VALUES ($1, $2, '!', $3) RETURNING id`
		if err := tx.QueryRow(ctx, user, "w1", "grid_worker", t1).Scan(&w1); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, user, "c1", "township_coordinator", t1).Scan(&c1); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, user, "c2", "township_coordinator", t2).Scan(&c2); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `INSERT INTO rounds (name, starts_at, ends_at) VALUES ('全市排查', now() - interval '1 day', now() + interval '30 days')
			RETURNING id`).Scan(&round)
	})
	if err != nil {
		t.Fatal(err)
	}
	worker := db.Actor{UserID: w1, Username: "w1", Role: "grid_worker", Scope: []string{cell1Path}}
	coord1 := db.Actor{UserID: c1, Username: "c1", Role: "township_coordinator", Scope: []string{town1Path}}
	coord2 := db.Actor{UserID: c2, Username: "c2", Role: "township_coordinator", Scope: []string{town2Path}}

	const record = `INSERT INTO inspections (id, premise_id, round_id, inspector_id, visited_at, outcome, findings)
		VALUES (gen_random_uuid(), $1, $2, $3, now(), $4, $5) RETURNING id::text, cell_id, region_path::text`
	insert := func(a db.Actor, premise, inspector int64, outcome string, findings []string) (string, error) {
		var id, path string
		var cell int64
		err := db.InScope(ctx, pool, a, func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, record, premise, round, inspector, outcome, findings).Scan(&id, &cell, &path)
		})
		if err == nil && path != cell1Path {
			t.Errorf("inspection placed at %q, want the premise's cell %q", path, cell1Path)
		}
		return id, err
	}
	id, err := insert(worker, p1, w1, "suspected", []string{"unlicensed", "factory_in_factory"})
	if err != nil {
		t.Fatalf("worker records a visit in their cell: %v", err)
	}
	if _, err := insert(worker, p2, w1, "clear", []string{}); err == nil {
		t.Error("worker recorded a visit to a premise of another township")
	}
	if _, err := insert(worker, p1, c1, "clear", []string{}); err == nil {
		t.Error("worker recorded a visit in someone else's name")
	}
	if _, err := insert(worker, p1, w1, "clear", []string{"unlicensed"}); !isCheckViolation(err) {
		t.Errorf("findings on a clear visit: %v, want a check violation", err)
	}

	count := func(a db.Actor, sql string, args ...any) int64 {
		var n int64
		err := db.InScope(ctx, pool, a, func(tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, sql, args...)
			n = tag.RowsAffected()
			return err
		})
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return n
	}
	const see = `SELECT 1 FROM inspections WHERE id = $1::uuid`
	if count(worker, see, id) != 1 || count(coord1, see, id) != 1 || count(coord2, see, id) != 0 {
		t.Error("inspection visibility: want the worker and their coordinator, not the other township")
	}
	if n := count(db.Actor{}, see, id); n != 0 {
		t.Errorf("no actor sees %d inspections", n)
	}
	if n := count(worker, `UPDATE inspections SET outcome = 'clear', findings = '{}' WHERE id = $1::uuid`, id); n != 0 {
		t.Error("the inspector changed a recorded inspection")
	}
	if n := count(coord1, `DELETE FROM inspections WHERE id = $1::uuid`, id); n != 0 {
		t.Error("a coordinator deleted an inspection")
	}
	if n := count(db.System("evidence"), `UPDATE inspections SET evidence = 'flagged', evidence_flags = '{no_photo}' WHERE id = $1::uuid`, id); n != 1 {
		t.Error("the system's evidence check cannot update an inspection")
	}
	if count(worker, `SELECT 1 FROM rounds WHERE id = $1`, round) != 1 || count(db.Actor{}, `SELECT 1 FROM rounds`) != 0 {
		t.Error("a city-wide round: every signed-in caller sees it, no actor does not")
	}
	if n := count(coord1, `UPDATE rounds SET name = '改名' WHERE id = $1`, round); n != 0 {
		t.Error("a township coordinator changed a city-wide round")
	}
}

func isCheckViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23514"
}
