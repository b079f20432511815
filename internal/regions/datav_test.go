package regions_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/sieve-city/sieve/gis"
	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/regions"
)

// dataV is a feature as the DataV/GeoAtlas dumps write it: adcode as a number, level words
// of their own, the parent as an object; extra adds the dump's other properties.
func dataV(adcode int, name, level string, parent int, geometry, extra string) string {
	return `{"type":"Feature","properties":{"adcode":` + itoa(adcode) + `,"name":"` + name + `","level":"` + level +
		`","parent":{"adcode":` + itoa(parent) + `}` + extra + `},"geometry":` + geometry + `}`
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestImportDataV: a bare array of DataV-style features (adcode, level district/street,
// parent object) imports with no options.
func TestImportDataV(t *testing.T) {
	e := newEnv(t)
	file := "[" + dataV(411081, "禹州市", "district", 411000, square(113.0, 34.0, 114.0, 34.5), "") + "," +
		dataV(411081100, "火龙镇", "street", 411081, square(113.4, 34.1, 113.6, 34.3), "") + "," +
		dataV(411081101, "顺店镇", "street", 411081, square(113.6, 34.1, 113.8, 34.3), "") + "]"
	rep, err := e.importAs(t, nil, []byte(file), regions.ImportOptions{})
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	if rep.Created != 1 || rep.Updated != 2 || rep.Errors != 0 {
		t.Fatalf("created %d updated %d errors %d, want 1, 2, 0: %+v", rep.Created, rep.Updated, rep.Errors, rep.Issues)
	}
	if n := e.count(t, `SELECT count(*) FROM regions WHERE code = '411081101' AND level = 'township' AND kind = '镇'
		AND parent_id = $1`, e.city); n != 1 {
		t.Fatalf("the new street is not a township of the city (%v)", n)
	}

	t.Run("level parameter overrides the file's", func(t *testing.T) {
		e := newEnv(t)
		file := "[" + dataV(411081102, "方山镇", "city", 411081, square(113.6, 34.3, 113.8, 34.45), "") + "]"
		rep, err := e.importAs(t, nil, []byte(file), regions.ImportOptions{Level: regions.Township})
		if err != nil || rep.Created != 1 {
			t.Fatalf("created %d, err %v", rep.Created, err)
		}
	})
	t.Run("a prefecture is above the tree", func(t *testing.T) {
		e := newEnv(t)
		file := "[" + dataV(411000, "许昌市", "city", 410000, square(113.0, 34.0, 114.0, 34.5), `,"childrenNum":6`) + "]"
		_, err := e.importAs(t, nil, []byte(file), regions.ImportOptions{CRS: gis.WGS84})
		rep := reportOf(t, err)
		if got := problems(rep, regions.SeverityError); strings.Join(got, " ") != "0:level_above_city" {
			t.Fatalf("errors %v", got)
		}
	})
}

// TestImportUndeclaredGCJ02: a file carrying the dumps' own properties and no crs is refused
// with the choice; each choice then imports.
func TestImportUndeclaredGCJ02(t *testing.T) {
	extra := `,"center":[113.5,34.2],"centroid":[113.5,34.2],"childrenNum":0,"acroutes":[100000,410000,411000,411081]`
	file := "[" + dataV(411081100201, "西村", "village", 411081100, square(113.45, 34.15, 113.5, 34.25), extra) + "]"
	e := newEnv(t)
	_, err := e.importAs(t, nil, []byte(file), regions.ImportOptions{})
	ae, ok := apperr.As(err)
	if !ok || ae.Status != 422 || ae.Code != "crs_undeclared" || !strings.Contains(ae.MessageZH, "crs=gcj02") ||
		!strings.Contains(ae.Error(), "crs=wgs84") {
		t.Fatalf("got %v, want a 422 crs_undeclared naming both choices", err)
	}
	if n := e.count(t, `SELECT count(*) FROM regions WHERE code = '411081100201'`); n != 0 {
		t.Fatal("refused file stored a region")
	}
	for _, crs := range []gis.CRS{gis.GCJ02, gis.WGS84} {
		e := newEnv(t)
		rep, err := e.importAs(t, nil, []byte(file), regions.ImportOptions{CRS: crs})
		if err != nil || rep.Created != 1 {
			t.Fatalf("crs %s: created %d, %v", crs, rep.Created, err)
		}
		moved := e.count(t, `SELECT ST_Distance(ST_PointN(ST_ExteriorRing(ST_GeometryN(geom, 1)), 1)::geography,
			ST_SetSRID(ST_MakePoint(113.45, 34.15), 4326)::geography) FROM regions WHERE code = '411081100201'`)
		if (crs == gis.GCJ02) != (moved > 100) {
			t.Errorf("crs %s: first corner %.0f m from where the file put it", crs, moved)
		}
	}
}

// TestImportOverlapBySize: the 1 km² overlap of a 46 m shift along 22 km is within the
// sliver share (0.5 %) but is reported by its size; a rejected file reports created: 0.
func TestImportOverlapBySize(t *testing.T) {
	e := newEnv(t)
	rep, err := e.importAs(t, nil, []byte(collection(feat("411081100201", "西村", west), feat("411081100202", "东村", sliverLap))),
		regions.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var large *regions.Issue
	for i, is := range rep.Issues {
		if is.Problem == "large_overlap_snapped" {
			large = &rep.Issues[i]
		}
	}
	if large == nil || large.Feature != 1 || large.Other != "411081100201" || large.AreaKm2 < 0.9 || large.AreaKm2 > 1.1 ||
		!strings.Contains(large.Message, "km²") {
		t.Fatalf("no size-named overlap warning: %+v", rep.Issues)
	}
	// A smaller limit than the default changes nothing for a real sliver.
	e = newEnv(t)
	tiny := square(113.49999, 34.1, 113.6, 34.3) // 1 m shift: 0.02 km²
	rep, err = e.importAs(t, nil, []byte(collection(feat("411081100201", "西村", west), feat("411081100202", "东村", tiny))),
		regions.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, is := range rep.Issues {
		if strings.HasPrefix(is.Problem, "large_") {
			t.Errorf("a 0.02 km² sliver reported as large: %+v", is)
		}
	}

	e = newEnv(t)
	_, err = e.importAs(t, nil, []byte(collection(feat("411081100201", "西村", west), feat("411081100202", "东村", bigLap))),
		regions.ImportOptions{})
	rep = reportOf(t, err)
	if rep.Created != 0 || rep.Updated != 0 || rep.Errors == 0 {
		t.Fatalf("rejected import reports created %d updated %d errors %d", rep.Created, rep.Updated, rep.Errors)
	}
}
