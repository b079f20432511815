package ledgers

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/xuri/excelize/v2"

	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/chinatime"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/")

// testWorld is a city of two townships: 神垕镇 (t1) with three sites and two exited firms,
// 火龙镇 (t2) with one site.
type testWorld struct {
	pool             *pgxpool.Pool
	city, t1, t2     int64
	cityPath, t1Path string
}

// nov is 2026-11 in China Standard Time; the clock stands at 2 December 2026.
var (
	clock   = time.Date(2026, 12, 2, 10, 0, 0, 0, chinatime.Zone)
	filedOn = time.Date(2026, 12, 1, 9, 0, 0, 0, chinatime.Zone)
	at      = func(m time.Month, d int) time.Time { return time.Date(2026, m, d, 10, 0, 0, 0, chinatime.Zone) }
)

func newWorld(t testing.TB) *testWorld {
	t.Helper()
	ctx := context.Background()
	w := &testWorld{pool: testenv.DB(t)}
	err := db.AsSystem(ctx, w.pool, "test", func(tx pgx.Tx) error {
		region := func(parent *int64, level, code, name string) (int64, string) {
			var id int64
			var path string
			if err := tx.QueryRow(ctx, `INSERT INTO regions (parent_id, level, code, name) VALUES ($1, $2, $3, $4)
				RETURNING id, path::text`, parent, level, code, name).Scan(&id, &path); err != nil {
				t.Fatal(err)
			}
			return id, path
		}
		w.city, w.cityPath = region(nil, "city", "411081", "禹州市")
		w.t1, w.t1Path = region(&w.city, "township", "411081104", "神垕镇")
		w.t2, _ = region(&w.city, "township", "411081105", "火龙镇")
		var inspector int64
		if err := tx.QueryRow(ctx, `INSERT INTO users (username, display_name, role, password_hash, region_id)
			VALUES ('insp', '王排查', 'inspector', '!', $1) RETURNING id`, w.t1).Scan(&inspector); err != nil {
			return err
		}
		site := func(town int64, firm, addr, industry string, classes []string, participants []string,
			legal, phone string, created time.Time, moves ...any) int64 {
			var id int64
			if err := tx.QueryRow(ctx, `INSERT INTO sites (point, source, classes, firm_name, address, industry,
					legal_rep, contact_phone, participants, created_at, status, status_at)
				VALUES (ST_SetSRID(ST_MakePoint(113.4, 34.2), 4326), 'manual', $1, $2, $3, $4, $5, $6, coalesce($7::text[], '{}'), $8, 'suspected', $8)
				RETURNING id`, classes, firm, addr, industry, legal, phone, participants, created).Scan(&id); err != nil {
				t.Fatal(err)
			}
			if _, err := tx.Exec(ctx, `UPDATE sites SET region_path = r.path FROM regions r WHERE sites.id = $1 AND r.id = $2`,
				id, town); err != nil {
				t.Fatal(err)
			}
			from := "suspected"
			if _, err := tx.Exec(ctx, `INSERT INTO site_events (site_id, to_status, at) VALUES ($1, 'suspected', $2)`,
				id, created); err != nil {
				t.Fatal(err)
			}
			for i := 0; i+1 < len(moves); i += 2 {
				to, when := moves[i].(string), moves[i+1].(time.Time)
				if _, err := tx.Exec(ctx, `INSERT INTO site_events (site_id, from_status, to_status, at) VALUES ($1, $2, $3, $4)`,
					id, from, to, when); err != nil {
					t.Fatal(err)
				}
				closed := any(nil)
				if to == "closed" {
					closed = when
				}
				if _, err := tx.Exec(ctx, `UPDATE sites SET status = $2, status_at = $3, closed_at = $4 WHERE id = $1`,
					id, to, when, closed); err != nil {
					t.Fatal(err)
				}
				from = to
			}
			return id
		}
		action := func(site int64, action, dept, who string, created, deadline time.Time, amount any, result string, done any) {
			if _, err := tx.Exec(ctx, `INSERT INTO site_actions (site_id, action, department, responsible, deadline,
					amount_yuan, result, done_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
				site, action, dept, who, deadline, amount, result, done, created); err != nil {
				t.Fatal(err)
			}
		}
		a := site(w.t1, "神垕镇某化工作坊", "神垕镇刘家门村3组", "化学原料", []string{"unlicensed", "factory_in_factory"},
			[]string{"李网格", "赵应急"}, "张三", "13800000001", at(10, 8), "verified_illegal", at(10, 9),
			"under_disposal", at(10, 12), "rectified", at(11, 20))
		action(a, "stop_production", "emergency_management", "赵应急", at(10, 12), at(10, 20), nil, "已停产，设备已断电",
			at(10, 18))
		action(a, "fine", "market_regulation", "钱市场", at(10, 13), at(11, 10), 20000.0, "", at(11, 8))
		b := site(w.t1, "神垕镇某涂料厂", "神垕镇东大街18号", "涂料", []string{"beyond_licence"}, []string{"李网格"},
			"", "", at(11, 3), "verified_illegal", at(11, 4), "under_disposal", at(11, 5))
		action(b, "suspend_rectify", "emergency_management", "赵应急", at(11, 5), at(11, 25), nil, "", at(12, 1)) // done after November
		action(b, "obtain_permits", "market_regulation", "钱市场", at(11, 6), at(12, 30), nil, "", nil)
		action(b, "seal_up", "public_security", "孙公安", at(12, 1), at(12, 10), nil, "", nil) // after November
		if _, err := tx.Exec(ctx, `INSERT INTO site_persons (site_id, role, name, phone) VALUES ($1, 'legal_representative', '周四', '13900000002')`,
			b); err != nil {
			return err
		}
		site(w.t1, "已排除的作坊", "神垕镇", "", []string{"other"}, nil, "", "", at(11, 1), "cleared", at(11, 2))
		site(w.t1, "十二月才核实的作坊", "神垕镇", "", []string{"other"}, nil, "", "", at(11, 10), "verified_illegal", at(12, 1))
		site(w.t1, "仍为疑似的作坊", "神垕镇", "", []string{"other"}, nil, "", "", at(11, 10))
		site(w.t2, "火龙镇某作坊", "火龙镇", "", []string{"affiliated_leased", "exited_producing"}, nil, "", "", at(11, 1),
			"verified_illegal", at(11, 2))

		// The exited-enterprise register: two firms in 神垕镇, one checked in November.
		var premise int64
		if err := tx.QueryRow(ctx, `INSERT INTO premises (kind, name, geom, tags, region_path) VALUES ('enterprise', '神垕镇原化工厂',
			ST_SetSRID(ST_MakePoint(113.4, 34.2), 4326), '{exited_hazchem}', $1::ltree) RETURNING id`, w.t1Path).Scan(&premise); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO exited_enterprises (seq, name, address, township_code, note, created_at) VALUES
			(5, '神垕镇原化工厂', '神垕镇西工业区', '411081104', '', $1),
			(6, '神垕镇原农药厂', '神垕镇南关', '411081104', '2023年已注销', $1),
			(7, '火龙镇原化工厂', '火龙镇', '411081105', '', $1)`, at(1, 1)); err != nil {
			return err
		}
		var round int64
		if err := tx.QueryRow(ctx, `INSERT INTO rounds (name, starts_at, ends_at) VALUES ('2026', $1, $2) RETURNING id`,
			at(1, 1), at(12, 31)).Scan(&round); err != nil {
			return err
		}
		check := func(visited time.Time, removed, converted bool, note string, people []string) {
			if _, err := tx.Exec(ctx, `INSERT INTO inspections (id, premise_id, round_id, inspector_id, visited_at, outcome,
					equipment_removed, converted, note, participants)
				VALUES (gen_random_uuid(), $1, $2, $3, $4, 'clear', $5, $6, $7, coalesce($8::text[], '{}'))`,
				premise, round, inspector, visited, removed, converted, note, people); err != nil {
				t.Fatal(err)
			}
		}
		check(at(10, 15), false, false, "十月检查", nil)
		check(at(11, 16), true, true, "已转产为仓储", []string{"刘镇干部"})
		check(at(12, 1), false, false, "十二月检查", nil) // after November
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// coordinator is t1's coordinator; city the city office.
func (w *testWorld) coordinator() db.Actor {
	return db.Actor{UserID: 1, Username: "coord", Role: "township_coordinator", Scope: []string{w.t1Path}}
}

func (w *testWorld) cityOffice() db.Actor {
	return db.Actor{UserID: 1, Username: "admin", Role: "city_admin"}
}

func (w *testWorld) render(t testing.TB, a db.Actor, req Request) (File, error) {
	t.Helper()
	svc := New(func() time.Time { return clock })
	var f File
	err := db.ReadInScope(context.Background(), w.pool, a, func(tx pgx.Tx) error {
		var err error
		f, err = svc.In(tx).Render(context.Background(), req)
		return err
	})
	return f, err
}

func (w *testWorld) mustRender(t testing.TB, a db.Actor, req Request) File {
	t.Helper()
	f, err := w.render(t, a, req)
	if err != nil {
		t.Fatalf("render %+v: %v", req, err)
	}
	return f
}

// dumpXLSX writes what a workbook shows and how it prints, sheet by sheet: every non-empty cell,
// the merged ranges, column widths, row heights, the page layout, margins, header/footer,
// print titles and styles of the header and body cells. The golden files are this dump.
func dumpXLSX(t testing.TB, body []byte) string {
	t.Helper()
	f, err := excelize.OpenReader(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("open xlsx: %v", err)
	}
	defer f.Close()
	var b strings.Builder
	names := map[string]string{}
	for _, d := range f.GetDefinedName() {
		names[d.Scope+"|"+d.Name] = d.RefersTo
	}
	for _, sheet := range f.GetSheetList() {
		fmt.Fprintf(&b, "== sheet %s\n", sheet)
		pl, err := f.GetPageLayout(sheet)
		if err != nil {
			t.Fatal(err)
		}
		props, err := f.GetSheetProps(sheet)
		if err != nil {
			t.Fatal(err)
		}
		hf, err := f.GetHeaderFooter(sheet)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "page: size=%d orientation=%s fitToWidth=%d fitToHeight=%d fitToPage=%v\n",
			*pl.Size, *pl.Orientation, *pl.FitToWidth, *pl.FitToHeight, props.FitToPage != nil && *props.FitToPage)
		fmt.Fprintf(&b, "footer: %q header: %q\n", hf.OddFooter, hf.OddHeader)
		fmt.Fprintf(&b, "print titles: %s\n", names[sheet+"|_xlnm.Print_Titles"])
		merged, err := f.GetMergeCells(sheet)
		if err != nil {
			t.Fatal(err)
		}
		var ms []string
		for _, m := range merged {
			ms = append(ms, m.GetStartAxis()+":"+m.GetEndAxis())
		}
		sort.Strings(ms)
		fmt.Fprintf(&b, "merged: %s\n", strings.Join(ms, " "))
		cols, err := f.GetCols(sheet)
		if err != nil {
			t.Fatal(err)
		}
		var widths []string
		for i := range max(len(cols), 1) {
			name, _ := excelize.ColumnNumberToName(i + 1)
			w, _ := f.GetColWidth(sheet, name)
			widths = append(widths, fmt.Sprintf("%s=%g", name, w))
		}
		fmt.Fprintf(&b, "widths: %s\n", strings.Join(widths, " "))
		rows, err := f.GetRows(sheet)
		if err != nil {
			t.Fatal(err)
		}
		for r, row := range rows {
			h, _ := f.GetRowHeight(sheet, r+1)
			fmt.Fprintf(&b, "row %d height=%g\n", r+1, h)
			for c, v := range row {
				cell, _ := excelize.CoordinatesToCellName(c+1, r+1)
				style, _ := f.GetCellStyle(sheet, cell)
				if v == "" && style == 0 {
					continue
				}
				fmt.Fprintf(&b, "  %s %s %q\n", cell, styleOf(t, f, style), v)
			}
		}
	}
	return b.String()
}

// styleOf describes a cell style: font, alignment, wrap and whether all four borders are drawn.
func styleOf(t testing.TB, f *excelize.File, id int) string {
	s, err := f.GetStyle(id)
	if err != nil {
		t.Fatal(err)
	}
	var parts []string
	if s.Font != nil {
		parts = append(parts, fmt.Sprintf("%s/%g", s.Font.Family, s.Font.Size))
		if s.Font.Bold {
			parts = append(parts, "bold")
		}
	}
	if s.Alignment != nil {
		parts = append(parts, s.Alignment.Horizontal+"/"+s.Alignment.Vertical)
		if s.Alignment.WrapText {
			parts = append(parts, "wrap")
		}
	}
	if len(s.Border) == 4 {
		parts = append(parts, "boxed")
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := range max(len(gl), len(wl)) {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("%s differs at line %d:\n got: %s\nwant: %s\n(run with -update and read the diff)", name, i+1, g, w)
			}
		}
	}
}

// TestGoldenIllegal: 附件2 of 神垕镇 for November 2026, read back cell by cell with its merged
// ranges and print settings.
func TestGoldenIllegal(t *testing.T) {
	w := newWorld(t)
	f := w.mustRender(t, w.coordinator(), Request{Kind: Illegal, TownshipID: w.t1, Month: "2026-11", FiledOn: filedOn})
	if f.Name != "附件2_神垕镇_2026-11.xlsx" || f.ContentType != ContentTypeXLSX {
		t.Fatalf("file %q %q", f.Name, f.ContentType)
	}
	golden(t, "illegal_t1.golden", dumpXLSX(t, f.Body))
}

// TestGoldenExited: 附件3 and 附件1 of 神垕镇 for November 2026.
func TestGoldenExited(t *testing.T) {
	w := newWorld(t)
	f := w.mustRender(t, w.coordinator(), Request{Kind: Exited, TownshipID: w.t1, Month: "2026-11", FiledOn: filedOn})
	if f.Name != "附件3_神垕镇_2026-11.xlsx" {
		t.Fatalf("file %q", f.Name)
	}
	golden(t, "exited_t1.golden", dumpXLSX(t, f.Body))
	f = w.mustRender(t, w.coordinator(), Request{Kind: ExitedList, TownshipID: w.t1, Month: "2026-11", FiledOn: filedOn})
	golden(t, "exited_list_t1.golden", dumpXLSX(t, f.Body))
}

// TestGoldenCity: the whole city's 附件2, a summary sheet then a sheet per township, and 附件3's
// summary.
func TestGoldenCity(t *testing.T) {
	w := newWorld(t)
	f := w.mustRender(t, w.cityOffice(), Request{Kind: Illegal, Month: "2026-11", FiledOn: filedOn})
	if f.Name != "附件2_禹州市_2026-11.xlsx" {
		t.Fatalf("file %q", f.Name)
	}
	golden(t, "illegal_city.golden", dumpXLSX(t, f.Body))
	f = w.mustRender(t, w.cityOffice(), Request{Kind: Exited, Month: "2026-11", FiledOn: filedOn})
	golden(t, "exited_city.golden", dumpXLSX(t, f.Body))
}

// TestMonthSelects: what a month selects — the cases as they stood at its end.
func TestMonthSelects(t *testing.T) {
	w := newWorld(t)
	firms := func(month string) []string {
		f := w.mustRender(t, w.coordinator(), Request{Kind: Illegal, TownshipID: w.t1, Month: month, Format: "csv"})
		recs, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(f.Body, []byte("\xef\xbb\xbf")))).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range recs[1:] {
			out = append(out, r[1])
		}
		return out
	}
	if got := firms("2026-10"); !slices.Equal(got, []string{"神垕镇某化工作坊"}) {
		t.Errorf("October: %q", got)
	}
	if got := firms("2026-11"); !slices.Equal(got, []string{"神垕镇某化工作坊", "神垕镇某涂料厂"}) {
		t.Errorf("November (no cleared, no suspected, none verified in December): %q", got)
	}
	if got := firms("2026-12"); !slices.Equal(got, []string{"神垕镇某化工作坊", "神垕镇某涂料厂", "十二月才核实的作坊"}) {
		t.Errorf("December: %q", got)
	}
	if got := firms("2026-09"); len(got) != 0 {
		t.Errorf("September: %q", got)
	}
}

// TestCSV: UTF-8 with a byte-order mark, the form's columns, √ marks, and the whole city's
// township column.
func TestCSV(t *testing.T) {
	w := newWorld(t)
	f := w.mustRender(t, w.coordinator(), Request{Kind: Illegal, TownshipID: w.t1, Month: "2026-11", Format: "csv"})
	if !bytes.HasPrefix(f.Body, []byte("\xef\xbb\xbf")) || f.ContentType != ContentTypeCSV || f.Name != "附件2_神垕镇_2026-11.csv" {
		t.Fatalf("no BOM or wrong type/name: %q %q % x", f.Name, f.ContentType, f.Body[:8])
	}
	recs, err := csv.NewReader(bytes.NewReader(f.Body[3:])).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"序号", "企业名称", "地址", "所属行业", "无证无照或证照不全", "超许可范围生产储存", "非化工企业未经许可生产",
		"挂靠租赁", "厂中厂", "其他违法违规行为", "问题整改情况", "工作参与人员", "法人联系方式"}
	if !slices.Equal(recs[0], want) {
		t.Fatalf("header %q", recs[0])
	}
	first := recs[1]
	if first[0] != "1" || first[4] != "√" || first[8] != "√" || first[5] != "" || first[11] != "李网格、赵应急" ||
		first[12] != "张三 13800000001" {
		t.Errorf("first line %q", first)
	}
	if !strings.Contains(first[10], "责令停止生产（应急管理，责任人赵应急）：已停产，设备已断电；已于2026年10月18日完成") ||
		!strings.Contains(first[10], "罚款（市场监管，责任人钱市场），罚款20000元；已于2026年11月08日完成") ||
		!strings.HasSuffix(first[10], "已整改") {
		t.Errorf("问题整改情况 %q", first[10])
	}
	second := recs[2]
	if second[12] != "周四 13900000002" || !strings.Contains(second[10], "责令立即停产整顿（应急管理，责任人赵应急）；限期2026年11月25日，逾期未完成") ||
		!strings.Contains(second[10], "限期依法办理相关手续（市场监管，责任人钱市场）；限期2026年12月30日，整改中") ||
		strings.Contains(second[10], "查封") {
		t.Errorf("second line (the legal representative from the persons, actions as of November) %q", second)
	}
	f = w.mustRender(t, w.cityOffice(), Request{Kind: Illegal, Month: "2026-11", Format: "csv"})
	recs, err = csv.NewReader(bytes.NewReader(f.Body[3:])).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if recs[0][0] != "乡镇（街道）" || !slices.Equal(recs[0][1:], want) || len(recs) != 4 || recs[3][0] != "火龙镇" ||
		recs[3][1] != "1" || recs[3][8] != "√" || recs[3][10] != "√" {
		t.Errorf("city CSV %q", recs)
	}
	f = w.mustRender(t, w.coordinator(), Request{Kind: Exited, TownshipID: w.t1, Month: "2026-11", Format: "csv"})
	recs, err = csv.NewReader(bytes.NewReader(f.Body[3:])).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	wantExited := [][]string{{"序号", "企业名称", "地址", "生产装置是否拆除", "是否存在转产情况", "工作参与人员", "备注"},
		{"1", "神垕镇原化工厂", "神垕镇西工业区", "是", "是", "王排查、刘镇干部", "排查日期2026年11月16日；已转产为仓储"},
		{"2", "神垕镇原农药厂", "神垕镇南关", "", "", "", "未排查；2023年已注销"}}
	if !slices.EqualFunc(recs, wantExited, slices.Equal) {
		t.Errorf("附件3 CSV %q", recs)
	}
}

// TestScope: a coordinator renders their own township only; the whole city is the city office's.
func TestScope(t *testing.T) {
	w := newWorld(t)
	for _, req := range []Request{
		{Kind: Illegal, TownshipID: w.t2, Month: "2026-11"},
		{Kind: Exited, TownshipID: w.t2, Month: "2026-11"},
		{Kind: ExitedList, TownshipID: w.t2, Month: "2026-11"},
		{Kind: Illegal, Month: "2026-11"},
		{Kind: ExitedList, Month: "2026-11"},
		{Kind: Illegal, TownshipID: w.city, Month: "2026-11"}, // not a township
	} {
		if _, err := w.render(t, w.coordinator(), req); !errors.Is(err, apperr.ErrNotFound) {
			t.Errorf("%+v: got %v, want not found", req, err)
		}
	}
	f := w.mustRender(t, w.cityOffice(), Request{Kind: Illegal, TownshipID: w.t2, Month: "2026-11", Format: "csv"})
	if !strings.Contains(string(f.Body), "火龙镇某作坊") {
		t.Errorf("city office on t2: %s", f.Body)
	}
}

// TestBadRequests: the stable codes of bad input.
func TestBadRequests(t *testing.T) {
	w := newWorld(t)
	for _, c := range []struct {
		req  Request
		code string
	}{
		{Request{Kind: Illegal, TownshipID: w.t1, Month: "2026-13"}, "invalid_month"},
		{Request{Kind: Illegal, TownshipID: w.t1, Month: "2026-1"}, "invalid_month"},
		{Request{Kind: Illegal, TownshipID: w.t1, Month: ""}, "invalid_month"},
		{Request{Kind: Illegal, TownshipID: w.t1, Month: "2027-01"}, "month_not_begun"},
		{Request{Kind: Illegal, TownshipID: w.t1, Month: "2026-11", Format: "pdf"}, "invalid_format"},
		{Request{Kind: "other", TownshipID: w.t1, Month: "2026-11"}, "invalid_ledger"},
	} {
		_, err := w.render(t, w.coordinator(), c.req)
		if e, ok := apperr.As(err); !ok || e.Code != c.code {
			t.Errorf("%+v: got %v, want %s", c.req, err, c.code)
		}
	}
	if _, err := New(nil).Render(context.Background(), Request{}); err == nil {
		t.Error("an unbound service rendered")
	}
}

// TestGoldenAppendix: the photo appendix of 神垕镇's 附件2 for November 2026 — the same ledger
// sheet as the download, then the index sheet 照片附件 (one line per photo of 神垕镇某化工作坊,
// newest first, a line （无照片） for 神垕镇某涂料厂), its links to the present photos, and the
// photos' paths; a photo whose thumbnail was never made is missing, one the caller marks missing
// loses its link. 火龙镇's photo is not listed.
func TestGoldenAppendix(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	err := db.AsSystem(ctx, w.pool, "test", func(tx pgx.Tx) error {
		var uploader int64
		if err := tx.QueryRow(ctx, `SELECT id FROM users ORDER BY id LIMIT 1`).Scan(&uploader); err != nil {
			return err
		}
		for i, m := range []struct {
			firm, taken string
			thumb       bool
		}{
			{"神垕镇某化工作坊", "2026-11-02 09:30:00+08", true},
			{"神垕镇某化工作坊", "2026-11-05 14:00:00+08", true},
			{"神垕镇某化工作坊", "", false},
			{"火龙镇某作坊", "2026-11-03 09:00:00+08", true},
		} {
			thumbs := any(nil)
			if m.thumb {
				thumbs = fmt.Sprintf(`{"detail": {"key": "thumbs/t%d/detail.jpg"}}`, i)
			}
			if _, err := tx.Exec(ctx, `WITH s AS (SELECT id, region_path FROM sites WHERE firm_name = $1),
				m AS (INSERT INTO media (kind, uploaded_by, region_path, sha256, size, format, content_type, object_key, status, taken_at, thumbs)
					SELECT 'photo', $2, s.region_path, sha256(convert_to($3::text, 'UTF8')), 10, 'jpeg', 'image/jpeg', 'o/' || $3::text,
						'processed', nullif($4::text, '')::timestamptz, $5::jsonb FROM s RETURNING id, region_path)
				INSERT INTO media_site_links (media_id, site_id, how, region_path, site_path)
				SELECT m.id, s.id, 'near', m.region_path, s.region_path FROM m, s`, m.firm, uploader, fmt.Sprint("p", i), m.taken, thumbs); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var a *Appendix
	svc := New(func() time.Time { return clock })
	err = db.ReadInScope(ctx, w.pool, w.coordinator(), func(tx pgx.Tx) error {
		var err error
		a, err = svc.In(tx).RenderAppendix(ctx, Request{Kind: Illegal, TownshipID: w.t1, Month: "2026-11", FiledOn: filedOn})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if a.Name != "附件2_神垕镇_2026-11_照片附件.zip" || len(a.Photos) != 3 {
		t.Fatalf("appendix %q with %d photos", a.Name, len(a.Photos))
	}
	a.Photos[1].Missing = MissingObject // as the export marks a photo gone from the store
	files, err := a.Files()
	if err != nil || len(files) != 1 || files[0].Name != "附件2_神垕镇_2026-11.xlsx" {
		t.Fatalf("files %v %v", err, files)
	}
	dump := dumpXLSX(t, files[0].Body)
	plain := dumpXLSX(t, w.mustRender(t, w.coordinator(), Request{Kind: Illegal, TownshipID: w.t1, Month: "2026-11", FiledOn: filedOn}).Body)
	if !strings.HasPrefix(dump, plain) {
		t.Fatal("the appendix's ledger sheet differs from the download's")
	}
	var b strings.Builder
	b.WriteString(dump[len(plain):])
	f, err := excelize.OpenReader(bytes.NewReader(files[0].Body))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for row := 5; row <= 8; row++ {
		ok, link, _ := f.GetCellHyperLink("照片附件", fmt.Sprintf("E%d", row))
		fmt.Fprintf(&b, "link E%d %v %q\n", row, ok, link)
	}
	for _, p := range a.Photos {
		fmt.Fprintf(&b, "photo %s key=%v missing=%q\n", regexpID.ReplaceAllString(p.Path, "_<id>.jpg"), p.Key != "", p.Missing)
	}
	golden(t, "illegal_t1_photos.golden", regexpID.ReplaceAllString(b.String(), "_<id>.jpg"))
}

// regexpID is the media id at the end of a photo's file name (ids differ between databases).
var regexpID = regexp.MustCompile(`_[0-9]+\.jpg`)
