package db_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sieve-city/sieve/internal/audit"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/testenv"
)

// kitCity makes a city with two townships and returns their ids and paths.
func kitCity(ctx context.Context, t *testing.T, pool *pgxpool.Pool) (t1, t2 int64, t1Path, t2Path string) {
	t.Helper()
	const q = `WITH city AS (INSERT INTO regions (level, code, name) VALUES ('city', 'C', '市') RETURNING id),
		a AS (INSERT INTO regions (parent_id, level, code, name) SELECT id, 'township', 'T1', '甲镇' FROM city RETURNING id, path),
		b AS (INSERT INTO regions (parent_id, level, code, name) SELECT id, 'township', 'T2', '乙镇' FROM city RETURNING id, path)
		SELECT a.id, b.id, a.path::text, b.path::text FROM a, b`
	err := db.AsSystem(ctx, pool, "test", func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, q).Scan(&t1, &t2, &t1Path, &t2Path)
	})
	if err != nil {
		t.Fatal(err)
	}
	return t1, t2, t1Path, t2Path
}

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// TestTableKit builds a table with the kit of migration 0013 and checks what it promises: the
// catalogue test's demands are met; with writes 'scope' a caller reads and writes only in their
// area and the path is copied from the region under their policies; every row change is audited
// except in bulk loads; a second call with writes 'system' replaces the write policies, leaving
// writes to the system, which may always update (region moves).
func TestTableKit(t *testing.T) {
	pool := testenv.DB(t)
	ctx := context.Background()
	t1, t2, t1Path, t2Path := kitCity(ctx, t, pool)
	const kit = `CREATE TABLE kit_things (
			id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
			region_id bigint REFERENCES regions (id),
			region_path ltree,
			note text NOT NULL DEFAULT '');
		SELECT sieve_secure_table('kit_things', 'region_path', 'scope');
		SELECT sieve_secure_table('kit_things', 'region_path', 'scope');
		SELECT sieve_audit_table('kit_things');
		SELECT sieve_audit_table('kit_things');
		CREATE TRIGGER kit_things_region_path BEFORE INSERT OR UPDATE OF region_id ON kit_things
			FOR EACH ROW EXECUTE FUNCTION sieve_copy_path('region_id', 'regions', 'path', 'region_path')`
	if _, err := pool.Exec(ctx, kit); err != nil {
		t.Fatal(err)
	}
	for _, f := range catalogue(ctx, t, pool) {
		if f.name == "kit_things" {
			for _, p := range checkCatalogue([]tableFacts{f}) {
				t.Errorf("a table made with the kit: %s", p)
			}
		}
	}

	coord := db.Actor{Username: "c1", Role: "township_coordinator", Scope: []string{t1Path}}
	sys := db.System("test")
	exec := func(a db.Actor, sql string, args ...any) (int64, error) {
		var n int64
		err := db.InScope(ctx, pool, a, func(tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, sql, args...)
			n = tag.RowsAffected()
			return err
		})
		return n, err
	}
	insert := func(a db.Actor, region int64) (id int64, path string, err error) {
		err = db.InScope(ctx, pool, a, func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, `INSERT INTO kit_things (region_id) VALUES ($1) RETURNING id, coalesce(region_path::text, '')`, region).
				Scan(&id, &path)
		})
		return id, path, err
	}

	own, path, err := insert(coord, t1)
	if err != nil || path != t1Path {
		t.Fatalf("coordinator inserts in their township: path %q, %v; want %q", path, err, t1Path)
	}
	if _, _, err := insert(coord, t2); err == nil {
		t.Error("coordinator inserted a row in another township")
	}
	other, path, err := insert(sys, t2)
	if err != nil || path != t2Path {
		t.Fatalf("system inserts anywhere: path %q, %v; want %q", path, err, t2Path)
	}
	if n, err := exec(coord, `SELECT 1 FROM kit_things`); err != nil || n != 1 {
		t.Errorf("coordinator sees %d rows (%v), want their own one", n, err)
	}
	if n, _ := exec(coord, `UPDATE kit_things SET note = 'x' WHERE id = $1`, other); n != 0 {
		t.Error("coordinator updated a row of another township")
	}
	if n, _ := exec(coord, `DELETE FROM kit_things WHERE id = $1`, other); n != 0 {
		t.Error("coordinator deleted a row of another township")
	}
	if n, err := exec(coord, `UPDATE kit_things SET note = 'checked' WHERE id = $1`, own); err != nil || n != 1 {
		t.Errorf("coordinator updates their own row: %d, %v", n, err)
	}
	if n, err := exec(coord, `UPDATE kit_things SET region_id = $2 WHERE id = $1`, own, t2); err == nil && n != 0 {
		t.Error("coordinator moved a row out of their township")
	}

	audited := func() int64 {
		n, err := exec(sys, `SELECT 1 FROM audit_log WHERE entity = 'kit_things'`)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := audited(); n != 3 {
		t.Errorf("%d audit entries, want 3 (two inserts, one update)", n)
	}
	err = db.AsSystem(ctx, pool, "test", func(tx pgx.Tx) error {
		return db.Bulk(ctx, tx, audit.Summary{Entity: "kit_things", Action: "load"}, func(s *audit.Summary) error {
			tag, err := tx.Exec(ctx, `INSERT INTO kit_things (region_id) SELECT $1 FROM generate_series(1, 5)`, t1)
			s.Counts = map[string]int64{"created": tag.RowsAffected()}
			return err
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	// The bulk load writes its one summary entry and no row entries.
	if n := audited(); n != 4 {
		t.Errorf("a bulk load of 5 rows wrote %d audit entries, want 1 (its summary)", n-3)
	}
	if n, err := exec(sys, `SELECT 1 FROM audit_log WHERE entity = 'kit_things' AND action = 'load' AND after->>'created' = '5'`); err != nil || n != 1 {
		t.Errorf("bulk summary entries: %d (%v), want 1 counting 5 created", n, err)
	}

	if _, err := pool.Exec(ctx, `SELECT sieve_secure_table('kit_things', 'region_path', 'system')`); err != nil {
		t.Fatal(err)
	}
	var names string
	if err := pool.QueryRow(ctx, `SELECT string_agg(policyname || ':' || cmd, ' ' ORDER BY policyname) FROM pg_policies
		WHERE tablename = 'kit_things'`).Scan(&names); err != nil {
		t.Fatal(err)
	}
	if want := "kit_things_delete:DELETE kit_things_insert:INSERT kit_things_read:SELECT kit_things_system_update:UPDATE"; names != want {
		t.Errorf("policies with writes 'system': %s, want %s", names, want)
	}
	if _, _, err := insert(coord, t1); err == nil {
		t.Error("writes 'system': the coordinator still inserts")
	}
	if n, _ := exec(coord, `UPDATE kit_things SET note = 'again' WHERE id = $1`, own); n != 0 {
		t.Error("writes 'system': the coordinator still updates")
	}
	if n, err := exec(coord, `SELECT 1 FROM kit_things WHERE id = $1`, own); err != nil || n != 1 {
		t.Errorf("writes 'system': the coordinator no longer reads their area (%d, %v)", n, err)
	}
	if n, err := exec(sys, `UPDATE kit_things SET region_path = $2::ltree WHERE id = $1`, own, t1Path+".99"); err != nil || n != 1 {
		t.Errorf("the system rewrites a path (region moves): %d, %v", n, err)
	}

	for bad, want := range map[string]string{
		`SELECT sieve_secure_table('kit_things', 'note', 'scope')`:           "kit_things.note is not an ltree column",
		`SELECT sieve_secure_table('kit_things', 'region_path', 'everyone')`: "writes must be scope or system",
		`CREATE TRIGGER kit_things_typo BEFORE INSERT ON kit_things
			FOR EACH ROW EXECUTE FUNCTION sieve_copy_path('region_id', 'regions', 'path', 'region_pth');
		 SET LOCAL sieve.system = 'on';
		 INSERT INTO kit_things (region_id) VALUES (` + strconv.FormatInt(t1, 10) + `)`: "sieve_copy_path on kit_things: no column region_pth",
	} {
		if _, err := pool.Exec(ctx, bad); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error %q", bad, err, want)
		}
	}
}

// TestPathCopies checks the path copies from regions that migration 0013 moved onto
// sieve_copy_path, as they behaved before: the path follows the region id on insert and on
// update, a NULL region gives a NULL path, and a region the caller cannot see gives NULL, so
// the row is refused (by the insert policy, or surveys' NOT NULL and rounds' CHECK).
func TestPathCopies(t *testing.T) {
	pool := testenv.DB(t)
	ctx := context.Background()
	t1, t2, t1Path, t2Path := kitCity(ctx, t, pool)
	sys := db.System("test")
	coord := db.Actor{Username: "c1", Role: "township_coordinator", Scope: []string{t1Path}}
	row := func(a db.Actor, sql string, args ...any) (string, error) {
		var s string
		err := db.InScope(ctx, pool, a, func(tx pgx.Tx) error { return tx.QueryRow(ctx, sql, args...).Scan(&s) })
		return s, err
	}

	var user int64
	err := db.AsSystem(ctx, pool, "test", func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `INSERT INTO users (username, role, password_hash, region_id) VALUES ('u1', 'viewer', '!', $1) RETURNING id`, t1).Scan(&user)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		sql, want string
		args      []any
	}{
		{`SELECT coalesce(region_path::text, 'NULL') FROM users WHERE id = $1`, t1Path, []any{user}},
		{`UPDATE users SET region_id = $2 WHERE id = $1 RETURNING coalesce(region_path::text, 'NULL')`, t2Path, []any{user, t2}},
		{`UPDATE users SET role = 'city_admin', region_id = NULL WHERE id = $1 RETURNING coalesce(region_path::text, 'NULL')`, "NULL", []any{user}},
	} {
		if got, err := row(sys, step.sql, step.args...); err != nil || got != step.want {
			t.Errorf("%s: %q, %v; want %q", step.sql, got, err, step.want)
		}
	}

	const survey = `INSERT INTO surveys (region_id, operator_id, flight_date) VALUES ($1, $2, current_date) RETURNING region_path::text`
	if got, err := row(coord, survey, t1, user); err != nil || got != t1Path {
		t.Errorf("survey in the coordinator's township: %q, %v; want %q", got, err, t1Path)
	}
	// The NULL path is refused by the insert policy (checked first) or the NOT NULL constraint.
	if _, err := row(coord, survey, t2, user); pgCode(err) != "42501" && pgCode(err) != "23502" {
		t.Errorf("survey in a township the coordinator cannot see: %v, want refused for its NULL path", err)
	}

	const round = `INSERT INTO rounds (name, starts_at, ends_at, region_id) VALUES ('r', now(), now() + interval '1 day', $1)
		RETURNING coalesce(region_path::text, 'NULL')`
	if got, err := row(sys, round, nil); err != nil || got != "NULL" {
		t.Errorf("city-wide round: %q, %v; want NULL", got, err)
	}
	if got, err := row(coord, round, t1); err != nil || got != t1Path {
		t.Errorf("round of the coordinator's township: %q, %v; want %q", got, err, t1Path)
	}
	if _, err := row(coord, round, t2); pgCode(err) != "42501" && pgCode(err) != "23514" {
		t.Errorf("round of a township the coordinator cannot see: %v, want refused for its NULL path", err)
	}
}
