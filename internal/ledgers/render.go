package ledgers

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/chinatime"
	"github.com/sieve-city/sieve/internal/sites"
)

// The content types of the formats.
const (
	ContentTypeXLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	ContentTypeCSV  = "text/csv; charset=utf-8"
)

// The public errors of this package.
var (
	ErrMonth = apperr.New(http.StatusBadRequest, "invalid_month", "month must be YYYY-MM (2000-01 to 2099-12)",
		"月份格式应为 YYYY-MM")
	ErrMonthNotBegun = apperr.New(http.StatusUnprocessableEntity, "month_not_begun",
		"the month has not begun yet", "所选月份尚未开始")
	ErrFormat = apperr.New(http.StatusBadRequest, "invalid_format", "format must be xlsx or csv",
		"格式应为 xlsx 或 csv")
	ErrKind = apperr.New(http.StatusBadRequest, "invalid_ledger", "kind must be illegal, exited or exited_list",
		"台账类型无效")
)

var monthRE = regexp.MustCompile(`^(20[0-9]{2})-(0[1-9]|1[0-2])$`)

// ParseMonth returns the instants a month "YYYY-MM" starts and ends at, in China Standard Time.
func ParseMonth(m string) (start, end time.Time, err error) {
	p := monthRE.FindStringSubmatch(m)
	if p == nil {
		return time.Time{}, time.Time{}, ErrMonth
	}
	y, _ := strconv.Atoi(p[1])
	mo, _ := strconv.Atoi(p[2])
	start = time.Date(y, time.Month(mo), 1, 0, 0, 0, 0, chinatime.Zone)
	return start, start.AddDate(0, 1, 0), nil
}

// Month returns the month "YYYY-MM" that t falls in, in China Standard Time.
func Month(t time.Time) string { return t.In(chinatime.Zone).Format("2006-01") }

// corners are the seed's labels of the forms.
var corners = map[Kind]string{Illegal: "附件2", Exited: "附件3", ExitedList: "附件1"}

func (s *Service) render(ctx context.Context, req Request) (File, error) {
	l, _, err := s.build(ctx, req)
	if err != nil {
		return File{}, err
	}
	return l.file()
}

// build reads the rows of req under the caller's scope and lays out the ledger's forms; for
// 附件2 it returns the rows too (what a photo appendix is made of).
func (s *Service) build(ctx context.Context, req Request) (*ledger, []illegalRow, error) {
	corner, ok := corners[req.Kind]
	if !ok {
		return nil, nil, ErrKind
	}
	if req.Format == "" {
		req.Format = "xlsx"
	}
	if req.Format != "xlsx" && req.Format != "csv" {
		return nil, nil, ErrFormat
	}
	start, end, err := ParseMonth(req.Month)
	if err != nil {
		return nil, nil, err
	}
	now := s.now()
	if start.After(now) {
		return nil, nil, ErrMonthNotBegun
	}
	filed := req.FiledOn
	if filed.IsZero() {
		filed = now
	}
	var (
		place township
		towns []township
		whole = req.TownshipID == 0
	)
	if whole {
		if place, towns, err = city(ctx, s.q); err != nil {
			return nil, nil, err
		}
	} else {
		if place, err = oneTownship(ctx, s.q, req.TownshipID); err != nil {
			return nil, nil, err
		}
		towns = []township{place}
	}
	var illegal []illegalRow
	l := ledger{kind: req.Kind, corner: corner, place: place, towns: towns, whole: whole, end: end,
		filed: dateCN(filed), asOf: "统计截至：" + dateCN(end.Add(-time.Hour))}
	switch req.Kind {
	case Illegal:
		if illegal, err = illegalRows(ctx, s.q, towns, end); err != nil {
			return nil, nil, err
		}
		l.illegal(illegal)
	case Exited:
		rows, err := exitedRows(ctx, s.q, towns, end, true)
		if err != nil {
			return nil, nil, err
		}
		l.exited(rows)
	case ExitedList:
		var rows []exitedRow
		if whole {
			rows, err = registerRows(ctx, s.q, end)
		} else {
			rows, err = exitedRows(ctx, s.q, towns, end, false)
		}
		if err != nil {
			return nil, nil, err
		}
		l.list(rows)
	}
	l.name = fmt.Sprintf("%s_%s_%s", corner, place.Name, req.Month)
	l.format = req.Format
	return &l, illegal, nil
}

// file writes the ledger in its format.
func (l *ledger) file() (File, error) {
	name := l.name + "." + l.format
	if l.format == "csv" {
		return File{Name: name, ContentType: ContentTypeCSV, Body: l.csv()}, nil
	}
	body, err := workbook(l.forms)
	if err != nil {
		return File{}, err
	}
	return File{Name: name, ContentType: ContentTypeXLSX, Body: body}, nil
}

// ledger is a ledger being made: its forms (sheets) for XLSX and its lines for CSV.
type ledger struct {
	kind   Kind
	corner string
	place  township // the township, or the city
	towns  []township
	whole  bool
	end    time.Time
	filed  string
	asOf   string
	name   string // the file's name without its extension: 附件2_神垕镇_2026-11
	format string // xlsx | csv
	seqs   []int  // 附件2: the 序号 of each row, in the rows' order

	forms []*form
	// CSV: the form's columns (with 乡镇（街道） first for the whole city) and the lines.
	csvHead  []string
	csvLines [][]string
}

func (l *ledger) sheetForm(t township, title string, cols []column, empty string) *form {
	return &form{Sheet: t.Name, Corner: l.corner, Title: title, Unit: t.Name, AsOf: l.asOf, FiledOn: l.filed,
		Columns: cols, Empty: empty, Footer: true}
}

// perTown makes one form per township, named uniquely, and gives each its rows.
func (l *ledger) perTown(title func(township) string, cols []column, empty string, n int,
	town func(i int) int64, cells func(seq, i int) []string) {
	taken := map[string]bool{"汇总": true}
	byID := map[int64]*form{}
	for _, t := range l.towns {
		fm := l.sheetForm(t, title(t), cols, empty)
		fm.Sheet = validSheetName(t.Name, taken)
		byID[t.ID] = fm
		l.forms = append(l.forms, fm)
	}
	names := map[int64]string{}
	for _, t := range l.towns {
		names[t.ID] = t.Name
	}
	l.csvHead = titles(cols)
	if l.whole {
		l.csvHead = append([]string{"乡镇（街道）"}, l.csvHead...)
	}
	for i := 0; i < n; i++ {
		fm := byID[town(i)]
		line := cells(len(fm.Rows)+1, i)
		fm.Rows = append(fm.Rows, line)
		if l.whole {
			line = append([]string{names[town(i)]}, line...)
		}
		l.csvLines = append(l.csvLines, line)
	}
}

func titles(cols []column) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c.Title
	}
	return out
}

func (l *ledger) illegal(rows []illegalRow) {
	l.perTown(func(t township) string { return t.Name + "非法违法“小化工”清单台账" }, illegalColumns,
		"本月无非法违法“小化工”", len(rows), func(i int) int64 { return rows[i].TownshipID },
		func(seq, i int) []string { l.seqs = append(l.seqs, seq); return illegalCells(seq, rows[i], l.end) })
	if !l.whole {
		return
	}
	// The summary: per township the number of cases, of each violation column (and, of
	// 其他违法违规行为, the firms that left hazardous-chemical production and produce again), and
	// of the rectified ones.
	cols := []column{{Title: "序号", Width: 6, Center: true}, {Title: "乡镇（街道）", Width: 16, Center: true},
		{Title: "台账数（处）", Width: 10, Center: true}}
	for _, c := range illegalColumns[4:10] {
		cols = append(cols, c)
	}
	cols = append(cols, column{Title: "其中：已退出企业非法生产", Width: 12, Center: true},
		column{Title: "已整改（处）", Width: 10, Center: true})
	counts := map[int64][]int{}
	for _, t := range l.towns {
		counts[t.ID] = make([]int, 9)
	}
	for _, x := range rows {
		c := counts[x.TownshipID]
		c[0]++
		seen := map[int]bool{}
		for _, cl := range x.Classes {
			if v, ok := violationOf[cl]; ok && !seen[v] {
				seen[v] = true
				c[1+v]++
			}
		}
		if slices.Contains(x.Classes, sites.ExitedProducing) {
			c[7]++
		}
		if x.Status == sites.Rectified || x.Status == sites.Closed {
			c[8]++
		}
	}
	l.summary("非法违法“小化工”清单台账汇总表", cols, counts)
}

func (l *ledger) exited(rows []exitedRow) {
	l.perTown(func(t township) string { return t.Name + "已退出企业排查台账" }, exitedColumns,
		"本乡镇（街道）无已退出企业", len(rows), func(i int) int64 { return rows[i].TownshipID },
		func(seq, i int) []string { return exitedCells(seq, rows[i]) })
	if !l.whole {
		return
	}
	cols := []column{{Title: "序号", Width: 6, Center: true}, {Title: "乡镇（街道）", Width: 16, Center: true},
		{Title: "已退出企业（家）", Width: 12, Center: true}, {Title: "已排查（家）", Width: 12, Center: true},
		{Title: "生产装置已拆除（家）", Width: 14, Center: true}, {Title: "存在转产情况（家）", Width: 14, Center: true},
		{Title: "未排查（家）", Width: 12, Center: true}}
	counts := map[int64][]int{}
	for _, t := range l.towns {
		counts[t.ID] = make([]int, 5)
	}
	for _, x := range rows {
		c := counts[x.TownshipID]
		c[0]++
		if !x.Checked {
			c[4]++
			continue
		}
		c[1]++
		if x.Removed != nil && *x.Removed {
			c[2]++
		}
		if x.Converted != nil && *x.Converted {
			c[3]++
		}
	}
	l.summary("已退出企业排查台账汇总表", cols, counts)
}

// summary puts the whole city's summary sheet first: a line per township of counts, and the
// total.
func (l *ledger) summary(title string, cols []column, counts map[int64][]int) {
	fm := &form{Sheet: "汇总", Corner: l.corner, Title: l.place.Name + title, Unit: l.place.Name, AsOf: l.asOf,
		FiledOn: l.filed, Columns: cols, Footer: true}
	var total []int
	for i, t := range l.towns {
		c := counts[t.ID]
		if total == nil {
			total = make([]int, len(c))
		}
		line := []string{strconv.Itoa(i + 1), t.Name}
		for k, v := range c {
			line = append(line, strconv.Itoa(v))
			total[k] += v
		}
		fm.Rows = append(fm.Rows, line)
	}
	line := []string{"", "合计"}
	for k := range len(cols) - 2 {
		v := 0
		if k < len(total) {
			v = total[k]
		}
		line = append(line, strconv.Itoa(v))
	}
	fm.Rows = append(fm.Rows, line)
	l.forms = append([]*form{fm}, l.forms...)
}

func (l *ledger) list(rows []exitedRow) {
	if !l.whole {
		l.perTown(func(t township) string { return t.Name + "已退出危险化学品生产的企业名单" }, listColumns,
			"本乡镇（街道）无已退出企业", len(rows), func(i int) int64 { return rows[i].TownshipID },
			func(seq, i int) []string { return listCells(seq, rows[i]) })
		l.forms[0].Unit = ""
		return
	}
	// The city's 附件1 is one list, as the seed's.
	fm := &form{Sheet: "附件1", Corner: l.corner, Title: "已退出危险化学品生产的企业名单", Columns: listColumns,
		Empty: "无"}
	l.csvHead = titles(listColumns)
	for i, x := range rows {
		line := listCells(i+1, x)
		fm.Rows = append(fm.Rows, line)
		l.csvLines = append(l.csvLines, line)
	}
	l.forms = []*form{fm}
}

// csv writes the ledger's lines as CSV in UTF-8 with a byte-order mark (so that Excel opens it
// as Chinese), under one header row of the form's columns.
func (l *ledger) csv() []byte {
	var b bytes.Buffer
	b.WriteString("\xef\xbb\xbf")
	w := csv.NewWriter(&b)
	w.UseCRLF = true
	_ = w.Write(l.csvHead) // a bytes.Buffer does not fail
	_ = w.WriteAll(l.csvLines)
	return b.Bytes()
}
