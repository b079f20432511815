package ledgers

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sieve-city/sieve/internal/chinatime"
	"github.com/sieve-city/sieve/internal/sites"
)

// column is one column of a form: its header (a group title over several columns makes the
// header two rows: Group on the first, Title on the second), its width in Excel's character
// units, and whether its cells are centred.
type column struct {
	Group  string
	Title  string
	Width  float64
	Center bool
}

// form is one sheet of a ledger: the seed's layout filled with rows.
type form struct {
	Sheet   string // the sheet's name
	Corner  string // "附件2" at the top left
	Title   string // "火龙镇非法违法“小化工”清单台账"
	Unit    string // 填报单位
	AsOf    string // what the month selects, printed beside the date
	FiledOn string // 填报日期
	Columns []column
	Rows    [][]string
	Links   [][]string // per row and column, a relative link target of the cell ("" none); may be shorter
	Empty   string     // the line written when there are no rows
	Footer  bool       // the 填报人/审核人/联系电话 line
}

// twoRows reports whether the header has a group row.
func (f *form) twoRows() bool {
	for _, c := range f.Columns {
		if c.Group != "" {
			return true
		}
	}
	return false
}

// mark is the tick of a violation column.
const mark = "√"

// The columns of the forms, titled as the seed's (附件1, 附件2, 附件3).
var (
	violationGroup = "非法、违法、违规行为"
	illegalColumns = []column{
		{Title: "序号", Width: 6, Center: true},
		{Title: "企业名称", Width: 22},
		{Title: "地址", Width: 26},
		{Title: "所属行业", Width: 12, Center: true},
		{Group: violationGroup, Title: "无证无照或证照不全", Width: 9, Center: true},
		{Group: violationGroup, Title: "超许可范围生产储存", Width: 9, Center: true},
		{Group: violationGroup, Title: "非化工企业未经许可生产", Width: 9, Center: true},
		{Group: violationGroup, Title: "挂靠租赁", Width: 9, Center: true},
		{Group: violationGroup, Title: "厂中厂", Width: 9, Center: true},
		{Group: violationGroup, Title: "其他违法违规行为", Width: 9, Center: true},
		{Title: "问题整改情况", Width: 44},
		{Title: "工作参与人员", Width: 18},
		{Title: "法人联系方式", Width: 20},
	}
	// violationOf is the violation column (0-5) of each class; a firm that left
	// hazardous-chemical production and produces again is among 其他违法违规行为 (附件2 has no column
	// of its own for it; 附件3 is its ledger).
	violationOf = map[sites.Class]int{
		sites.Unlicensed: 0, sites.BeyondLicence: 1, sites.NonChemicalProducing: 2, sites.AffiliatedLeased: 3,
		sites.FactoryInFactory: 4, sites.OtherClass: 5, sites.ExitedProducing: 5,
	}
	exitedColumns = []column{
		{Title: "序号", Width: 6, Center: true},
		{Title: "企业名称", Width: 32},
		{Title: "地址", Width: 32},
		{Title: "生产装置是否拆除", Width: 16, Center: true},
		{Title: "是否存在转产情况", Width: 16, Center: true},
		{Title: "工作参与人员", Width: 24},
		{Title: "备注", Width: 36},
	}
	listColumns = []column{
		{Title: "序号", Width: 8, Center: true},
		{Title: "企业名称", Width: 40},
		{Title: "地址", Width: 44},
	}
)

// statusNames are how 问题整改情况 names a case's status as of the month's end.
var statusNames = map[sites.Status]string{
	sites.VerifiedIllegal: "已核实违法，待处置", sites.UnderDisposal: "处置中", sites.Rectified: "已整改",
	sites.Closed: "已整改销号",
}

// dateCN writes a date the way the forms do: 2026年11月30日.
func dateCN(t time.Time) string {
	t = t.In(chinatime.Zone)
	return fmt.Sprintf("%d年%02d月%02d日", t.Year(), t.Month(), t.Day())
}

// rectification writes 问题整改情况 from the case's actions and results as of end: one line per
// action (what, which department, who answers for it, by when, the result, done or not), then
// the case's status.
func rectification(x illegalRow, end time.Time) string {
	var b strings.Builder
	for i, a := range x.Actions {
		fmt.Fprintf(&b, "%d. %s（%s，责任人%s）", i+1, a.Action.Name(), a.Department.Name(), a.Responsible)
		if a.AmountYuan != nil {
			fmt.Fprintf(&b, "，罚款%s元", strconv.FormatFloat(*a.AmountYuan, 'f', -1, 64))
		}
		if r := strings.TrimSpace(a.Result); r != "" {
			fmt.Fprintf(&b, "：%s", r)
		}
		switch {
		case a.DoneAt != nil:
			fmt.Fprintf(&b, "；已于%s完成", dateCN(*a.DoneAt))
		case a.Deadline.Before(end):
			fmt.Fprintf(&b, "；限期%s，逾期未完成", dateCN(a.Deadline))
		default:
			fmt.Fprintf(&b, "；限期%s，整改中", dateCN(a.Deadline))
		}
		b.WriteString("\n")
	}
	b.WriteString(statusNames[x.Status])
	return b.String()
}

// illegalCells are a line of 附件2 (seq is its 序号).
func illegalCells(seq int, x illegalRow, end time.Time) []string {
	out := make([]string, len(illegalColumns))
	out[0] = strconv.Itoa(seq)
	out[1], out[2], out[3] = x.Firm, x.Address, x.Industry
	for _, c := range x.Classes {
		if v, ok := violationOf[c]; ok {
			out[4+v] = mark
		}
	}
	out[10] = rectification(x, end)
	out[11] = strings.Join(x.Participants, "、")
	out[12] = strings.TrimSpace(x.LegalRep + " " + x.Phone)
	return out
}

// yesNo writes a check's answer as 是/否 (blank when the check did not answer it).
func yesNo(b *bool) string {
	switch {
	case b == nil:
		return ""
	case *b:
		return "是"
	}
	return "否"
}

// exitedCells are a line of 附件3: 备注 says when the firm was checked (or that it was not
// yet), then the check's and the register's remarks.
func exitedCells(seq int, x exitedRow) []string {
	notes := []string{"未排查"}
	if x.Checked {
		notes[0] = "排查日期" + dateCN(x.CheckedAt)
	}
	if x.Note != "" {
		notes = append(notes, x.Note)
	}
	return []string{strconv.Itoa(seq), x.Name, x.Address, yesNo(x.Removed), yesNo(x.Converted),
		strings.Join(x.People, "、"), strings.Join(notes, "；")}
}

// listCells are a line of 附件1.
func listCells(seq int, x exitedRow) []string {
	return []string{strconv.Itoa(seq), x.Name, x.Address}
}
