package ledgers

import (
	"context"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sieve-city/sieve/internal/db"
)

// artifacts is where the rendering test leaves its PDFs and PNGs (gitignored; CI keeps them).
var artifacts = filepath.Join("..", "..", ".artifacts", "ledgers")

// printWorld adds to the test world enough cases in 神垕镇 for 附件2 to run over two printed
// pages, and more exited firms, so that the print titles show on the second page.
func printWorld(t *testing.T, w *testWorld) {
	t.Helper()
	ctx := context.Background()
	classes := [][]string{{"unlicensed"}, {"beyond_licence"}, {"non_chemical_producing", "unlicensed"}, {"affiliated_leased"},
		{"factory_in_factory", "unlicensed"}, {"other"}, {"exited_producing"}}
	industries := []string{"化学原料", "涂料", "胶黏剂", "颜料", "农药中间体", "溶剂回收", "塑料助剂"}
	actions := []struct{ action, dept, who, result string }{
		{"stop_production", "emergency_management", "赵应急", "已责令停止生产，现场断电"},
		{"seal_up", "public_security", "孙公安", "已查封生产装置及原料库"},
		{"dismantle_by_deadline", "township", "刘镇长", "设备已拆除并清运"},
		{"fine", "market_regulation", "钱市场", "已立案处罚"},
	}
	err := db.AsSystem(ctx, w.pool, "test", func(tx pgx.Tx) error {
		for i := range 22 {
			var id int64
			created := at(10, 1+i%25)
			status := []string{"verified_illegal", "under_disposal", "rectified", "closed"}[i%4]
			var closed any
			if status == "closed" {
				closed = at(11, 20)
			}
			if err := tx.QueryRow(ctx, `INSERT INTO sites (point, source, classes, firm_name, address, industry, legal_rep,
					contact_phone, participants, created_at, status, status_at, closed_at, region_path)
				VALUES (ST_SetSRID(ST_MakePoint(113.4, 34.2), 4326), 'inspection', $1, $2, $3, $4, $5, $6, $7, $8, $9, $8, $10,
					$11::ltree) RETURNING id`,
				classes[i%len(classes)], fmt.Sprintf("神垕镇%s加工点（第%d处）", industries[i%len(industries)], i+1),
				fmt.Sprintf("神垕镇%s村%d组", []string{"刘家门", "白峪", "杨树岭", "西寨", "东村"}[i%5], 1+i%9),
				industries[i%len(industries)], []string{"王", "李", "张", "陈", "杨"}[i%5]+"某", fmt.Sprintf("1390374%04d", 1000+i),
				[]string{"李网格", []string{"赵应急", "孙公安", "钱市场"}[i%3]}, created, status, closed, w.t1Path).Scan(&id); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE sites SET region_path = $2::ltree WHERE id = $1`, id, w.t1Path); err != nil {
				return err
			}
			for k := range 1 + i%3 {
				a := actions[(i+k)%len(actions)]
				var amount, done any
				if a.action == "fine" {
					amount = 10000.0 * float64(1+i%5)
				}
				if status == "rectified" || status == "closed" || k == 0 {
					done = at(11, 5+k)
				}
				if _, err := tx.Exec(ctx, `INSERT INTO site_actions (site_id, action, department, responsible, deadline,
						amount_yuan, result, done_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
					id, a.action, a.dept, a.who, at(11, 10+k*5), amount, a.result, done, created.Add(time.Hour)); err != nil {
					return err
				}
			}
		}
		for i := range 6 {
			if _, err := tx.Exec(ctx, `INSERT INTO exited_enterprises (seq, name, address, township_code, note, created_at)
				VALUES ($1, $2, $3, '411081104', $4, $5)`, 10+i, fmt.Sprintf("禹州市神垕镇原%s化工有限公司", []string{"兴达", "宏远", "金鑫", "瑞丰", "永安", "华康"}[i]),
				fmt.Sprintf("神垕镇工业园区%d号", 10+i), []string{"", "2022年已吊销营业执照", ""}[i%3], at(1, 1)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestPrintedForms converts 附件2 and 附件3 of 神垕镇 with LibreOffice (one start for both files)
// and renders the PDFs' pages to PNG (poppler's pdftoppm), leaving them under .artifacts/ledgers:
// they must print A4 landscape, one page wide (the first and last column titles on the first
// page), the header rows again on the second page of 附件2 (print titles), the page numbers at
// the foot, and the images must not be blank.
func TestPrintedForms(t *testing.T) {
	for _, tool := range []string{"soffice", "pdftoppm", "pdfinfo", "pdftotext"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: ./deploy/local/stack.sh deps installs LibreOffice and poppler-utils (DEPS)", tool)
		}
	}
	w := newWorld(t)
	printWorld(t, w)
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var inputs []string
	for _, k := range []Kind{Illegal, Exited} {
		f := w.mustRender(t, w.coordinator(), Request{Kind: k, TownshipID: w.t1, Month: "2026-11", FiledOn: filedOn})
		p := filepath.Join(dir, string(k)+".xlsx")
		if err := os.WriteFile(p, f.Body, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(artifacts, f.Name), f.Body, 0o644); err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	// A private LibreOffice profile, so that a LibreOffice already running (or another test)
	// does not take the conversion over.
	args := append([]string{"-env:UserInstallation=file://" + filepath.Join(dir, "profile"), "--headless", "--norestore",
		"--convert-to", "pdf", "--outdir", dir}, inputs...)
	if out, err := exec.CommandContext(ctx, "soffice", args...).CombinedOutput(); err != nil {
		t.Fatalf("soffice: %v\n%s", err, out)
	}
	for _, k := range []Kind{Illegal, Exited} {
		pdf := filepath.Join(dir, string(k)+".pdf")
		info, err := exec.CommandContext(ctx, "pdfinfo", pdf).CombinedOutput()
		if err != nil {
			t.Fatalf("pdfinfo %s: %v\n%s", k, err, info)
		}
		pages, w, h := pdfFacts(t, string(info))
		// A4 landscape is 842 × 595 points.
		if w < 835 || w > 849 || h < 590 || h > 600 {
			t.Errorf("%s: page %g × %g pt, want A4 landscape (842 × 595)", k, w, h)
		}
		first := pdfText(ctx, t, pdf, 1)
		// pdftotext drops the spaces between CJK characters: compare without blanks.
		flat := strings.Join(strings.Fields(first), "")
		for _, want := range []string{"序号", "备注", "第1页共" + strconv.Itoa(pages) + "页"} {
			if k == Illegal && want == "备注" {
				want = "法人联系方式"
			}
			if !strings.Contains(flat, want) {
				t.Errorf("%s: page 1 lacks %q (one page wide, page numbers):\n%s", k, want, first)
			}
		}
		if k == Illegal {
			if pages < 2 {
				t.Errorf("附件2 printed on %d page, want 2 or more for this world (to see the print titles)", pages)
			} else if second := pdfText(ctx, t, pdf, 2); !strings.Contains(second, "序号") || !strings.Contains(second, "问题整改情况") {
				t.Errorf("附件2 page 2 lacks the header rows (print titles):\n%s", second)
			}
		}
		out, err := exec.CommandContext(ctx, "pdftoppm", "-png", "-r", "80", pdf, filepath.Join(artifacts, string(k))).CombinedOutput()
		if err != nil {
			t.Fatalf("pdftoppm %s: %v\n%s", k, err, out)
		}
		pngs, _ := filepath.Glob(filepath.Join(artifacts, string(k)+"-*.png"))
		if len(pngs) != pages {
			t.Errorf("%s: %d PNGs for %d pages", k, len(pngs), pages)
		}
		for _, p := range pngs {
			checkImage(t, p)
		}
		if err := os.Rename(pdf, filepath.Join(artifacts, string(k)+".pdf")); err != nil {
			t.Fatal(err)
		}
	}
}

var (
	pagesRE = regexp.MustCompile(`(?m)^Pages:\s+(\d+)`)
	sizeRE  = regexp.MustCompile(`(?m)^Page size:\s+([\d.]+) x ([\d.]+) pts`)
)

func pdfFacts(t *testing.T, info string) (pages int, w, h float64) {
	t.Helper()
	p, s := pagesRE.FindStringSubmatch(info), sizeRE.FindStringSubmatch(info)
	if p == nil || s == nil {
		t.Fatalf("pdfinfo: %s", info)
	}
	pages, _ = strconv.Atoi(p[1])
	w, _ = strconv.ParseFloat(s[1], 64)
	h, _ = strconv.ParseFloat(s[2], 64)
	return pages, w, h
}

func pdfText(ctx context.Context, t *testing.T, pdf string, page int) string {
	t.Helper()
	n := strconv.Itoa(page)
	out, err := exec.CommandContext(ctx, "pdftotext", "-f", n, "-l", n, "-layout", pdf, "-").CombinedOutput()
	if err != nil {
		t.Fatalf("pdftotext: %v\n%s", err, out)
	}
	return string(out)
}

// checkImage checks a rendered page: landscape, of a sensible size, and not blank (dark pixels
// of text and borders cover a good part of it, but not most).
func checkImage(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	b := img.Bounds()
	if b.Dx() < 800 || b.Dx() > 1000 || b.Dy() < 550 || b.Dx() <= b.Dy() {
		t.Errorf("%s: %d × %d px, want A4 landscape at 80 dpi (935 × 661)", path, b.Dx(), b.Dy())
	}
	dark := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if gray(img, x, y) < 128 {
				dark++
			}
		}
	}
	share := float64(dark) / float64(b.Dx()*b.Dy())
	if share < 0.01 || share > 0.5 {
		t.Errorf("%s: %.1f%% dark pixels, want a printed form (1-50%%)", path, share*100)
	}
}

func gray(img image.Image, x, y int) uint32 {
	r, g, b, _ := img.At(x, y).RGBA()
	return (r*299 + g*587 + b*114) / 1000 >> 8
}
