package ledgers

import (
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
)

// The print settings of every ledger sheet: A4 (paper size 9 of ECMA-376) landscape, one page
// wide and as many long as it takes, the header rows repeated on every page, page numbers in
// the footer.
const (
	paperA4    = 9
	pageFooter = "&C第 &P 页 共 &N 页"
	fontBody   = "宋体"
	fontTitle  = "黑体"
)

// xlsxStyles are the workbook's cell styles.
type xlsxStyles struct {
	corner, title, line, lineRight, header, body, bodyCenter, empty, footer, link int
}

func newStyles(f *excelize.File) (xlsxStyles, error) {
	border := []excelize.Border{
		{Type: "left", Color: "000000", Style: 1}, {Type: "right", Color: "000000", Style: 1},
		{Type: "top", Color: "000000", Style: 1}, {Type: "bottom", Color: "000000", Style: 1},
	}
	var st xlsxStyles
	specs := []struct {
		to *int
		s  excelize.Style
	}{
		{&st.corner, excelize.Style{Font: &excelize.Font{Family: fontTitle, Size: 12},
			Alignment: &excelize.Alignment{Horizontal: "left", Vertical: "center"}}},
		{&st.title, excelize.Style{Font: &excelize.Font{Family: fontTitle, Size: 18, Bold: true},
			Alignment: &excelize.Alignment{Horizontal: "center", Vertical: "center", WrapText: true}}},
		{&st.line, excelize.Style{Font: &excelize.Font{Family: fontBody, Size: 11},
			Alignment: &excelize.Alignment{Horizontal: "left", Vertical: "center"}}},
		{&st.lineRight, excelize.Style{Font: &excelize.Font{Family: fontBody, Size: 11},
			Alignment: &excelize.Alignment{Horizontal: "right", Vertical: "center"}}},
		{&st.header, excelize.Style{Font: &excelize.Font{Family: fontBody, Size: 11, Bold: true}, Border: border,
			Alignment: &excelize.Alignment{Horizontal: "center", Vertical: "center", WrapText: true}}},
		{&st.body, excelize.Style{Font: &excelize.Font{Family: fontBody, Size: 10}, Border: border,
			Alignment: &excelize.Alignment{Horizontal: "left", Vertical: "center", WrapText: true, Indent: 1}}},
		{&st.bodyCenter, excelize.Style{Font: &excelize.Font{Family: fontBody, Size: 10}, Border: border,
			Alignment: &excelize.Alignment{Horizontal: "center", Vertical: "center", WrapText: true}}},
		{&st.empty, excelize.Style{Font: &excelize.Font{Family: fontBody, Size: 10}, Border: border,
			Alignment: &excelize.Alignment{Horizontal: "center", Vertical: "center"}}},
		{&st.footer, excelize.Style{Font: &excelize.Font{Family: fontBody, Size: 11},
			Alignment: &excelize.Alignment{Horizontal: "left", Vertical: "center"}}},
		{&st.link, excelize.Style{Font: &excelize.Font{Family: fontBody, Size: 10, Color: "0563C1", Underline: "single"},
			Border: border, Alignment: &excelize.Alignment{Horizontal: "left", Vertical: "center", WrapText: true, Indent: 1}}},
	}
	for _, sp := range specs {
		id, err := f.NewStyle(&sp.s)
		if err != nil {
			return st, fmt.Errorf("ledgers: style: %w", err)
		}
		*sp.to = id
	}
	return st, nil
}

// cellName is the A1 name of column col (0-based) in row (1-based).
func cellName(col, row int) string {
	n, _ := excelize.CoordinatesToCellName(col+1, row)
	return n
}

// colName is the letter of column col (0-based).
func colName(col int) string {
	n, _ := excelize.ColumnNumberToName(col + 1)
	return n
}

// textWidth is about how wide s is in the body's 10-point font, in Excel's character units (the
// width of a "0" of the default 11-point font): a CJK (full-width) character about 1.55, other
// characters 0.85 (measured on LibreOffice's rendering of these sheets).
func textWidth(s string) float64 {
	w := 0.0
	for _, r := range s {
		if r >= 0x2E80 || (r >= 0xFF00 && r <= 0xFFEF) {
			w += 1.55
		} else {
			w += 0.85
		}
	}
	return w
}

// linesIn is how many lines s takes in a wrapped cell of width w.
func linesIn(s string, w float64) int {
	n := 0
	for _, part := range strings.Split(s, "\n") {
		n += max(1, int(math.Ceil(textWidth(part)/max(w-2, 1))))
	}
	return n
}

// rowHeight is the height (points) that shows every wrapped cell of a row whole: Excel and
// LibreOffice do not grow a row on opening a file, so the writer sizes it.
func rowHeight(cells []string, cols []column, lineHeight, min float64) float64 {
	lines := 1
	for i, c := range cells {
		if i < len(cols) && c != "" {
			lines = max(lines, linesIn(c, cols[i].Width))
		}
	}
	return max(min, float64(lines)*lineHeight+4)
}

// validSheetName makes a township's name a sheet name (at most 31 characters, none of []:*?/\).
func validSheetName(s string, taken map[string]bool) string {
	s = strings.Map(func(r rune) rune {
		if strings.ContainsRune(`[]:*?/\`, r) {
			return '_'
		}
		return r
	}, s)
	if utf8.RuneCountInString(s) > 28 {
		s = string([]rune(s)[:28])
	}
	base := s
	for i := 2; taken[s]; i++ {
		s = fmt.Sprintf("%s_%d", base, i)
	}
	taken[s] = true
	return s
}

// writeForm lays one form out on sheet: the corner label, the title merged across the columns,
// the 填报单位/填报日期 line, the (merged two-row) header, the rows with borders, the footer, and
// the print settings.
func writeForm(f *excelize.File, sheet string, st xlsxStyles, fm *form) error {
	n := len(fm.Columns)
	last := colName(n - 1)
	set := func(col, row int, v string, style int) error {
		c := cellName(col, row)
		if err := f.SetCellStr(sheet, c, v); err != nil {
			return err
		}
		return f.SetCellStyle(sheet, c, c, style)
	}
	merge := func(c0, r0, c1, r1 int) error {
		if c0 == c1 && r0 == r1 {
			return nil
		}
		return f.MergeCell(sheet, cellName(c0, r0), cellName(c1, r1))
	}
	// Every call below is a cell or sheet operation on names made here, which cannot fail but for
	// a bug; the first error is kept and returned.
	var werr error
	do := func(err error) {
		if werr == nil && err != nil {
			werr = err
		}
	}
	for i, c := range fm.Columns {
		do(f.SetColWidth(sheet, colName(i), colName(i), c.Width))
	}
	// Row 1: 附件N. Row 2: the title. Row 3: 填报单位（盖章） … 填报日期.
	do(set(0, 1, fm.Corner, st.corner))
	do(f.SetRowHeight(sheet, 1, 20))
	do(set(0, 2, fm.Title, st.title))
	do(f.SetCellStyle(sheet, "A2", last+"2", st.title))
	do(merge(0, 2, n-1, 2))
	do(f.SetRowHeight(sheet, 2, 36))
	split := max(1, n/2)
	if fm.Unit != "" {
		do(set(0, 3, "填报单位（盖章）："+fm.Unit, st.line))
		do(merge(0, 3, split-1, 3))
		do(set(split, 3, strings.TrimSpace(fm.AsOf+"　　填报日期："+fm.FiledOn), st.lineRight))
		do(f.SetCellStyle(sheet, cellName(split, 3), cellName(n-1, 3), st.lineRight))
		do(merge(split, 3, n-1, 3))
		do(f.SetRowHeight(sheet, 3, 24))
	}
	// The header: one row, or two with the group titles merged across their columns and the
	// single titles merged down both rows.
	h0 := 4
	h1 := h0
	if fm.twoRows() {
		h1 = h0 + 1
	}
	do(f.SetCellStyle(sheet, cellName(0, h0), cellName(n-1, h1), st.header))
	for i := 0; i < n; {
		c := fm.Columns[i]
		if c.Group == "" {
			do(set(i, h0, c.Title, st.header))
			do(merge(i, h0, i, h1))
			i++
			continue
		}
		j := i
		for j+1 < n && fm.Columns[j+1].Group == c.Group {
			j++
		}
		do(set(i, h0, c.Group, st.header))
		do(merge(i, h0, j, h0))
		for k := i; k <= j; k++ {
			do(set(k, h1, fm.Columns[k].Title, st.header))
		}
		i = j + 1
	}
	if h1 > h0 {
		do(f.SetRowHeight(sheet, h0, 22))
		do(f.SetRowHeight(sheet, h1, 44))
	} else {
		do(f.SetRowHeight(sheet, h0, 30))
	}
	if werr != nil {
		return fmt.Errorf("ledgers: sheet %s: %w", sheet, werr)
	}
	// The rows: values, then one style per column over the whole body.
	r0 := h1 + 1
	row := r0
	vals := make([]any, n)
	for _, cells := range fm.Rows {
		for i := range vals {
			vals[i] = cells[i]
		}
		if err := f.SetSheetRow(sheet, cellName(0, row), &vals); err != nil {
			return fmt.Errorf("ledgers: sheet %s: %w", sheet, err)
		}
		if err := f.SetRowHeight(sheet, row, rowHeight(cells, fm.Columns, 13, 24)); err != nil {
			return fmt.Errorf("ledgers: sheet %s: %w", sheet, err)
		}
		row++
	}
	if len(fm.Rows) == 0 {
		if err := set(0, row, fm.Empty, st.empty); err != nil {
			return fmt.Errorf("ledgers: sheet %s: %w", sheet, err)
		}
		if err := f.SetCellStyle(sheet, cellName(0, row), cellName(n-1, row), st.empty); err != nil {
			return fmt.Errorf("ledgers: sheet %s: %w", sheet, err)
		}
		if err := merge(0, row, n-1, row); err != nil {
			return fmt.Errorf("ledgers: sheet %s: %w", sheet, err)
		}
		if err := f.SetRowHeight(sheet, row, 28); err != nil {
			return fmt.Errorf("ledgers: sheet %s: %w", sheet, err)
		}
		row++
	} else {
		for i, c := range fm.Columns {
			style := st.body
			if c.Center {
				style = st.bodyCenter
			}
			if err := f.SetCellStyle(sheet, cellName(i, r0), cellName(i, row-1), style); err != nil {
				return fmt.Errorf("ledgers: sheet %s: %w", sheet, err)
			}
		}
	}
	// The links: a cell whose Links entry names a file links to it, relative to the workbook.
	for i, links := range fm.Links {
		for j, target := range links {
			if target == "" {
				continue
			}
			c := cellName(j, r0+i)
			if err := f.SetCellHyperLink(sheet, c, target, "External"); err != nil {
				return fmt.Errorf("ledgers: sheet %s: %w", sheet, err)
			}
			if err := f.SetCellStyle(sheet, c, c, st.link); err != nil {
				return fmt.Errorf("ledgers: sheet %s: %w", sheet, err)
			}
		}
	}
	// The footer: 填报人 / 审核人 / 联系电话, a blank row below the table.
	if fm.Footer {
		fr := row + 1
		thirds := []struct {
			c0, c1 int
			text   string
		}{{0, n/3 - 1, "填报人："}, {n / 3, 2*n/3 - 1, "审核人："}, {2 * n / 3, n - 1, "联系电话："}}
		for _, t := range thirds {
			if err := set(t.c0, fr, t.text, st.footer); err != nil {
				return fmt.Errorf("ledgers: sheet %s: %w", sheet, err)
			}
			if err := merge(t.c0, fr, max(t.c0, t.c1), fr); err != nil {
				return fmt.Errorf("ledgers: sheet %s: %w", sheet, err)
			}
		}
		if err := f.SetRowHeight(sheet, fr, 24); err != nil {
			return fmt.Errorf("ledgers: sheet %s: %w", sheet, err)
		}
	}
	return printSettings(f, sheet, h0, h1)
}

// printSettings makes a sheet print as the seed's forms: A4 landscape, one page wide, the
// header rows h0..h1 on every page, "第 &P 页 共 &N 页" at the foot, the body scrolling under the
// frozen header.
func printSettings(f *excelize.File, sheet string, h0, h1 int) error {
	a4, landscape, one, zero, fit := paperA4, "landscape", 1, 0, true
	if err := f.SetPageLayout(sheet, &excelize.PageLayoutOptions{Size: &a4, Orientation: &landscape,
		FitToWidth: &one, FitToHeight: &zero}); err != nil {
		return fmt.Errorf("ledgers: page layout of %s: %w", sheet, err)
	}
	if err := f.SetSheetProps(sheet, &excelize.SheetPropsOptions{FitToPage: &fit}); err != nil {
		return fmt.Errorf("ledgers: sheet props of %s: %w", sheet, err)
	}
	m, hf := 0.5, 0.3
	side := 0.4
	if err := f.SetPageMargins(sheet, &excelize.PageLayoutMarginsOptions{Top: &m, Bottom: &m, Left: &side,
		Right: &side, Header: &hf, Footer: &hf, Horizontally: &fit}); err != nil {
		return fmt.Errorf("ledgers: margins of %s: %w", sheet, err)
	}
	if err := f.SetHeaderFooter(sheet, &excelize.HeaderFooterOptions{OddFooter: pageFooter}); err != nil {
		return fmt.Errorf("ledgers: footer of %s: %w", sheet, err)
	}
	if err := f.SetDefinedName(&excelize.DefinedName{Name: "_xlnm.Print_Titles", Scope: sheet,
		RefersTo: fmt.Sprintf("'%s'!$%d:$%d", sheet, h0, h1)}); err != nil {
		return fmt.Errorf("ledgers: print titles of %s: %w", sheet, err)
	}
	if err := f.SetPanes(sheet, &excelize.Panes{Freeze: true, YSplit: h1, TopLeftCell: cellName(0, h1+1),
		ActivePane: "bottomLeft"}); err != nil {
		return fmt.Errorf("ledgers: panes of %s: %w", sheet, err)
	}
	return nil
}

// workbook writes forms, one sheet each, in order, and returns the file's bytes.
func workbook(forms []*form) ([]byte, error) {
	f := excelize.NewFile()
	defer f.Close()
	st, err := newStyles(f)
	if err != nil {
		return nil, err
	}
	for i, fm := range forms {
		if i == 0 {
			if err := f.SetSheetName("Sheet1", fm.Sheet); err != nil {
				return nil, fmt.Errorf("ledgers: sheet %s: %w", fm.Sheet, err)
			}
		} else if _, err := f.NewSheet(fm.Sheet); err != nil {
			return nil, fmt.Errorf("ledgers: sheet %s: %w", fm.Sheet, err)
		}
		if err := writeForm(f, fm.Sheet, st, fm); err != nil {
			return nil, err
		}
	}
	f.SetActiveSheet(0)
	buf, err := f.WriteToBuffer()
	if err != nil {
		return nil, fmt.Errorf("ledgers: write workbook: %w", err)
	}
	return buf.Bytes(), nil
}
