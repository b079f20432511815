package tips

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/xuri/excelize/v2"

	"github.com/sieve-city/sieve/internal/chinatime"
	"github.com/sieve-city/sieve/internal/db"
)

// RegisterHeader is the register's columns (失信惩戒名单), in Chinese as the credit system's
// intake takes them.
var RegisterHeader = []string{"序号", "姓名", "责任类型", "联系电话", "企业名称", "地址", "违法情形", "点位编号",
	"结案日期", "列入理由", "批准日期"}

var personRoleZH = map[string]string{"legal_representative": "法定代表人", "actual_controller": "实际控制人",
	"landlord": "出租方", "other": "其他责任人"}

var classZH = map[string]string{"unlicensed": "无证无照或证照不全", "beyond_licence": "超许可范围生产储存",
	"non_chemical_producing": "非化工企业未经许可生产", "exited_producing": "已退出企业非法违法生产",
	"affiliated_leased": "挂靠、租赁", "factory_in_factory": "厂中厂", "other": "其他违法违规行为"}

func registerRow(n int, l Listing) []string {
	classes := make([]string, len(l.Classes))
	for i, c := range l.Classes {
		classes[i] = classZH[c]
		if classes[i] == "" {
			classes[i] = c
		}
	}
	role := personRoleZH[l.PersonRole]
	if role == "" {
		role = l.PersonRole
	}
	day := func(t interface{ Format(string) string }) string { return t.Format("2006-01-02") }
	closed, decided := "", ""
	if l.ClosedAt != nil {
		closed = day(l.ClosedAt.In(chinatime.Zone))
	}
	if l.DecidedAt != nil {
		decided = day(l.DecidedAt.In(chinatime.Zone))
	}
	return []string{strconv.Itoa(n), l.PersonName, role, l.PersonPhone, l.FirmName, l.Address, strings.Join(classes, "、"),
		strconv.FormatInt(l.SiteID, 10), closed, l.Reason, decided}
}

// ExportCSV writes the register the caller may see as CSV in UTF-8 with a byte-order mark (so
// that Excel and WPS open the Chinese right).
func (s *Service) ExportCSV(ctx context.Context, q db.Querier, w io.Writer) error {
	if _, err := io.WriteString(w, "\uFEFF"); err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(RegisterHeader); err != nil {
		return err
	}
	n := 0
	err := s.Store.Register(ctx, q, func(l Listing) error {
		n++
		return cw.Write(registerRow(n, l))
	})
	if err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

// ExportXLSX writes the register the caller may see as an XLSX workbook (one sheet, 失信惩戒名单),
// streamed row by row.
func (s *Service) ExportXLSX(ctx context.Context, q db.Querier, w io.Writer) error {
	f := excelize.NewFile()
	defer f.Close()
	const sheet = "失信惩戒名单"
	if err := f.SetSheetName("Sheet1", sheet); err != nil {
		return fmt.Errorf("tips: xlsx: %w", err)
	}
	sw, err := f.NewStreamWriter(sheet)
	if err != nil {
		return fmt.Errorf("tips: xlsx: %w", err)
	}
	row := func(i int, vals []string) error {
		cells := make([]any, len(vals))
		for j, v := range vals {
			cells[j] = v
		}
		cell, _ := excelize.CoordinatesToCellName(1, i)
		return sw.SetRow(cell, cells)
	}
	if err := row(1, RegisterHeader); err != nil {
		return fmt.Errorf("tips: xlsx: %w", err)
	}
	n := 0
	if err := s.Store.Register(ctx, q, func(l Listing) error {
		n++
		return row(n+1, registerRow(n, l))
	}); err != nil {
		return err
	}
	if err := sw.Flush(); err != nil {
		return fmt.Errorf("tips: xlsx: %w", err)
	}
	if _, err := f.WriteTo(w); err != nil {
		return fmt.Errorf("tips: xlsx: %w", err)
	}
	return nil
}
