package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/sieve-city/sieve/internal/config"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/leads"
	"github.com/sieve-city/sieve/internal/testenv"
)

// TestImportLeadsCommand: `sieve import leads --kind power_user FILE` on a GBK file imports the
// good rows as the system, reports the bad one by line, and adds nothing the second time.
func TestImportLeadsCommand(t *testing.T) {
	url := testenv.DatabaseURL(t)
	ctx := context.Background()
	pool, err := db.Open(ctx, url, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := db.AsSystem(ctx, pool, "test", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO regions (level, code, name, geom) VALUES ('city', '411081', '禹州市',
			ST_Multi(ST_MakeEnvelope(113.0, 34.0, 114.0, 34.5, 4326)))`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	csv, err := simplifiedchinese.GBK.NewEncoder().String("户号,户名,地址,经度,纬度,用电类别,月份,用电量\n" +
		"1,某塑料厂,火龙镇,113.4,34.2,动力电,2024-01,900\n" +
		"2,某作坊,火龙镇,113.5,34.2,动力电,2024-13,900\n")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "电力用户.csv")
	if err := os.WriteFile(file, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	env := envOf("SIEVE_DB_URL", url, "SIEVE_LOG_LEVEL", "error")
	sieve := func(args ...string) (leads.ImportReport, string, error) {
		var out, errb bytes.Buffer
		err := run(ctx, args, env, strings.NewReader(""), &out, &errb)
		var rep leads.ImportReport
		if err == nil {
			if jerr := json.Unmarshal(out.Bytes(), &rep); jerr != nil {
				t.Fatalf("report %s: %v", out.String(), jerr)
			}
		}
		return rep, out.String() + errb.String(), err
	}
	rep, out, err := sieve("import", "leads", "--kind", "power_user", file)
	if err != nil || rep.Created != 1 || rep.Encoding != leads.EncGB18030 || len(rep.Errors) != 1 || rep.Errors[0].Line != 3 ||
		rep.Errors[0].Code != "invalid_month" {
		t.Fatalf("first import: %v %s", err, out)
	}
	if rep, out, err = sieve("import", "leads", "--kind", "power_user", file); err != nil || !rep.AlreadyImported || rep.Created != 0 {
		t.Fatalf("second import: %v %s", err, out)
	}
	if _, out, err := sieve("import", "leads", file); err == nil {
		t.Fatalf("import leads without --kind: %s", out)
	}
	if _, out, err := sieve("import", "leads", "--kind", "horoscope", file); err == nil || !strings.Contains(out, "invalid_kind") &&
		!strings.Contains(err.Error(), "kind") {
		t.Fatalf("unknown kind: %v %s", err, out)
	}
}

// TestLeadsConfig: the SIEVE_LEADS_* settings reach the leads domain, and the binary's sources
// are the market entities, the power users and the vehicle tracks.
func TestLeadsConfig(t *testing.T) {
	cfg, err := config.Load(envOf("SIEVE_LEADS_VERIFY_DAYS", "7", "SIEVE_LEADS_MIN_SCORE", "0.5",
		"SIEVE_LEADS_CHEMICAL_KEYWORDS", "化工，农药、 溶剂", "SIEVE_LEADS_POWER_FLOOR_KWH", "3000"))
	if err != nil {
		t.Fatal(err)
	}
	lc := leadsConfig(cfg.Leads)
	if lc.VerifyWithin != 7*24*time.Hour || lc.MinScore != 0.5 || strings.Join(lc.Market.ChemicalKeywords, "|") != "化工|农药|溶剂" ||
		lc.Power.FloorKWh != 3000 || lc.Power.SurgeRatio != 2 {
		t.Fatalf("leads config %+v", lc)
	}
	a := &app{cfg: cfg}
	if k := a.leadsService(nil).Kinds(); strings.Join(k, ",") != "market_entity,power_user,vehicle_track" {
		t.Fatalf("kinds %v", k)
	}
	for _, bad := range [][2]string{{"SIEVE_LEADS_MIN_SCORE", "1.5"}, {"SIEVE_LEADS_VERIFY_DAYS", "0"},
		{"SIEVE_LEADS_POWER_SURGE_RATIO", "0.5"}, {"SIEVE_LEADS_CHEMICAL_KEYWORDS", " , "}} {
		if _, err := config.Load(envOf(bad[0], bad[1])); err == nil || !strings.Contains(err.Error(), bad[0]) {
			t.Errorf("%s=%s: %v, want refused naming it", bad[0], bad[1], err)
		}
	}
}
