package db_test

import (
	"context"
	"fmt"
	"testing"
	"testing/fstest"

	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/testenv"
)

// embeddedFS is a test filesystem holding the embedded migrations under m/, plus extra files.
func embeddedFS(t *testing.T, extra map[string]string) (fstest.MapFS, int) {
	t.Helper()
	ms, err := db.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	fsys := fstest.MapFS{}
	for _, m := range ms {
		fsys[fmt.Sprintf("m/%04d_%s.sql", m.Version, m.Name)] = &fstest.MapFile{Data: []byte(m.SQL)}
	}
	for name, sql := range extra {
		fsys["m/"+name] = &fstest.MapFile{Data: []byte(sql)}
	}
	return fsys, ms[len(ms)-1].Version
}

// TestMigrateRefusesOutOfOrder: on a database migrated to the highest embedded version, a
// migration numbered below it that was never applied (a branch that took its number before
// another branch landed a higher one) is refused, nothing of it runs, and the message says to
// renumber it.
func TestMigrateRefusesOutOfOrder(t *testing.T) {
	pool := testenv.DB(t)
	ctx := context.Background()
	fsys, highest := embeddedFS(t, map[string]string{
		"0009_late.sql":  "CREATE TABLE late_table (id int)",
		"9998_after.sql": "CREATE TABLE after_table (id int)",
	})
	n, err := db.MigrateFS(ctx, pool, testenv.Logger(), fsys, "m")
	if err == nil {
		t.Fatalf("an unapplied migration below %04d was accepted (%d applied)", highest, n)
	}
	want := fmt.Sprintf("db: migration 0009_late is not applied but %04d is: migrations must land in order; renumber it above %04d",
		highest, highest)
	if err.Error() != want {
		t.Errorf("error:\n got %s\nwant %s", err, want)
	}
	if n != 0 {
		t.Errorf("%d migrations applied before the refusal", n)
	}
	var late, after bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass('late_table') IS NOT NULL, to_regclass('after_table') IS NOT NULL`).Scan(&late, &after); err != nil {
		t.Fatal(err)
	}
	if late || after {
		t.Errorf("refused run still changed the schema: late_table %v, after_table %v", late, after)
	}
	var recorded int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM schema_migrations WHERE version IN (9, 9998)`).Scan(&recorded); err != nil {
		t.Fatal(err)
	}
	if recorded != 0 {
		t.Errorf("refused run recorded %d versions", recorded)
	}
}

// TestMigrateAppliesNewerInOrder: migrations above the highest applied one are applied in
// version order, each once; a second run applies nothing.
func TestMigrateAppliesNewerInOrder(t *testing.T) {
	pool := testenv.DB(t)
	ctx := context.Background()
	fsys, _ := embeddedFS(t, map[string]string{
		"9998_first.sql":  "CREATE TABLE ordered_a (id int)",
		"9999_second.sql": "CREATE TABLE ordered_b (LIKE ordered_a)", // fails unless 9998 ran first
	})
	n, err := db.MigrateFS(ctx, pool, testenv.Logger(), fsys, "m")
	if err != nil || n != 2 {
		t.Fatalf("applied %d, %v; want the two new migrations", n, err)
	}
	var names string
	if err := pool.QueryRow(ctx, `SELECT string_agg(name, ',' ORDER BY version) FROM schema_migrations WHERE version >= 9998`).Scan(&names); err != nil {
		t.Fatal(err)
	}
	if names != "first,second" {
		t.Errorf("recorded %q, want first,second", names)
	}
	if n, err := db.MigrateFS(ctx, pool, testenv.Logger(), fsys, "m"); err != nil || n != 0 {
		t.Errorf("second run applied %d, %v; want nothing", n, err)
	}
}
