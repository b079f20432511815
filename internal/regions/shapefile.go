package regions

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sieve-city/sieve/internal/apperr"
)

// isZip reports whether data starts like a zip archive.
func isZip(data []byte) bool { return bytes.HasPrefix(data, []byte("PK\x03\x04")) }

func errShapefile(format string, a ...any) *apperr.Error {
	return apperr.Invalidf("invalid_shapefile", "Shapefile 压缩包无法读取", format, a...)
}

// ShapefileLimits bound what a shapefile import may cost, checked before GDAL is run: the
// expanded size of the files of the layer (a 0.5 MB zip may expand to a 200 MB .shp), the
// vertices its geometries hold (counted from the .shp's record headers, which cost GDAL's
// GeoJSON about 30 bytes each and the parsed features more), and so the GeoJSON that ogr2ogr
// writes, which is read through a cap derived from them. The zero value means the defaults.
type ShapefileLimits struct {
	// MaxBytes bounds the expanded size of the .shp, .shx, .dbf, .prj and .cpg together.
	MaxBytes int64
	// MaxVertices bounds the points of all geometries of the .shp.
	MaxVertices int64
}

// DefaultShapefileLimits are the limits Sieve runs with: a city's grid cells (5,000 cells of a
// few dozen vertices) or its villages' detailed boundaries fit many times over.
func DefaultShapefileLimits() ShapefileLimits {
	return ShapefileLimits{MaxBytes: 64 << 20, MaxVertices: 1_000_000}
}

func (l ShapefileLimits) orDefault() ShapefileLimits {
	d := DefaultShapefileLimits()
	if l.MaxBytes <= 0 {
		l.MaxBytes = d.MaxBytes
	}
	if l.MaxVertices <= 0 {
		l.MaxVertices = d.MaxVertices
	}
	return l
}

// errShapefileTooLarge is a shapefile over its limits (413).
func errShapefileTooLarge(format string, a ...any) *apperr.Error {
	return apperr.Newf(http.StatusRequestEntityTooLarge, "shapefile_too_large",
		"Shapefile 过大（解压后的大小或顶点数超过限制），请分批导入", format, a...)
}

// shapefileToGeoJSON converts the one shapefile in a zip archive to GeoJSON in WGS-84 with
// GDAL's ogr2ogr, reading attribute text in the encoding the .cpg names, or, without a .cpg,
// the one the .dbf declares; a .dbf that declares none is read as UTF-8 when its bytes are
// valid UTF-8 and as GBK otherwise (Chinese boundary dumps are mostly GBK). A shapefile without
// a .prj is taken to be in longitude/latitude. Memory is bounded by design (ShapefileLimits):
// the layer's files are extracted through a cap on their expanded size, their vertices counted
// before GDAL runs, and ogr2ogr's output read through a cap; past any, 413 shapefile_too_large.
func (s *Store) shapefileToGeoJSON(ctx context.Context, data []byte) ([]byte, error) {
	lim := s.Shapefile.orDefault()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, errShapefile("not a readable zip archive: %v", err)
	}
	var shp string
	files := map[string]*zip.File{}
	shapefileParts := []string{".shp", ".shx", ".dbf", ".prj", ".cpg"} // extracted for GDAL
	for _, f := range zr.File {
		ext := strings.ToLower(filepath.Ext(f.Name))
		if strings.HasPrefix(filepath.Base(f.Name), ".") || strings.Contains(f.Name, "__MACOSX") {
			continue
		}
		files[ext] = f
		if ext == ".shp" {
			if shp != "" {
				return nil, errShapefile("the archive holds more than one .shp (%s, %s); send one layer per file", shp, f.Name)
			}
			shp = f.Name
		}
	}
	if shp == "" {
		return nil, errShapefile("no .shp file in the archive")
	}
	if files[".dbf"] == nil || files[".shx"] == nil {
		return nil, errShapefile("the shapefile needs its .shx and .dbf next to the .shp")
	}
	// The sizes the archive declares first (a bomb that tells the truth stops here), then
	// the bytes really expanded (one that lies stops while being extracted).
	var declared uint64
	for _, ext := range shapefileParts {
		if f := files[ext]; f != nil {
			declared += f.UncompressedSize64
		}
	}
	if declared > uint64(lim.MaxBytes) {
		return nil, errShapefileTooLarge("the shapefile expands to %d bytes, limit %d", declared, lim.MaxBytes).
			WithDetails(map[string]any{"expandedBytes": declared, "maxBytes": lim.MaxBytes})
	}
	encoding, err := shapefileEncoding(files[".cpg"], files[".dbf"])
	if err != nil {
		return nil, err
	}

	dir, err := os.MkdirTemp("", "sieve-shp-")
	if err != nil {
		return nil, fmt.Errorf("regions: shapefile: %w", err)
	}
	defer os.RemoveAll(dir)
	budget := lim.MaxBytes
	for _, ext := range shapefileParts {
		if f := files[ext]; f != nil {
			n, err := extractZipFile(f, filepath.Join(dir, "layer"+ext), budget)
			if err != nil {
				return nil, err
			}
			budget -= n
		}
	}
	shpPath := filepath.Join(dir, "layer.shp")
	vertices, err := countShpVertices(shpPath, lim.MaxVertices)
	if err != nil {
		return nil, err
	}
	args := []string{"-f", "GeoJSON", "-t_srs", "EPSG:4326", "-lco", "COORDINATE_PRECISION=9"}
	if files[".prj"] == nil {
		args = append(args, "-s_srs", "EPSG:4326")
	}
	if encoding != "" {
		args = append(args, "-oo", "ENCODING="+encoding)
	}
	args = append(args, "/vsistdout/", shpPath)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	// The GeoJSON is at most ~40 bytes a vertex (9 decimals) plus the attributes (a GBK byte
	// may become three of UTF-8 or six of an escape) and the JSON around each feature.
	maxOut := 64*vertices + 6*int64(files[".dbf"].UncompressedSize64) + 1<<20
	cmd := exec.CommandContext(ctx, s.ogr2ogr(), args...)
	var stderr bytes.Buffer
	stdout := &cappedBuffer{max: maxOut}
	cmd.Stdout, cmd.Stderr = stdout, &stderr
	cmd.Env = append(os.Environ(), "CPL_LOG=OFF")
	if err := cmd.Run(); err != nil {
		if stdout.over {
			return nil, errShapefileTooLarge("GDAL's GeoJSON of the shapefile is larger than %d bytes", maxOut)
		}
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 300 {
			msg = msg[:300]
		}
		if _, lookErr := exec.LookPath(s.ogr2ogr()); lookErr != nil {
			return nil, fmt.Errorf("regions: shapefile import needs GDAL's ogr2ogr (apt-get install gdal-bin): %w", lookErr)
		}
		return nil, errShapefile("GDAL could not read the shapefile: %s", msg).Wrap(err)
	}
	return stdout.Bytes(), nil
}

// extractZipFile writes f to path, at most limit bytes (413 past them), and returns its length.
func extractZipFile(f *zip.File, path string, limit int64) (int64, error) {
	rc, err := f.Open()
	if err != nil {
		return 0, errShapefile("%s: %v", f.Name, err)
	}
	defer rc.Close()
	out, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, fmt.Errorf("regions: shapefile: %w", err)
	}
	defer out.Close()
	n, err := io.Copy(out, io.LimitReader(rc, max(limit, 0)+1))
	if n > limit {
		return n, errShapefileTooLarge("the shapefile expands to more than its limit of bytes (%s)", f.Name)
	}
	if err != nil {
		return n, errShapefile("%s: %v", f.Name, err)
	}
	return n, out.Close()
}

// countShpVertices counts the points of the geometries of a .shp file by its record headers
// (without reading the coordinates), and refuses more than limit (413).
func countShpVertices(path string, limit int64) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("regions: shapefile: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 64<<10)
	if _, err := r.Discard(100); err != nil { // the file header
		return 0, errShapefile("the .shp is shorter than its header")
	}
	var total int64
	var hdr [8]byte
	var head [44]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err == io.EOF {
			return total, nil
		} else if err != nil {
			return 0, errShapefile("the .shp ends inside a record header")
		}
		length := int64(binary.BigEndian.Uint32(hdr[4:8])) * 2 // 16-bit words
		k := min(length, int64(len(head)))
		if _, err := io.ReadFull(r, head[:k]); err != nil {
			return 0, errShapefile("the .shp ends inside a record")
		}
		if k >= 4 {
			total += shpRecordPoints(head[:k])
		}
		if total > limit {
			return total, errShapefileTooLarge("the shapefile holds more than %d vertices", limit).
				WithDetails(map[string]any{"maxVertices": limit})
		}
		if _, err := r.Discard(int(length - k)); err != nil {
			return 0, errShapefile("the .shp ends inside a record")
		}
	}
}

// shpRecordPoints is the number of points a .shp record's content declares (its first bytes:
// shape type, bounding box, and the part and point counts).
func shpRecordPoints(c []byte) int64 {
	switch binary.LittleEndian.Uint32(c[:4]) {
	case 1, 11, 21: // Point, PointZ, PointM
		return 1
	case 8, 18, 28: // MultiPoint*: box, then numPoints
		if len(c) >= 40 {
			return int64(binary.LittleEndian.Uint32(c[36:40]))
		}
	case 3, 5, 13, 15, 23, 25, 31: // PolyLine*, Polygon*, MultiPatch: box, numParts, numPoints
		if len(c) >= 44 {
			return int64(binary.LittleEndian.Uint32(c[40:44]))
		}
	}
	return 0
}

// cappedBuffer holds what is written to it up to max bytes; past them, the write fails (and
// ogr2ogr with it, on a broken pipe) and over is set.
type cappedBuffer struct {
	bytes.Buffer
	max  int64
	over bool
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if int64(b.Len())+int64(len(p)) > b.max {
		b.over = true
		return 0, errors.New("regions: shapefile: GeoJSON output over its cap")
	}
	return b.Buffer.Write(p)
}

func (s *Store) ogr2ogr() string {
	if s.OGR2OGR == "" {
		return "ogr2ogr"
	}
	return s.OGR2OGR
}

// shapefileEncoding picks the ENCODING open option for GDAL's shapefile driver ("" lets GDAL
// follow the .cpg or the .dbf's language driver id).
func shapefileEncoding(cpg, dbf *zip.File) (string, error) {
	if cpg != nil {
		b, err := readZipFile(cpg, 1024)
		if err != nil {
			return "", err
		}
		switch v := strings.ToUpper(strings.TrimSpace(string(b))); v {
		case "GBK", "CP936", "936", "GB2312", "MS936", "ANSI 936":
			return "CP936", nil
		case "GB18030":
			return "GB18030", nil
		case "UTF-8", "UTF8", "65001":
			return "UTF-8", nil
		}
		return "", nil // let GDAL read the .cpg itself
	}
	head, err := readZipFile(dbf, 32)
	if err != nil {
		return "", err
	}
	if len(head) >= 30 && head[29] != 0 {
		return "", nil // the language driver id names the code page
	}
	body, err := readZipFile(dbf, 4<<20)
	if err != nil {
		return "", err
	}
	if utf8.Valid(trimIncompleteRune(body)) {
		return "UTF-8", nil
	}
	return "CP936", nil
}

// trimIncompleteRune drops a multi-byte character cut by a read limit.
func trimIncompleteRune(b []byte) []byte {
	for i := 0; i < 3 && len(b) > 0; i++ {
		if utf8.Valid(b) {
			return b
		}
		b = b[:len(b)-1]
	}
	return b
}

func readZipFile(f *zip.File, limit int64) ([]byte, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, errShapefile("%s: %v", f.Name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit))
	if err != nil {
		return nil, errShapefile("%s: %v", f.Name, err)
	}
	return b, nil
}
