package gis

import (
	"encoding/binary"
	"fmt"

	"github.com/twpayne/go-geom"
	"github.com/twpayne/go-geom/encoding/ewkb"
	"github.com/twpayne/go-geom/encoding/wkb"
)

// EncodeWKB encodes g as two-dimensional, little-endian (NDR) Well-Known
// Binary, the form to pass to pgx as a bytea parameter and wrap in
// GeomFromWKB in the SQL. Z and M ordinates are dropped: the database stores
// 2D geometry in SRID 4326, which the SQL sets (WKB carries no SRID).
func EncodeWKB(g geom.T) ([]byte, error) {
	if g == nil {
		return nil, fmt.Errorf("gis: encode WKB: no geometry")
	}
	flat, err := force2D(g)
	if err != nil {
		return nil, fmt.Errorf("gis: encode WKB: %w", err)
	}
	b, err := wkb.Marshal(flat, wkb.NDR)
	if err != nil {
		return nil, fmt.Errorf("gis: encode WKB: %w", err)
	}
	return b, nil
}

// DecodeWKB decodes a geometry read from the database: OGC/ISO Well-Known
// Binary (what ST_AsBinary returns), or PostGIS Extended WKB (ST_AsEWKB,
// or a geometry column read in binary). Either byte order is accepted. The
// result is two-dimensional; an EWKB SRID other than 0 or 4326 is an error,
// since Sieve keeps everything in WGS-84.
func DecodeWKB(b []byte) (geom.T, error) {
	const (
		ewkbFlags = 0xE0000000 // Z, M and SRID flags of PostGIS EWKB
		ewkbSRID  = 0x20000000
	)
	if len(b) < 5 {
		return nil, fmt.Errorf("gis: decode WKB: %d bytes is too short", len(b))
	}
	var order binary.ByteOrder
	switch b[0] {
	case 0:
		order = binary.BigEndian
	case 1:
		order = binary.LittleEndian
	default:
		return nil, fmt.Errorf("gis: decode WKB: unknown byte order %#x", b[0])
	}

	var (
		g   geom.T
		err error
	)
	if order.Uint32(b[1:5])&ewkbFlags != 0 {
		g, err = ewkb.Unmarshal(b)
	} else {
		g, err = wkb.Unmarshal(b)
	}
	if err != nil {
		return nil, fmt.Errorf("gis: decode WKB: %w", err)
	}
	if srid := g.SRID(); srid != 0 && srid != 4326 {
		return nil, fmt.Errorf("gis: decode WKB: SRID %d, want 4326", srid)
	}
	flat, err := force2D(g)
	if err != nil {
		return nil, fmt.Errorf("gis: decode WKB: %w", err)
	}
	return flat, nil
}
