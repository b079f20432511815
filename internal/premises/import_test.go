package premises

import (
	"math"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/sieve-city/sieve/gis"
)

// TestParseCSV reads CSV files as coordinators send them, grouped by outcome.
func TestParseCSV(t *testing.T) {
	gbk, err := simplifiedchinese.GBK.NewEncoder().String("名称,经度,纬度,类型\n大墙王村王家,113.55,34.2,住户\n")
	if err != nil {
		t.Fatal(err)
	}
	gcjLon, gcjLat := gis.WGS84ToGCJ02(113.55, 34.2)
	cases := []struct {
		name     string
		data     string
		crs      gis.CRS
		rows     int
		problems []string // row:problem
		code     string   // error code of a file-level rejection
	}{
		{"UTF-8 with BOM and English headers", "\ufeffname,kind,lon,lat,credit_code,tags\n甲厂,enterprise,113.5,34.2,91411081MA12345678,workshop_area;exited_hazchem\n", "", 1, nil, ""},
		{"GBK from Excel", gbk, "", 1, nil, ""},
		{"semicolons", "name;lon;lat\n甲;113.5;34.2\n", "", 1, nil, ""},
		{"GCJ-02", "name,lon,lat\n甲," + ftoa(gcjLon) + "," + ftoa(gcjLat) + "\n", gis.GCJ02, 1, nil, ""},
		{"bad rows reported by line", "name,lon,lat,kind,credit_code\n甲,113.5,34.2,住户,\n,113.5,34.2,住户,\n丙,34.2,113.5,住户,\n丁,113.5,34.2,仓库,\n戊,113.5,34.2,企业,123\n",
			"", 1, []string{"3:name_required", "4:invalid_location", "5:invalid_kind", "6:invalid_credit_code"}, ""},
		{"no lon column", "name,x1,y1\n甲,1,2\n", "", 0, nil, "missing_columns"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := ParseCSV([]byte(c.data), c.crs)
			if c.code != "" {
				if err == nil || !strings.Contains(err.Error(), c.code) {
					t.Fatalf("got %v, want %s", err, c.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if b.Len() != c.rows {
				t.Fatalf("%d rows, want %d (issues %+v)", b.Len(), c.rows, b.Issues)
			}
			var got []string
			for _, is := range b.Issues {
				got = append(got, ftoa(float64(is.Row))+":"+is.Problem)
			}
			if strings.Join(got, " ") != strings.Join(c.problems, " ") {
				t.Fatalf("problems %v, want %v", got, c.problems)
			}
			if c.crs == gis.GCJ02 && (math.Abs(b.rows[0].lon-113.55) > 1e-9 || math.Abs(b.rows[0].lat-34.2) > 1e-9) {
				t.Fatalf("GCJ-02 not converted back: %v %v", b.rows[0].lon, b.rows[0].lat)
			}
		})
	}
}

func ftoa(v float64) string { return strings.TrimRight(strings.TrimRight(strconvF(v), "0"), ".") }

func strconvF(v float64) string { return strconv.FormatFloat(v, 'f', 12, 64) }
