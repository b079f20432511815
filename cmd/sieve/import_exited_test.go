package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/testenv"
)

// TestImportExited: `sieve import exited FILE` loads the register with the API's importer (the
// seed's four are updated by name, a new firm added), and a bad file changes nothing.
func TestImportExited(t *testing.T) {
	ctx := context.Background()
	url := testenv.DatabaseURL(t)
	env := envOf("SIEVE_DB_URL", url, "SIEVE_LOG_LEVEL", "error")
	dir := t.TempDir()
	good := filepath.Join(dir, "exited.csv")
	if err := os.WriteFile(good, []byte("\ufeff序号,企业名称,地址,备注\n1,禹州百灵生物农药有限公司,禹州市花园工业西区,已核实\n5,禹州市某新退出化工厂,禹州市某乡,\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if err := cmdImport(ctx, []string{"exited", good}, env, &out, &errOut); err != nil {
		t.Fatalf("import: %v %s", err, errOut.String())
	}
	if s := strings.Join(strings.Fields(out.String()), ""); s != `{"added":1,"updated":1}` {
		t.Errorf("report %s", out.String())
	}
	bad := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(bad, []byte("序号,企业名称\n1,禹州市又一家\nx,坏行\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := cmdImport(ctx, []string{"exited", bad}, env, &out, &errOut); err == nil {
		t.Fatal("a bad file was imported")
	}
	pool, err := db.Open(ctx, url, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var n int
	var note string
	if err := db.AsSystem(ctx, pool, "test", func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*), max(note) FROM exited_enterprises`).Scan(&n, &note)
	}); err != nil {
		t.Fatal(err)
	}
	if n != 5 || note != "已核实" {
		t.Errorf("register: %d firms, note %q; want the seed's four + one, nothing of the bad file", n, note)
	}
}
