package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/sieve-city/sieve/client"
	"github.com/sieve-city/sieve/internal/changes"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/inspections"
	"github.com/sieve-city/sieve/internal/leads"
	"github.com/sieve-city/sieve/internal/sites"
)

// leadsWorld adds the scope fixtures of leads: an open market-entity lead in k1 (113.42, 34.2)
// and one in k2 (113.65, 34.2), placed by hand as sitesWorld places its sites (the world has
// no region shapes yet when it is built).
func (h *harness) leadsWorld(w *world) [2]int64 {
	h.t.Helper()
	ctx := context.Background()
	err := db.AsSystem(ctx, h.pool, "test", func(tx pgx.Tx) error {
		lead := func(id, cell int64, lon float64) {
			if _, err := tx.Exec(ctx, `INSERT INTO leads (id, kind, source_key, name, point, score, reasons)
				OVERRIDING SYSTEM VALUE VALUES ($1, 'market_entity', $3, '某化工作坊', ST_SetSRID(ST_MakePoint($2, 34.2), 4326),
				0.8, '{经营范围含“化工”}')`, id, lon, fmt.Sprint("fixture:", id)); err != nil {
				h.t.Fatal(err)
			}
			if _, err := tx.Exec(ctx, `UPDATE leads SET cell_id = r.id, region_path = r.path FROM regions r
				WHERE leads.id = $1 AND r.id = $2`, id, cell); err != nil {
				h.t.Fatal(err)
			}
		}
		lead(920001, w.k1, 113.42)
		lead(920002, w.k2, 113.65)
		return nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return [2]int64{920001, 920002}
}

// creditCode completes 17 characters to a valid unified social credit code.
func creditCode(t testing.TB, first17 string) string {
	for _, c := range "0123456789ABCDEFGHJKLMNPQRTUWXY" {
		if code := first17 + string(c); leads.CheckCreditCode(code) {
			return code
		}
	}
	t.Fatalf("no check character for %s", first17)
	return ""
}

// importLeads posts a CSV body of kind as tok and decodes the report (any status).
func (h *harness) importLeads(tok, kind string, body []byte) (int, leads.ImportReport, string) {
	h.t.Helper()
	status, b, _ := h.request(http.MethodPost, v1+"/leads/import?kind="+kind, bytes.NewReader(body),
		"Authorization", "Bearer "+tok, "Content-Type", "text/csv", "Accept-Language", "en")
	var rep leads.ImportReport
	if status < 300 {
		if err := json.Unmarshal([]byte(b), &rep); err != nil {
			h.t.Fatalf("decode %s: %v", b, err)
		}
	}
	return status, rep, b
}

func gbk(t testing.TB, s string) []byte {
	b, err := simplifiedchinese.GBK.NewEncoder().String(s)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(b)
}

// codesByLine is the report's refusals as line → code.
func codesByLine(rep leads.ImportReport) map[int]string {
	out := map[int]string{}
	for _, e := range rep.Errors {
		out[e.Line] = e.Code
	}
	return out
}

func sameCodes(got, want map[int]string) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

// TestLeadImportMarketEntities: a GBK file of market entities with bad rows imports the good
// ones and reports each bad one by line; the same file again adds nothing, and the same rows
// in another file (UTF-8 with a BOM) add nothing either; a file without a column is refused
// naming it; a coordinator's rows in another township are refused as outside their area.
func TestLeadImportMarketEntities(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	h.mapWorld(w)
	ctx := context.Background()
	matched := creditCode(t, "91411081MA4BXXXX0")
	if err := db.AsSystem(ctx, h.pool, "test", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE premises SET credit_code = $2, name = '禹州某油漆经营部' WHERE id = $1`, w.premise1, matched)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	good := creditCode(t, "91411081MA4AAAAA1")
	broken := creditCode(t, "91411081MA4BBBBB2")
	broken = broken[:17] + map[bool]string{true: "1", false: "0"}[broken[17] == '0']
	lines := []string{
		"企业名称,统一社会信用代码,地址,经营范围,经度,纬度",                                                       // 1
		"禹州市火龙化工有限公司," + good + ",火龙镇火龙村,化工产品销售（不含危险化学品）,113.43,34.25",                      // 2: chemical, placed by position
		"禹州某涂料厂," + broken + ",火龙镇,涂料生产,113.43,34.26",                                       // 3: broken check digit
		"禹州某溶剂公司," + creditCode(t, "91411081MA4CCCCC3") + ",火龙镇,溶剂销售,34.24,113.44",          // 4: lat/lon swapped
		"北京某化学公司," + creditCode(t, "91110000MA4DDDDD4") + ",北京市,化学试剂,116.40,39.90",          // 5: outside the city
		"禹州某饭店," + creditCode(t, "92411081MA4EEEEE5") + ",火龙镇,餐饮服务,113.44,34.27",            // 6: not chemical: no lead
		"禹州某油漆经营部," + matched + ",火龙镇,油漆零售,,",                                               // 7: by credit code → premise1, where the fixture lead is open
		"禹州某农药店," + creditCode(t, "92411081MA4FFFFF6") + ",火龙镇,农药零售,38512345.2,3781234.5",   // 8: projected metres
		"禹州某医药中间体厂," + creditCode(t, "91411081MA4GGGGG7") + ",无名路,医药中间体生产,,",                // 9: no position, no premise
		"顺店某化工厂," + creditCode(t, "91411081MA4HHHHH8") + ",顺店镇,化工原料,113.65,34.25",           // 10: another township
		"禹州某化工厂二," + creditCode(t, "91411081MA4JJJJJ9") + ",火龙镇,危险化学品经营,113.49,34.11,gcj02", // 11: a GCJ-02 position, converted
	}
	lines[0] += ",坐标系"
	for i := 1; i < len(lines)-1; i++ {
		lines[i] += ","
	}
	file := gbk(t, strings.Join(lines, "\r\n")+"\r\n")
	coord := h.token(w.users["coord"])

	status, rep, body := h.importLeads(coord, leads.KindMarketEntity, file)
	if status != http.StatusCreated || rep.Encoding != leads.EncGB18030 || rep.AlreadyImported {
		t.Fatalf("import: %d %s", status, body)
	}
	want := map[int]string{3: "invalid_credit_code", 4: "lat_lon_swapped", 5: "outside_city", 8: "projected_coordinates",
		9: "no_place", 10: "outside_scope"}
	if got := codesByLine(rep); !sameCodes(got, want) {
		t.Fatalf("refused rows %v, want %v (report %s)", got, want, body)
	}
	for _, e := range rep.Errors {
		if e.Message == "" || !strings.ContainsFunc(e.Message, func(r rune) bool { return r >= 0x4e00 && r <= 0x9fff }) {
			t.Errorf("line %d: message %q is not a zh-CN reason", e.Line, e.Message)
		}
	}
	if rep.Created != 2 || rep.Duplicates != 1 || rep.BelowThreshold != 1 || rep.Refused != 6 || len(rep.LeadIDs) != 3 {
		t.Fatalf("report %s: want 2 open leads (lines 2, 11), 1 duplicate (line 7), 1 below the threshold", body)
	}
	var list struct{ Items []leads.Lead }
	_, b := h.as(coord, http.MethodGet, v1+"/leads?kind=market_entity&limit=100", "")
	mustJSON(t, b, &list)
	byKey := map[string]leads.Lead{}
	for _, l := range list.Items {
		byKey[l.SourceKey] = l
	}
	first, dup, gcj := byKey["uscc:"+good], byKey["uscc:"+matched], byKey["uscc:"+creditCode(t, "91411081MA4JJJJJ9")]
	if first.Status != leads.Open || first.CellID == nil || *first.CellID != w.k1 || first.TaskID == nil || first.DueAt == nil ||
		first.Score != 0.8 || len(first.Reasons) == 0 {
		t.Fatalf("line 2's lead %+v: want open in k1 with a task and a verify-by date", first)
	}
	if dup.Status != leads.Duplicate || dup.DuplicateOf == nil || *dup.DuplicateOf != w.leads[0] || dup.PremiseID == nil ||
		*dup.PremiseID != w.premise1 || dup.TaskID != nil {
		t.Fatalf("line 7's lead %+v: want a duplicate of the fixture lead at premise1, without a task", dup)
	}
	if gcj.Status != leads.Open || gcj.CellID == nil || *gcj.CellID != w.k1b || gcj.Lon >= 113.49 {
		t.Fatalf("line 11's lead %+v: want the GCJ-02 position converted (west of 113.49) and placed in k1b", gcj)
	}
	var tasks int
	if err := db.AsSystem(ctx, h.pool, "test", func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) FROM tasks WHERE kind = 'lead' AND status = 'open'`).Scan(&tasks)
	}); err != nil || tasks != 2 {
		t.Fatalf("open lead tasks %d %v, want 2", tasks, err)
	}

	// The same file again: nothing added.
	status, again, body := h.importLeads(coord, leads.KindMarketEntity, file)
	if status != http.StatusOK || !again.AlreadyImported || again.ImportID != rep.ImportID || again.Created != 0 {
		t.Fatalf("second import: %d %s", status, body)
	}
	// The same rows in another file (UTF-8 with a BOM, one more comment column): every lead is known.
	utf := []byte("\ufeff" + strings.Join(lines, "\n") + "\n")
	status, other, body := h.importLeads(coord, leads.KindMarketEntity, utf)
	if status != http.StatusCreated || other.Encoding != leads.EncUTF8BOM || other.Created != 0 || other.Duplicates != 0 ||
		other.Known != 3 || !sameCodes(codesByLine(other), want) {
		t.Fatalf("same rows, other file: %d %s", status, body)
	}
	_, b = h.as(coord, http.MethodGet, v1+"/leads?kind=market_entity&limit=100", "")
	var after struct{ Items []leads.Lead }
	mustJSON(t, b, &after)
	if len(after.Items) != len(list.Items) {
		t.Fatalf("leads after the re-imports: %d, before %d", len(after.Items), len(list.Items))
	}

	// A file without 经营范围 is refused as a whole, naming it; nothing is written.
	status, _, body = h.importLeads(coord, leads.KindMarketEntity, []byte("企业名称,统一社会信用代码,地址\n某厂,"+good+",某地\n"))
	if status != http.StatusUnprocessableEntity || !strings.Contains(body, `"missing_columns"`) || !strings.Contains(body, "经营范围") {
		t.Fatalf("missing column: %d %s", status, body)
	}
	// Bytes that are neither UTF-8 nor GBK.
	status, _, body = h.importLeads(coord, leads.KindMarketEntity, []byte{0xff, 0xfe, 0x00, 0x81, 0x30})
	if status != http.StatusUnprocessableEntity || !strings.Contains(body, `"invalid_encoding"`) {
		t.Fatalf("binary file: %d %s", status, body)
	}
	status, _, body = h.importLeads(coord, "horoscope", file)
	if status != http.StatusBadRequest || !strings.Contains(body, `"invalid_parameter"`) {
		t.Fatalf("unknown kind: %d %s", status, body)
	}
	// A multipart upload of the file (as the map page's form sends it) is the same file.
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	fw, _ := mw.CreateFormFile("file", "市场主体.csv")
	fw.Write(file)
	mw.Close()
	status, b, _ = h.request(http.MethodPost, v1+"/leads/import?kind=market_entity", &mp, "Authorization", "Bearer "+coord,
		"Content-Type", mw.FormDataContentType())
	var mrep leads.ImportReport
	if mustJSON(t, b, &mrep); status != http.StatusOK || !mrep.AlreadyImported {
		t.Fatalf("multipart: %d %s", status, b)
	}
	// A grid worker may not import.
	if status, _, _ := h.importLeads(h.token(w.users["worker"]), leads.KindMarketEntity, file); status != http.StatusForbidden {
		t.Fatalf("worker import: %d", status)
	}
}

// powerFile is a power-user file (one row per account and month) with the months given.
func powerFile(header string, rows ...string) []byte {
	return []byte(header + "\n" + strings.Join(rows, "\n") + "\n")
}

const powerHeader = "户号,户名,地址,经度,纬度,用电类别,月份,用电量"

// monthsOf writes an account's rows for 2024-01 onward with these kWh.
func monthsOf(acct, name, addr, lon, lat, tariff string, kwh ...string) []string {
	var out []string
	for i, k := range kwh {
		out = append(out, fmt.Sprintf("%s,%s,%s,%s,%s,%s,2024-%02d,%s", acct, name, addr, lon, lat, tariff, i+1, k))
	}
	return out
}

// TestLeadImportPowerUsers: the three rules of issue 14 on one file with bad rows.
func TestLeadImportPowerUsers(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	h.mapWorld(w)
	ctx := context.Background()
	if err := db.AsSystem(ctx, h.pool, "test", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO premises (kind, name, address, tags, geom, cell_id, region_path)
			SELECT 'enterprise', '禹州某化工有限公司', '火龙镇工业园', '{化工企业}', ST_SetSRID(ST_MakePoint(113.44, 34.28), 4326), id, path
			FROM regions WHERE id = $1`, w.k1)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var rows []string
	rows = append(rows, monthsOf("A001", "王某", "火龙村一组", "113.44", "34.15", "居民", "200", "210", "190", "220", "205", "215", "2400")...) // 2-8: surge
	rows = append(rows, monthsOf("B002", "禹州某化工有限公司", "火龙镇工业园", "113.44", "34.28", "工业", "9000", "9100", "8900")...)                   // 9-11: registered
	rows = append(rows, monthsOf("C003", "李某", "火龙村二组", "113.47", "34.25", "居民", "3000", "3100", "2900")...)                           // 12-14: factory-like load
	rows = append(rows, monthsOf("D004", "某塑料制品厂", "火龙村三组", "113.46", "34.12", "动力电", "800", "820")...)                                // 15-16: 动力电, not registered
	rows = append(rows,
		"E005,赵某,火龙村,113.43,34.2,居民,2024-13,100",  // 17: bad month
		"E005,赵某,火龙村,113.43,34.2,居民,2024-01,abc",  // 18: bad kWh
		"F006,钱某,火龙村,113.43,34.2,特殊,2024-01,100",  // 19: unknown tariff
		"A001,王某,火龙村一组,113.44,34.15,居民,2024-07,1", // 20: the month again
		"G007,孙某,火龙村,34.21,113.43,居民,2024-01,100", // 21: swapped
		"H008,周某,火龙村,,,居民,2024-01,100",            // 22: no position, no premise, but not flagged: no lead, no error
	)
	coord := h.token(w.users["coord"])
	status, rep, body := h.importLeads(coord, leads.KindPowerUser, powerFile(powerHeader, rows...))
	if status != http.StatusCreated || rep.Encoding != leads.EncUTF8 {
		t.Fatalf("import: %d %s", status, body)
	}
	want := map[int]string{17: "invalid_month", 18: "invalid_kwh", 19: "invalid_tariff", 20: "duplicate_month", 21: "lat_lon_swapped"}
	if got := codesByLine(rep); !sameCodes(got, want) {
		t.Fatalf("refused %v, want %v: %s", got, want, body)
	}
	if rep.Created != 3 || rep.BelowThreshold != 2 {
		t.Fatalf("report %s: want 3 leads (A surge, C load, D 动力电), 2 below (B registered, H)", body)
	}
	var list struct{ Items []leads.Lead }
	_, b := h.as(coord, http.MethodGet, v1+"/leads?kind=power_user", "")
	mustJSON(t, b, &list)
	rules := map[string]string{}
	for _, l := range list.Items {
		var d struct{ Rules []string }
		_ = json.Unmarshal(l.Detail, &d)
		rules[l.SourceKey] = strings.Join(d.Rules, ",")
	}
	if rules["account:A001@2024-07"] != "surge" || rules["account:C003@2024-03"] != "residential_load" ||
		rules["account:D004@2024-02"] != "industrial_power" {
		t.Fatalf("rules %v", rules)
	}
	for _, l := range list.Items {
		if l.SourceKey == "account:A001@2024-07" && !strings.Contains(strings.Join(l.Reasons, ""), "前月") {
			t.Fatalf("surge reasons %v", l.Reasons)
		}
	}
	// Missing columns name every one missing.
	status, _, body = h.importLeads(coord, leads.KindPowerUser, []byte("户号,户名,地址\nA,B,C\n"))
	if status != http.StatusUnprocessableEntity || !strings.Contains(body, "用电类别") || !strings.Contains(body, "月份") ||
		!strings.Contains(body, "用电量") {
		t.Fatalf("missing columns: %d %s", status, body)
	}
}

// repeated is a body of head then line again and again up to n bytes, made as it is read (the
// test holds none of it).
type repeated struct {
	head, line string
	n, off     int64
}

func (r *repeated) Read(p []byte) (int, error) {
	if r.off >= r.n {
		return 0, io.EOF
	}
	k := 0
	for k < len(p) && r.off < r.n {
		var src string
		var at int64
		if r.off < int64(len(r.head)) {
			src, at = r.head, r.off
		} else {
			src, at = r.line, (r.off-int64(len(r.head)))%int64(len(r.line))
		}
		c := copy(p[k:], src[at:])
		c = int(min(int64(c), r.n-r.off))
		k += c
		r.off += int64(c)
	}
	return k, nil
}

// TestLeadImportStreams: the import reads the body as a stream. A chunked body (no
// Content-Length to refuse it by) that grows past the leads' size limit is refused with 413
// file_too_large once the reading passes it, and nothing of its rows is kept; a body of white
// space is 400 empty_body; a GBK file whose first Chinese character comes 1 MB into the file
// is read as GBK.
func TestLeadImportStreams(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	h.mapWorld(w)
	coord := h.token(w.users["coord"])
	limit := h.srv.Leads.Config().MaxBytes
	post := func(body io.Reader) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, h.url+v1+"/leads/import?kind="+leads.KindPowerUser, body)
		req.ContentLength = -1 // chunked: the limit is found while reading
		req.Header.Set("Authorization", "Bearer "+coord)
		req.Header.Set("Content-Type", "text/csv")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	big := &repeated{head: powerHeader + "\n", line: "D004,某塑料制品厂,火龙村三组,113.46,34.12,动力电,2024-02,820\n", n: limit + 4<<20}
	status, body := post(big)
	if status != http.StatusRequestEntityTooLarge || !strings.Contains(body, `"file_too_large"`) {
		t.Fatalf("a chunked body past the limit: %d %s", status, body)
	}
	_, b := h.as(coord, http.MethodGet, v1+"/leads?kind=power_user", "")
	var none struct{ Items []leads.Lead }
	if mustJSON(t, b, &none); len(none.Items) != 0 {
		t.Fatalf("leads of the refused file: %s", b)
	}
	if status, body := post(strings.NewReader(" \r\n\t\n")); status != http.StatusBadRequest || !strings.Contains(body, `"empty_body"`) {
		t.Fatalf("blank body: %d %s", status, body)
	}
	// The first non-ASCII byte 1 MB into the file: an English header and accounts of ASCII
	// names first, then 动力电.
	var f bytes.Buffer
	f.WriteString("account,name,address,lon,lat,tariff,month,kwh\n")
	for i := 0; f.Len() < 1<<20; i++ {
		fmt.Fprintf(&f, "X%06d,Zhang,Village,113.44,34.15,residential,2024-01,100\n", i)
	}
	f.Write(gbk(t, "D004,某塑料制品厂,火龙村三组,113.46,34.12,动力电,2024-01,800\nD004,某塑料制品厂,火龙村三组,113.46,34.12,动力电,2024-02,820\n"))
	status, rep, body := h.importLeads(coord, leads.KindPowerUser, f.Bytes())
	if status != http.StatusCreated || rep.Encoding != leads.EncGB18030 || rep.Created != 1 || rep.Refused != 0 {
		t.Fatalf("GBK far in: %d %s", status, body[:min(len(body), 600)])
	}
	_, b = h.as(coord, http.MethodGet, v1+"/leads/"+strconv.FormatInt(rep.LeadIDs[0], 10), "")
	if !strings.Contains(b, "某塑料制品厂") {
		t.Fatalf("the lead's name is not read as GBK: %s", b)
	}
}

// TestPowerSurgeLeadToSite is issue 14's end to end: a power-surge lead at a premise → a task on
// the worker's phone sync → the worker's suspected inspection of the premise (POST
// /inspections) → a site, the lead confirmed with it, the task closed on the phone, and the
// power users' hit rate moves from 0 to 1.
func TestPowerSurgeLeadToSite(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	h.mapWorld(w)
	ctx := context.Background()
	var premise int64
	err := db.AsSystem(ctx, h.pool, "test", func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO premises (kind, name, address, geom, cell_id, region_path)
			SELECT 'household', '王小五', '火龙村三组', ST_SetSRID(ST_MakePoint(113.43, 34.22), 4326), id, path
			FROM regions WHERE id = $1 RETURNING id`, w.k1).Scan(&premise); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO rounds (name, starts_at, ends_at) VALUES ('第一轮', now() - interval '1 day', now() + interval '60 days')`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	wtok := h.token(w.users["worker"])
	worker := client.New(h.url, client.WithToken(wtok), client.WithLanguage("en"))
	_, cursor, _, err := worker.SyncAll(ctx, "")
	if err != nil {
		t.Fatal(err)
	}

	// The power bureau's file: no position, matched to the premise by name and address.
	coord := h.token(w.users["coord"])
	file := powerFile("户号,户名,地址,用电类别,月份,用电量", strings.Split(strings.TrimSpace(
		"0410001,王小五,火龙村三组,居民,2024-01,180\n0410001,王小五,火龙村三组,居民,2024-02,175\n"+
			"0410001,王小五,火龙村三组,居民,2024-03,190\n0410001,王小五,火龙村三组,居民,2024-04,185\n"+
			"0410001,王小五,火龙村三组,居民,2024-05,200\n0410001,王小五,火龙村三组,居民,2024-06,195\n"+
			"0410001,王小五,火龙村三组,居民,2024-07,1850"), "\n")...)
	status, rep, body := h.importLeads(coord, leads.KindPowerUser, file)
	if status != http.StatusCreated || rep.Created != 1 || len(rep.LeadIDs) != 1 {
		t.Fatalf("import: %d %s", status, body)
	}
	leadID := rep.LeadIDs[0]
	hitRate := func() leads.HitRate {
		var out struct{ Items []leads.HitRate }
		_, b := h.as(coord, http.MethodGet, v1+"/leads/hit-rates", "")
		mustJSON(t, b, &out)
		for _, r := range out.Items {
			if r.Kind == leads.KindPowerUser {
				return r
			}
		}
		t.Fatalf("no power_user row in %s", b)
		return leads.HitRate{}
	}
	if r := hitRate(); r.Leads != 1 || r.Open != 1 || r.SiteShare != 0 {
		t.Fatalf("hit rate before: %+v", r)
	}

	// The task reaches the worker's phone.
	items, cursor, _, err := worker.SyncAll(ctx, cursor)
	if err != nil {
		t.Fatal(err)
	}
	var taskID string
	for _, it := range items {
		if it.Kind == changes.KindTask && it.Op == "upsert" && it.Task != nil && it.Task.Kind == "lead" && it.Task.Ref == fmt.Sprint(leadID) {
			taskID = it.ID
			if it.Task.PremiseID == nil || *it.Task.PremiseID != premise || it.Task.DueAt == nil || !strings.Contains(it.Task.Detail, "前月") {
				t.Fatalf("lead task %+v: want the premise, a verify-by date and the surge reason", it.Task)
			}
		}
	}
	if taskID == "" {
		t.Fatalf("the lead's task is not in the worker's sync: %+v", items)
	}

	// The worker visits and finds it suspected.
	acc := 6.0
	inspection := "7a2d3b5c-9e4f-4a61-8b7c-2d3e4f5a6b70"
	if _, created, err := worker.RecordInspection(ctx, client.InspectionRequest{ID: inspection, PremiseID: &premise,
		VisitedAt: time.Now().Add(-30 * time.Minute), Position: &inspections.Position{Lon: 113.43001, Lat: 34.22001, AccuracyM: &acc, CRS: "wgs84"},
		Outcome: "suspected", Findings: []string{"non_chemical_producing"}}); err != nil || !created {
		t.Fatalf("record the inspection: %v %v", created, err)
	}
	var lead leads.Lead
	_, b := h.as(coord, http.MethodGet, fmt.Sprintf("%s/leads/%d", v1, leadID), "")
	mustJSON(t, b, &lead)
	if lead.Status != leads.Confirmed || lead.SiteID == nil || lead.OutcomeRef != inspection || lead.OutcomeBy == nil ||
		*lead.OutcomeBy != w.users["worker"].ID {
		t.Fatalf("lead after the inspection: %s", b)
	}
	cl := client.New(h.url, client.WithToken(coord), client.WithLanguage("en"))
	site, err := cl.GetSite(ctx, *lead.SiteID)
	if err != nil || site.PremiseID == nil || *site.PremiseID != premise || site.Status != sites.Suspected ||
		len(site.InspectionIDs) != 1 || site.InspectionIDs[0] != inspection {
		t.Fatalf("site %+v %v: want the premise's site holding the inspection", site, err)
	}
	// The task leaves the phone.
	items, _, _, err = worker.SyncAll(ctx, cursor)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	for _, it := range items {
		closed = closed || (it.Kind == changes.KindTask && it.ID == taskID && it.Op == "delete")
	}
	if !closed {
		t.Fatalf("the done task is not removed from the phone: %+v", items)
	}
	if r := hitRate(); r.Leads != 1 || r.Open != 0 || r.Confirmed != 1 || r.SiteShare != 1 {
		t.Fatalf("hit rate after: %+v", r)
	}
}

// TestLeadOutcomes: a coordinator confirms a lead (a new site of source lead) or clears one
// with a reason; a decided lead is 409, a clearing without a reason 422, another township's 404.
func TestLeadOutcomes(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	h.mapWorld(w)
	coord := h.token(w.users["coord"])
	path := func(id int64) string { return fmt.Sprintf("%s/leads/%d", v1, id) }
	status, b := h.as(coord, http.MethodPatch, path(w.leads[0]), `{"status": "cleared"}`)
	if status != http.StatusUnprocessableEntity || !strings.Contains(b, `"reason_required"`) {
		t.Fatalf("clear without reason: %d %s", status, b)
	}
	status, b = h.as(coord, http.MethodPatch, path(w.leads[0]), `{"status": "confirmed", "reason": "现场核查属实"}`)
	var l leads.Lead
	if mustJSON(t, b, &l); status != http.StatusOK || l.Status != leads.Confirmed || l.SiteID == nil || l.OutcomeReason != "现场核查属实" {
		t.Fatalf("confirm: %d %s", status, b)
	}
	var site sites.Site
	_, sb := h.as(coord, http.MethodGet, fmt.Sprintf("%s/sites/%d", v1, *l.SiteID), "")
	if mustJSON(t, sb, &site); site.Source != sites.FromLead || site.SourceRef != fmt.Sprintf("lead:%d", w.leads[0]) || site.FirmName != "某化工作坊" {
		t.Fatalf("site of the lead: %s", sb)
	}
	if status, b = h.as(coord, http.MethodPatch, path(w.leads[0]), `{"status": "cleared", "reason": "x"}`); status != http.StatusConflict ||
		!strings.Contains(b, `"lead_not_open"`) {
		t.Fatalf("decide again: %d %s", status, b)
	}
	if status, b = h.as(coord, http.MethodPatch, path(w.leads[1]), `{"status": "cleared", "reason": "x"}`); status != http.StatusNotFound {
		t.Fatalf("another township's lead: %d %s", status, b)
	}
	admin := h.token(w.users["admin"])
	status, b = h.as(admin, http.MethodPatch, path(w.leads[1]), `{"status": "cleared", "reason": "正规仓储企业，已核实"}`)
	if mustJSON(t, b, &l); status != http.StatusOK || l.Status != leads.Cleared || l.SiteID != nil {
		t.Fatalf("clear: %d %s", status, b)
	}
	var rates struct{ Items []leads.HitRate }
	_, b = h.as(admin, http.MethodGet, v1+"/leads/hit-rates", "")
	mustJSON(t, b, &rates)
	if len(rates.Items) != 2 || rates.Items[0].Kind != leads.KindMarketEntity || rates.Items[0].Confirmed != 1 ||
		rates.Items[0].Cleared != 1 || rates.Items[0].SiteShare != 0.5 || rates.Items[1].Kind != leads.KindPowerUser ||
		rates.Items[1].Leads != 0 {
		t.Fatalf("hit rates: %s", b)
	}
	status, b = h.as(admin, http.MethodGet, v1+"/leads?status=cleared", "")
	var list struct{ Items []leads.Lead }
	if mustJSON(t, b, &list); status != http.StatusOK || len(list.Items) != 1 || list.Items[0].ID != w.leads[1] {
		t.Fatalf("cleared leads: %s", b)
	}
	if status, _ = h.as(admin, http.MethodGet, v1+"/leads?status=maybe", ""); status != http.StatusBadRequest {
		t.Fatalf("bad status filter: %d", status)
	}
}

// TestClientLeads: the leads calls of the Go client.
func TestClientLeads(t *testing.T) {
	h := newHarness(t)
	w := h.world()
	h.mapWorld(w)
	ctx := context.Background()
	coord := client.New(h.url, client.WithToken(h.token(w.users["coord"])), client.WithLanguage("en"))
	code := creditCode(t, "91411081MA4KKKKK1")
	rep, err := coord.ImportLeads(ctx, leads.KindMarketEntity, "名录.csv",
		strings.NewReader("企业名称,统一社会信用代码,地址,经营范围,经度,纬度\n某涂料厂,"+code+",火龙镇,涂料生产,113.44,34.28\n"))
	if err != nil || rep.Created != 1 || len(rep.LeadIDs) != 1 {
		t.Fatalf("import: %+v %v", rep, err)
	}
	list, err := coord.ListLeads(ctx, client.LeadFilter{Kind: leads.KindMarketEntity, Status: leads.Open, RegionID: w.t1})
	if err != nil || len(list.Items) != 2 { // the new lead and the fixture in k1
		t.Fatalf("list: %+v %v", list, err)
	}
	l, err := coord.GetLead(ctx, rep.LeadIDs[0])
	if err != nil || l.SourceKey != "uscc:"+code || l.Score != 0.5 {
		t.Fatalf("get: %+v %v", l, err)
	}
	if l, err = coord.DecideLead(ctx, l.ID, client.LeadOutcome{Status: leads.Cleared, Reason: "已取得许可"}); err != nil || l.Status != leads.Cleared {
		t.Fatalf("decide: %+v %v", l, err)
	}
	rates, err := coord.LeadHitRates(ctx, w.t1)
	if err != nil || len(rates) != 2 || rates[0].Cleared != 1 || rates[0].Open != 1 {
		t.Fatalf("hit rates: %+v %v", rates, err)
	}
}
