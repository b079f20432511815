package regions

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
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

// shapefileToGeoJSON converts the one shapefile in a zip archive to GeoJSON in WGS-84 with
// GDAL's ogr2ogr, reading attribute text in the encoding the .cpg names, or, without a .cpg,
// the one the .dbf declares; a .dbf that declares none is read as UTF-8 when its bytes are
// valid UTF-8 and as GBK otherwise (Chinese boundary dumps are mostly GBK). A shapefile without
// a .prj is taken to be in longitude/latitude.
func (s *Store) shapefileToGeoJSON(ctx context.Context, data []byte) ([]byte, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, errShapefile("not a readable zip archive: %v", err)
	}
	var shp string
	files := map[string]*zip.File{}
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
	encoding, err := shapefileEncoding(files[".cpg"], files[".dbf"])
	if err != nil {
		return nil, err
	}

	dir, err := os.MkdirTemp("", "sieve-shp-")
	if err != nil {
		return nil, fmt.Errorf("regions: shapefile: %w", err)
	}
	defer os.RemoveAll(dir)
	zipPath := filepath.Join(dir, "in.zip")
	if err := os.WriteFile(zipPath, data, 0o600); err != nil {
		return nil, fmt.Errorf("regions: shapefile: %w", err)
	}
	args := []string{"-f", "GeoJSON", "-t_srs", "EPSG:4326", "-lco", "COORDINATE_PRECISION=9"}
	if files[".prj"] == nil {
		args = append(args, "-s_srs", "EPSG:4326")
	}
	if encoding != "" {
		args = append(args, "-oo", "ENCODING="+encoding)
	}
	args = append(args, "/vsistdout/", "/vsizip/"+zipPath+"/"+shp)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.ogr2ogr(), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(os.Environ(), "CPL_LOG=OFF")
	if err := cmd.Run(); err != nil {
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
