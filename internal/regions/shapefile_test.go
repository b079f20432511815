package regions

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net/http"
	"testing"

	"github.com/sieve-city/sieve/internal/apperr"
)

// zipOf zips files (name → writer of its content).
func zipOf(t *testing.T, files map[string]func(w io.Writer)) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, write := range files {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate})
		if err != nil {
			t.Fatal(err)
		}
		write(w)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func small(b []byte) func(io.Writer) { return func(w io.Writer) { w.Write(b) } }

// wantTooLarge fails unless err is 413 shapefile_too_large.
func wantTooLarge(t *testing.T, err error) {
	t.Helper()
	ae, ok := apperr.As(err)
	if !ok || ae.Code != "shapefile_too_large" || ae.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("got %v, want 413 shapefile_too_large", err)
	}
}

// TestShapefileZipBomb: a zip of well under a megabyte that expands to a 200 MB .shp is refused
// with 413 before anything is expanded or handed to GDAL (which would never run: the
// converter is a program that does not exist).
func TestShapefileZipBomb(t *testing.T) {
	zeros := make([]byte, 1<<20)
	data := zipOf(t, map[string]func(io.Writer){
		"bomb.shp": func(w io.Writer) {
			for i := 0; i < 200; i++ {
				w.Write(zeros)
			}
		},
		"bomb.shx": small(make([]byte, 100)),
		"bomb.dbf": small(make([]byte, 100)),
	})
	if len(data) > 1<<20 {
		t.Fatalf("the bomb is %d bytes", len(data))
	}
	s := &Store{OGR2OGR: "/nonexistent/ogr2ogr"}
	_, err := s.shapefileToGeoJSON(context.Background(), data)
	wantTooLarge(t, err)
}

// TestShapefileVertices: a .shp whose geometries declare more vertices than allowed is refused
// with 413 from its record headers, before GDAL runs.
func TestShapefileVertices(t *testing.T) {
	shp := make([]byte, 100)                                 // file header (its contents are not read)
	rec := make([]byte, 8+44)                                // record header + polygon head
	binary.BigEndian.PutUint32(rec[4:8], 22)                 // content length in 16-bit words
	binary.LittleEndian.PutUint32(rec[8:12], 5)              // Polygon
	binary.LittleEndian.PutUint32(rec[8+36:8+40], 1)         // numParts
	binary.LittleEndian.PutUint32(rec[8+40:8+44], 2_000_000) // numPoints
	shp = append(shp, rec...)
	data := zipOf(t, map[string]func(io.Writer){
		"many.shp": small(shp), "many.shx": small(make([]byte, 100)), "many.dbf": small(make([]byte, 100)),
	})
	s := &Store{OGR2OGR: "/nonexistent/ogr2ogr"}
	_, err := s.shapefileToGeoJSON(context.Background(), data)
	wantTooLarge(t, err)
	// Under a higher limit the file gets to GDAL (absent here).
	s.Shapefile = ShapefileLimits{MaxVertices: 3_000_000}
	if _, err := s.shapefileToGeoJSON(context.Background(), data); err == nil {
		t.Fatal("no error from a missing ogr2ogr")
	} else if ae, ok := apperr.As(err); ok && ae.Code == "shapefile_too_large" {
		t.Fatalf("refused under the higher limit: %v", err)
	}
}

// TestShapefileOutputCap: GDAL's GeoJSON is read through a cap.
func TestShapefileOutputCap(t *testing.T) {
	b := &cappedBuffer{max: 10}
	if _, err := b.Write(make([]byte, 8)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Write(make([]byte, 8)); err == nil || !b.over || b.Len() != 8 {
		t.Fatalf("past the cap: %v over=%v len=%d", err, b.over, b.Len())
	}
}
