package ledgers

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/chinatime"
	"github.com/sieve-city/sieve/internal/sites"
)

// The photo appendix (照片附件) of 附件2: for each case row of the ledger, the photos and drone
// images linked to its site (the list GET /sites/{id}/media answers, sites.Store.Media, under
// the caller's row-level security), as their detail thumbnails (the originals of a city-wide
// export would be gigabytes), filed in folders 乡镇（街道）/序号-企业名称. The workbook gets an
// index sheet 照片附件: one line per photo (a case without photos gets one line saying so) with
// the case's 序号 and 企业名称, the file's relative path as a hyperlink, the capture time, the
// source (phone or drone) and why the image is linked to the site. A photo whose thumbnail was
// never made, or is missing from the store, is listed as missing, never a failed export.
//
// The ledgers package lists the photos; the caller (the export job, internal/reports) copies
// them out of the store into the ZIP, marks the missing ones, and then writes the ledger with
// Appendix.Files.

// Why a photo of the appendix is not in the ZIP (Photo.Missing).
const (
	MissingNoThumbnail = "缺失：缩略图未生成"
	MissingObject      = "缺失：存储中无此文件"
)

// ErrPhotosKind refuses a photo appendix of a ledger other than 附件2 (only its cases have photos).
var ErrPhotosKind = apperr.Invalidf("photos_unsupported", "仅附件2（非法违法“小化工”清单台账）可附照片",
	"photos apply to the illegal ledger (附件2) only")

// Photo is one image of a case in a photo appendix.
type Photo struct {
	MediaID int64
	Path    string     // the file's path in the ZIP: 乡镇/序号-企业名称/NN_来源_时间_id.jpg
	Key     string     // the detail thumbnail's key in the derived bucket; "" when none was made
	TakenAt *time.Time // the capture time, when known
	Missing string     // why the file is not in the ZIP ("" it is); MissingObject is the caller's to set

	line int // the index line of the photo
}

// Appendix is a ledger of 附件2 with its photo appendix being made: the case rows are read and
// laid out, the photos listed. The caller copies the photos and sets Missing, then writes the
// ledger (index included) with Files.
type Appendix struct {
	// Name is the ZIP's file name: 附件2_神垕镇_2026-11_照片附件.zip.
	Name   string
	Photos []Photo

	l     *ledger
	index *form
}

// indexColumns are the index sheet's columns.
var indexColumns = []column{
	{Title: "序号", Width: 6, Center: true},
	{Title: "乡镇（街道）", Width: 12, Center: true},
	{Title: "台账序号", Width: 8, Center: true},
	{Title: "企业名称", Width: 22},
	{Title: "照片", Width: 50},
	{Title: "拍摄时间", Width: 18, Center: true},
	{Title: "来源", Width: 10, Center: true},
	{Title: "关联方式", Width: 12, Center: true},
	{Title: "状态", Width: 20, Center: true},
}

// The index columns filled after the copy.
const (
	colPhoto  = 4
	colStatus = 8
)

// sourceZH and reasonZH name a medium's source and its link to the site in Chinese.
var (
	sourceZH = map[string]string{"phone": "手机照片", "drone_survey": "无人机航拍", "tip": "举报照片"}
	reasonZH = map[string]string{"footprint": "航拍覆盖", "near": "位置相近", "inspection": "排查记录", "manual": "人工关联",
		"tip": "群众举报"}
)

// RenderAppendix reads 附件2 of req (any format) with its photo appendix under the caller's
// scope (bound with In): the same rows, numbering and checks as Render.
func (s *Service) RenderAppendix(ctx context.Context, req Request) (*Appendix, error) {
	if s.q == nil {
		return nil, errUnbound
	}
	if req.Kind != Illegal {
		return nil, ErrPhotosKind
	}
	l, rows, err := s.build(ctx, req)
	if err != nil {
		return nil, err
	}
	a := &Appendix{Name: l.name + "_照片附件.zip", l: l}
	a.index = &form{Sheet: "照片附件", Corner: l.corner, Title: l.place.Name + "非法违法“小化工”清单台账照片附件",
		Unit: l.place.Name, AsOf: l.asOf, FiledOn: l.filed, Columns: indexColumns, Empty: "本月无非法违法“小化工”"}
	townName := make(map[int64]string, len(l.towns))
	townDir := make(map[int64]string, len(l.towns))
	taken := map[string]bool{}
	for _, t := range l.towns {
		townName[t.ID] = t.Name
		d := fileName(t.Name, 40)
		if taken[d] {
			d = fileName(t.Name+"_"+t.Code, 60)
		}
		taken[d] = true
		townDir[t.ID] = d
	}
	width := len(strconv.Itoa(max(len(rows), 1)))
	width = max(width, 3)
	ids := make([]int64, len(rows))
	for i, x := range rows {
		ids[i] = x.SiteID
	}
	mediaOf, err := sites.Store{}.MediaOf(ctx, s.q, ids)
	if err != nil {
		return nil, err
	}
	for i, x := range rows {
		seq := l.seqs[i]
		media := mediaOf[x.SiteID]
		firm := x.Firm
		if firm == "" {
			firm = "未命名"
		}
		dir := townDir[x.TownshipID] + "/" + fmt.Sprintf("%0*d", width, seq) + "-" + fileName(firm, 60)
		if len(media) == 0 {
			a.index.Rows = append(a.index.Rows, []string{strconv.Itoa(len(a.index.Rows) + 1), townName[x.TownshipID],
				strconv.Itoa(seq), x.Firm, "（无照片）", "", "", "", ""})
			a.index.Links = append(a.index.Links, nil)
			continue
		}
		for n, m := range media {
			src := sourceZH[m.Source]
			when, stamp := "", "时间不详"
			if m.TakenAt != nil {
				when = m.TakenAt.In(chinatime.Zone).Format("2006-01-02 15:04:05")
				stamp = m.TakenAt.In(chinatime.Zone).Format("20060102-150405")
			}
			p := Photo{MediaID: m.MediaID, Key: m.DetailKey, TakenAt: m.TakenAt, line: len(a.index.Rows),
				Path: fmt.Sprintf("%s/%02d_%s_%s_%d.jpg", dir, n+1, src, stamp, m.MediaID)}
			if p.Key == "" {
				p.Missing = MissingNoThumbnail
			}
			reason := reasonZH[m.Reason]
			if reason == "" {
				reason = m.Reason
			}
			a.index.Rows = append(a.index.Rows, []string{strconv.Itoa(len(a.index.Rows) + 1), townName[x.TownshipID],
				strconv.Itoa(seq), x.Firm, p.Path, when, src, reason, ""})
			a.index.Links = append(a.index.Links, nil)
			a.Photos = append(a.Photos, p)
		}
	}
	return a, nil
}

// Files writes the ledger with its index as the photos now stand (Missing as the caller set
// it): for XLSX one workbook, the index its last sheet 照片附件 with each present photo linked;
// for CSV the ledger and the index 照片附件.csv.
func (a *Appendix) Files() ([]File, error) {
	for _, p := range a.Photos {
		line := a.index.Rows[p.line]
		links := make([]string, len(indexColumns))
		if p.Missing == "" {
			line[colStatus] = "已附"
			links[colPhoto] = p.Path
		} else {
			line[colStatus] = p.Missing
		}
		a.index.Links[p.line] = links
	}
	if a.l.format == "csv" {
		ledger, err := a.l.file()
		if err != nil {
			return nil, err
		}
		var b bytes.Buffer
		b.WriteString("\xef\xbb\xbf")
		w := csv.NewWriter(&b)
		w.UseCRLF = true
		_ = w.Write(titles(indexColumns)) // a bytes.Buffer does not fail
		_ = w.WriteAll(a.index.Rows)
		return []File{ledger, {Name: "照片附件.csv", ContentType: ContentTypeCSV, Body: b.Bytes()}}, nil
	}
	forms := append(append([]*form{}, a.l.forms...), a.index)
	body, err := workbook(forms)
	if err != nil {
		return nil, err
	}
	return []File{{Name: a.l.name + ".xlsx", ContentType: ContentTypeXLSX, Body: body}}, nil
}

// fileName makes s safe as one component of a path in a ZIP on Windows, macOS and Linux: the
// characters no file system takes (/ \ : * ? " < > | and control characters) become _, leading
// and trailing spaces and dots go, and it is cut to at most n characters (Chinese kept). An
// empty result is "_".
func fileName(s string, n int) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == utf8.RuneError, unicode.IsControl(r), strings.ContainsRune(`/\:*?"<>|`, r):
			b.WriteByte('_')
		case unicode.IsSpace(r):
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	out := []rune(strings.Trim(b.String(), " ."))
	if len(out) > n {
		out = []rune(strings.TrimRight(string(out[:n]), " ."))
	}
	if len(out) == 0 {
		return "_"
	}
	return string(out)
}
