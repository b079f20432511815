package db_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sieve-city/sieve/internal/testenv"
)

// unsecured are the tables of the schema that have no row-level security at all, and why.
var unsecured = map[string]string{
	"schema_migrations": "the migrator's own bookkeeping: created by db.Migrate before any migration, " +
		"holds version numbers and file names only (no area, nothing personal), and request code never reads it",
}

// unaudited are the tables without an audit trigger, and why.
var unaudited = map[string]string{
	"audit_log":      "is the audit log",
	"sessions":       "bearer tokens (their hashes); logins and logouts are audited as login entries by internal/accounts",
	"login_failures": "throttling counters, not changes to anything",
	"region_shapes":  "a copy of regions' boundaries kept by a trigger on regions, audited there",
	"media_cells":    "where media land in cells, derived from the media's point and footprint by place_media and recomputed when cells change; media are audited",
	"upload_intents": "markers of uploads being streamed, removed in the transaction that records the medium (audited)",
	"changes":        "the phone-sync change feed, written by triggers beside the audited changes it points at; pruned after the retention",
	"changes_pruned": "the change feed's retention mark (one row), kept by the pruning job",
	"media_phash_chunks": "the photo-reuse index: keys derived from media.phash by media_phash_index in the transaction " +
		"that stores the pHash; media are audited",
	"coverage_cells": "per-cell coverage derived from premises, inspections and rounds by sieve_coverage_refresh (migration 0023); those are audited",
	"coverage_days":  "the daily series derived with coverage_cells by sieve_coverage_refresh",
	"coverage_drone": "drone share derived from media_cells by sieve_drone_refresh",
	"region_pieces":  "outlines cut for the map tiles, kept by a trigger on regions, audited there",
	"tile_zone_states": "change counters of the map tiles per layer, zone and cell (sieve_tile_touch, migrations 0033 " +
		"and 0039), written by the triggers of audited changes",
}

// notRepathed are the tables with an ltree column that region moves do not rewrite, and why;
// they need no system UPDATE policy.
var notRepathed = map[string]string{
	"audit_log": "keeps the paths of its time: sieve_repath skips it, and it is append-only",
}

// tableFacts is what the catalogue says about one table's security.
type tableFacts struct {
	name                 string
	rls, forced, hasPath bool
	read, systemUpdate   bool
	audit                []string // definitions of the triggers running audit_row()
}

// catalogue reads the security facts of every table of the schema except River's job queue
// (river_*, River's own migrations) and the tables of extensions (PostGIS's spatial_ref_sys).
func catalogue(ctx context.Context, t *testing.T, pool *pgxpool.Pool) []tableFacts {
	t.Helper()
	const q = `SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
			EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
				AND a.atttypid = 'ltree'::regtype),
			EXISTS (SELECT 1 FROM pg_policies p WHERE p.schemaname = n.nspname AND p.tablename = c.relname
				AND p.permissive = 'PERMISSIVE' AND p.cmd IN ('SELECT', 'ALL')),
			EXISTS (SELECT 1 FROM pg_policies p WHERE p.schemaname = n.nspname AND p.tablename = c.relname
				AND p.permissive = 'PERMISSIVE' AND p.cmd IN ('UPDATE', 'ALL')
				AND p.qual = 'sieve_system()' AND coalesce(p.with_check, p.qual) = 'sieve_system()'),
			coalesce((SELECT array_agg(pg_get_triggerdef(g.oid) ORDER BY g.tgname) FROM pg_trigger g
				WHERE g.tgrelid = c.oid AND NOT g.tgisinternal AND g.tgfoid = 'audit_row'::regproc), '{}')
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND c.relname NOT LIKE 'river\_%'
		  AND NOT EXISTS (SELECT 1 FROM pg_depend d
		                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
		ORDER BY c.relname`
	rows, err := pool.Query(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var facts []tableFacts
	for rows.Next() {
		var f tableFacts
		if err := rows.Scan(&f.name, &f.rls, &f.forced, &f.hasPath, &f.read, &f.systemUpdate, &f.audit); err != nil {
			t.Fatal(err)
		}
		facts = append(facts, f)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return facts
}

// auditProblem says what is wrong with an audit trigger definition, or "" when it is the kit's:
// after every insert, update and delete, for each row, skipped in bulk loads.
func auditProblem(def string) string {
	switch {
	case !strings.Contains(def, " AFTER INSERT OR DELETE OR UPDATE ON "):
		return "does not fire after insert, update and delete"
	case !strings.Contains(def, " FOR EACH ROW "):
		return "is not a row trigger"
	case !strings.Contains(def, "WHEN ((COALESCE(current_setting('sieve.bulk'::text, true), ''::text) <> 'on'::text))"):
		return "lacks the bulk skip WHEN (coalesce(current_setting('sieve.bulk', true), '') <> 'on')"
	}
	return ""
}

// checkCatalogue returns one message per table and missing piece of its security.
func checkCatalogue(facts []tableFacts) []string {
	var problems []string
	add := func(table, format string, args ...any) {
		problems = append(problems, table+": "+fmt.Sprintf(format, args...))
	}
	for _, f := range facts {
		if reason, ok := unsecured[f.name]; ok {
			if f.rls || f.read || len(f.audit) > 0 {
				add(f.name, "is listed as unsecured (%s) but has row-level security, policies or an audit trigger; take it off the list", reason)
			}
			continue
		}
		if !f.rls {
			add(f.name, "row-level security is not enabled (SELECT sieve_secure_table(...), migration 0013)")
		}
		if !f.forced {
			add(f.name, "row-level security is not forced: the owner (the application role) bypasses it (ALTER TABLE ... FORCE ROW LEVEL SECURITY)")
		}
		if !f.read {
			add(f.name, "no permissive SELECT or ALL policy: nobody can read it")
		}
		if _, kept := notRepathed[f.name]; f.hasPath && !kept && !f.systemUpdate {
			add(f.name, "has an ltree path column but no UPDATE policy USING and WITH CHECK sieve_system(), which region moves (sieve_repath) rely on (SELECT sieve_system_update(...))")
		}
		reason, exempt := unaudited[f.name]
		switch {
		case exempt && len(f.audit) > 0:
			add(f.name, "has an audit trigger but is listed as unaudited (%s); take it off the list", reason)
		case !exempt && len(f.audit) == 0:
			add(f.name, "no audit trigger (SELECT sieve_audit_table(...)) and no reason in unaudited (catalogue_test.go)")
		}
		for _, def := range f.audit {
			if p := auditProblem(def); p != "" {
				add(f.name, "audit trigger %s (SELECT sieve_audit_table(...)): %s", p, def)
			}
		}
	}
	return problems
}

// staleReasons names the tables that have a reason in unsecured or unaudited but are not in the
// schema (any more).
func staleReasons(facts []tableFacts) []string {
	seen := map[string]bool{}
	for _, f := range facts {
		seen[f.name] = true
	}
	var problems []string
	for _, list := range []map[string]string{unsecured, unaudited, notRepathed} {
		for name := range list {
			if !seen[name] {
				problems = append(problems, name+": has a reason in catalogue_test.go but is not a table of the schema; drop the reason")
			}
		}
	}
	return problems
}

// TestCatalogue checks the security of every table of the migrated schema, as the catalogue
// holds it: row-level security enabled and forced, a read policy, the system's UPDATE policy
// where the table holds a path copy (region moves rewrite them), and an audit trigger with the
// bulk skip unless a reason says why not. The table kit (migration 0013) gives all of them.
func TestCatalogue(t *testing.T) {
	pool := testenv.DB(t)
	facts := catalogue(context.Background(), t, pool)
	if len(facts) < 10 {
		t.Fatalf("the catalogue lists only %d tables: %+v", len(facts), facts)
	}
	for _, p := range append(checkCatalogue(facts), staleReasons(facts)...) {
		t.Error(p)
	}
}

// TestCatalogueChecks: the checks themselves name what is missing.
func TestCatalogueChecks(t *testing.T) {
	const kitAudit = "CREATE TRIGGER t_audit AFTER INSERT OR DELETE OR UPDATE ON public.t FOR EACH ROW " +
		"WHEN ((COALESCE(current_setting('sieve.bulk'::text, true), ''::text) <> 'on'::text)) EXECUTE FUNCTION audit_row()"
	good := tableFacts{name: "t", rls: true, forced: true, hasPath: true, read: true, systemUpdate: true, audit: []string{kitAudit}}
	tests := []struct {
		name  string
		spoil func(*tableFacts)
		want  string
	}{
		{"not forced", func(f *tableFacts) { f.forced = false }, "t: row-level security is not forced"},
		{"no rls", func(f *tableFacts) { f.rls = false }, "t: row-level security is not enabled"},
		{"no read", func(f *tableFacts) { f.read = false }, "t: no permissive SELECT or ALL policy"},
		{"no system update", func(f *tableFacts) { f.systemUpdate = false }, "t: has an ltree path column but no UPDATE policy"},
		{"no audit", func(f *tableFacts) { f.audit = nil }, "t: no audit trigger"},
		{"no bulk skip", func(f *tableFacts) {
			f.audit = []string{"CREATE TRIGGER t_audit AFTER INSERT OR DELETE OR UPDATE ON public.t FOR EACH ROW EXECUTE FUNCTION audit_row()"}
		}, "t: audit trigger lacks the bulk skip"},
	}
	if p := checkCatalogue([]tableFacts{good}); len(p) != 0 {
		t.Fatalf("a secured table: %q", p)
	}
	for _, tt := range tests {
		f := good
		tt.spoil(&f)
		p := checkCatalogue([]tableFacts{f})
		if len(p) != 1 || !strings.HasPrefix(p[0], tt.want) {
			t.Errorf("%s: problems %q, want one starting %q", tt.name, p, tt.want)
		}
	}
	if p := staleReasons([]tableFacts{{name: "sessions"}}); len(p) != len(unsecured)+len(unaudited)+len(notRepathed)-1 {
		t.Errorf("reasons for tables not in the schema: %q", p)
	}
	noPath := good
	noPath.hasPath, noPath.systemUpdate = false, false
	if p := checkCatalogue([]tableFacts{noPath}); len(p) != 0 {
		t.Errorf("a table without a path needs no system update policy: %q", p)
	}
}
