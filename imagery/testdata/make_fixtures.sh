#!/usr/bin/env bash
# Generates the synthetic test fixtures of package imagery from the real
# photos beside this script (see SOURCES.md). The outputs are committed, so
# `go test ./imagery/...` needs none of the tools used here:
#   exiftool (Debian libimage-exiftool-perl), vips (libvips-tools), python3.
# Run from anywhere: bash imagery/testdata/make_fixtures.sh
set -euo pipefail
cd "$(dirname "$0")"
for tool in exiftool vips python3; do
	command -v "$tool" >/dev/null || { echo "make_fixtures: $tool is missing" >&2; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# --- portrait phone photos with an orientation marker --------------------
# Stored 800x600 (landscape), grey, with a red square in the stored top-left
# corner and a blue one in the stored bottom-left. EXIF Orientation 6 or 8
# says "turn me": displayed they are 600x800 portraits.
python3 - "$tmp/marker.ppm" <<'PY'
import sys
w, h = 800, 600
px = bytearray([128, 128, 128] * (w * h))
def square(x0, y0, rgb):
    for y in range(y0, y0 + 150):
        for x in range(x0, x0 + 150):
            i = 3 * (y * w + x)
            px[i:i + 3] = bytes(rgb)
square(0, 0, (230, 20, 20))
square(0, h - 150, (20, 20, 230))
open(sys.argv[1], "wb").write(b"P6\n%d %d\n255\n" % (w, h) + px)
PY
for o in 6 8; do
	vips copy "$tmp/marker.ppm" "marker_$o.jpg[Q=90,strip]"
	exiftool -q -overwrite_original -n -Orientation=$o -Make=Apple "-Model=iPhone 13" \
		"-DateTimeOriginal=2024:05:06 10:11:12" -OffsetTimeOriginal=+08:00 -SubSecTimeOriginal=250 \
		-GPSLatitude=34.1512 -GPSLatitudeRef=N -GPSLongitude=113.4721 -GPSLongitudeRef=E \
		-GPSAltitude=5.5 -GPSAltitudeRef=1 -FocalLength=5.7 -FocalLengthIn35mmFormat=26 \
		"marker_$o.jpg"
done

# --- drone images with DJI-style XMP -------------------------------------
vips thumbnail jolla.jpg "$tmp/small.jpg[Q=85,strip]" 600
# Attribute form (what DJI cameras write), nadir, EXIF GPS too.
cat >"$tmp/dji_attr.xmp" <<'XMP'
<?xpacket begin="﻿" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="DJI Meta Data"
    xmlns:tiff="http://ns.adobe.com/tiff/1.0/"
    xmlns:drone-dji="http://www.dji.com/drone-dji/1.0/"
   tiff:Make="DJI"
   tiff:Model="FC6310R"
   drone-dji:AbsoluteAltitude="+215.35"
   drone-dji:RelativeAltitude="+100.20"
   drone-dji:GpsLatitude="34.15120000"
   drone-dji:GpsLongitude="113.47210000"
   drone-dji:GimbalRollDegree="+0.00"
   drone-dji:GimbalYawDegree="+45.30"
   drone-dji:GimbalPitchDegree="-90.00"
   drone-dji:FlightRollDegree="+1.20"
   drone-dji:FlightYawDegree="+44.90"
   drone-dji:FlightPitchDegree="-3.10"
   drone-dji:CalibratedFocalLength="3666.666504"
   drone-dji:RtkFlag="50"/>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>
XMP
cp "$tmp/small.jpg" dji_attr.jpg
exiftool -q -overwrite_original -n -Make=DJI -Model=FC6310R \
	"-DateTimeOriginal=2024:04:20 09:30:00" -GPSLatitude=34.1512 -GPSLatitudeRef=N \
	-GPSLongitude=113.4721 -GPSLongitudeRef=E -GPSAltitude=215.35 -GPSAltitudeRef=0 \
	-FocalLength=8.8 -FocalLengthIn35mmFormat=24 "-xmp<=$tmp/dji_attr.xmp" dji_attr.jpg

# Element form, oblique, no EXIF GPS: the position comes from XMP, with the
# "GpsLongtitude" spelling of early DJI firmware.
cat >"$tmp/dji_elem.xmp" <<'XMP'
<?xpacket begin="﻿" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:drone-dji="http://www.dji.com/drone-dji/1.0/">
   <drone-dji:RelativeAltitude>+60.5</drone-dji:RelativeAltitude>
   <drone-dji:GpsLatitude>-33.8568</drone-dji:GpsLatitude>
   <drone-dji:GpsLongtitude>151.2153</drone-dji:GpsLongtitude>
   <drone-dji:GimbalPitchDegree>-30.0</drone-dji:GimbalPitchDegree>
   <drone-dji:GimbalYawDegree>-120.5</drone-dji:GimbalYawDegree>
   <drone-dji:GimbalRollDegree>0</drone-dji:GimbalRollDegree>
   <drone-dji:FlightYawDegree>not-a-number</drone-dji:FlightYawDegree>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>
XMP
cp "$tmp/small.jpg" dji_elem.jpg
exiftool -q -overwrite_original -Make=DJI -Model=FC3411 "-xmp<=$tmp/dji_elem.xmp" dji_elem.jpg

# Pix4D "Camera:" schema (older Autel firmware, senseFly): pitch 0 = nadir.
cat >"$tmp/pix4d.xmp" <<'XMP'
<?xpacket begin="﻿" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="Autel Robotics Meta Data" xmlns:Camera="http://pix4d.com/camera/1.0">
   <Camera:Yaw>90.5</Camera:Yaw>
   <Camera:Pitch>10.0</Camera:Pitch>
   <Camera:Roll>-0.5</Camera:Roll>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>
XMP
cp "$tmp/small.jpg" pix4d.jpg
exiftool -q -overwrite_original -Make=Autel "-Model=XT701" -GPSLatitude=34.2 -GPSLatitudeRef=N \
	-GPSLongitude=113.3 -GPSLongitudeRef=E "-xmp<=$tmp/pix4d.xmp" pix4d.jpg

# Other containers, tiny: WebP and TIFF (stored, not thumbnailed).
vips thumbnail jolla.jpg other.webp 48
vips thumbnail jolla.jpg other.tif 48

# --- bad inputs ------------------------------------------------------------
: >empty.jpg                                  # zero bytes
vips thumbnail jolla.jpg png_named.jpg.png 160  # a PNG ...
mv png_named.jpg.png png_named.jpg            # ... named .jpg
cp "$tmp/small.jpg" whole.jpg
head -c $(( $(stat -c %s whole.jpg) * 6 / 10 )) whole.jpg >truncated.jpg
rm whole.jpg

# EXIF GPS edge cases written by exiftool.
cp "$tmp/small.jpg" gps_empty.jpg
exiftool -q -overwrite_original -n -Make=Test -GPSVersionID="2 3 0 0" gps_empty.jpg
cp "$tmp/small.jpg" gps_zero.jpg
exiftool -q -overwrite_original -n -GPSLatitude=0 -GPSLatitudeRef=N -GPSLongitude=0 -GPSLongitudeRef=E gps_zero.jpg
cp "$tmp/small.jpg" gps_southwest.jpg
exiftool -q -overwrite_original -n -GPSLatitude=22.9068 -GPSLatitudeRef=S \
	-GPSLongitude=43.1729 -GPSLongitudeRef=W gps_southwest.jpg

# Hand-built EXIF blocks (types and values no tool writes), the decompression
# bomb header and the HEIC header.
vips black "$tmp/tiny.v" 16 16 --bands 3
vips copy "$tmp/tiny.v" "$tmp/tiny.jpg[Q=50,strip]"
exiftool -b -Exif marker_6.jpg >"$tmp/phone_exif.tiff"
python3 - "$tmp/tiny.jpg" "$tmp/phone_exif.tiff" <<'PY'
import struct, sys
tiny = open(sys.argv[1], "rb").read()
phone_exif = open(sys.argv[2], "rb").read()

BYTE, ASCII, SHORT, LONG, RATIONAL, UNDEFINED, SRATIONAL = 1, 2, 3, 4, 5, 7, 10
SIZE = {BYTE: 1, ASCII: 1, SHORT: 2, LONG: 4, RATIONAL: 8, UNDEFINED: 1, SRATIONAL: 8}

def enc(e, typ, vals):
    if typ in (ASCII, UNDEFINED, BYTE) and isinstance(vals, (bytes, str)):
        b = vals.encode() if isinstance(vals, str) else vals
        return b, len(b)
    out = b""
    for v in vals:
        if typ == SHORT: out += struct.pack(e + "H", v)
        elif typ == LONG: out += struct.pack(e + "I", v)
        elif typ == BYTE: out += struct.pack(e + "B", v)
        elif typ == RATIONAL: out += struct.pack(e + "II", *v)
        elif typ == SRATIONAL: out += struct.pack(e + "ii", *v)
    return out, len(vals)

def tiff(ifd0, exif=None, gps=None, big_endian=False):
    """Builds a TIFF block: ifd0, exif and gps are lists of (tag, type, values).
    Each IFD is followed by its out-of-line values."""
    e = ">" if big_endian else "<"
    ifds = [list(ifd0)]
    if exif is not None: ifds[0].append((0x8769, LONG, "EXIF")); ifds.append(list(exif))
    if gps is not None: ifds[0].append((0x8825, LONG, "GPS")); ifds.append(list(gps))
    def values(t, v):
        return enc(e, t, [0] if isinstance(v, str) and t == LONG else v)[0]
    offsets, pos = [], 8
    for ifd in ifds:
        offsets.append(pos)
        pos += 2 + 12 * len(ifd) + 4
        for _, t, v in ifd:
            b = values(t, v)
            if len(b) > 4: pos += len(b) + (len(b) & 1)
    named = {"EXIF": offsets[1] if exif is not None else 0,
             "GPS": offsets[-1] if gps is not None else 0}
    out = (b"MM\x00\x2a" if big_endian else b"II\x2a\x00") + struct.pack(e + "I", 8)
    for ifd in ifds:
        ifd = sorted(ifd, key=lambda x: x[0])
        head, data = struct.pack(e + "H", len(ifd)), b""
        dpos = len(out) + 2 + 12 * len(ifd) + 4
        for tag, t, v in ifd:
            if isinstance(v, str) and t == LONG: v = [named[v]]
            b, n = enc(e, t, v)
            if len(b) <= 4:
                head += struct.pack(e + "HHI", tag, t, n)[:8] + b.ljust(4, b"\0")
            else:
                head += struct.pack(e + "HHII", tag, t, n, dpos + len(data))
                data += b + (b"\0" if len(b) & 1 else b"")
        out += head + struct.pack(e + "I", 0) + data
    return out

def jpeg_with_exif(block):
    app1 = b"Exif\0\0" + block
    return tiny[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + tiny[2:]

def dms(d, m, s100): return [(d, 1), (m, 1), (s100, 100)]

# Latitude 250: out of range.
open("gps_lat250.jpg", "wb").write(jpeg_with_exif(tiff(
    [(0x010F, ASCII, "Test\0")], gps=[
        (1, ASCII, "N\0"), (2, RATIONAL, dms(250, 0, 0)),
        (3, ASCII, "E\0"), (4, RATIONAL, dms(113, 28, 0))])))

# Negative degrees as SRATIONAL and no references (some Android writers);
# big-endian; altitude below sea level.
open("gps_negative.jpg", "wb").write(jpeg_with_exif(tiff(
    [(0x010F, ASCII, "Test\0"), (0x0112, SHORT, [3])], gps=[
        (2, SRATIONAL, [(-34, 1), (-30, 1), (0, 1)]),
        (4, SRATIONAL, [(-58, 1), (-22, 1), (-3000, 100)]),
        (5, BYTE, [1]), (6, RATIONAL, [(125, 10)])], big_endian=True)))

# Decimal degrees in one rational, lower-case references.
open("gps_decimal.jpg", "wb").write(jpeg_with_exif(tiff(
    [(0x010F, ASCII, "Test\0")], gps=[
        (1, ASCII, "s\0"), (2, RATIONAL, [(3386880, 100000)]),
        (3, ASCII, "e\0"), (4, RATIONAL, [(15121530, 100000)])])))

# Wrong types everywhere: Make as SHORT, Orientation as text, a time as a
# LONG, FocalLength as text, latitude as text, longitude with a zero
# denominator, Model pointing past the end of the block.
open("exif_wrong_types.jpg", "wb").write(jpeg_with_exif(tiff(
    [(0x010F, SHORT, [1, 2]), (0x0112, ASCII, "6\0"), (0x0110, ASCII, "X" * 40)],
    exif=[(0x9003, LONG, [12345]), (0x920A, ASCII, "4.2mm\0"), (0xA405, SHORT, [0])],
    gps=[(1, ASCII, "N\0"), (2, ASCII, "forty north\0"),
         (3, ASCII, "E\0"), (4, RATIONAL, [(113, 0), (28, 1), (0, 1)])]))
    .replace(b"X" * 40, b"Y" * 40))
b = bytearray(open("exif_wrong_types.jpg", "rb").read())
# Point Model's value offset far past the block.
i = b.find(b"\x10\x01\x02\x00\x28\x00\x00\x00")
assert i > 0, "Model entry not found"
b[i + 8:i + 12] = struct.pack("<I", 0x00FFFF00)
open("exif_wrong_types.jpg", "wb").write(bytes(b))

# An APP1 "Exif" segment of garbage.
open("exif_garbage.jpg", "wb").write(jpeg_with_exif(b"II*\x00" + b"\xff\xee" * 40))

# Decompression bomb: a 700-byte file whose frame header claims 50000x50000.
sof = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, 50000, 50000, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
i = tiny.find(b"\xff\xc0")
n = struct.unpack(">H", tiny[i + 2:i + 4])[0]
open("bomb.jpg", "wb").write(tiny[:i] + sof + tiny[i + 2 + n:])

# HEIC header: ftyp, and a meta box whose primary item (a 4032x3024 grid of
# 512x512 tiles, as iPhones write) has its ispe, plus an Exif item in mdat.
def box(t, body): return struct.pack(">I", 8 + len(body)) + t + body
def full(t, v, f, body): return box(t, bytes([v]) + f.to_bytes(3, "big") + body)
ftyp = box(b"ftyp", b"heic" + struct.pack(">I", 0) + b"mif1heicmiaf")
hdlr = full(b"hdlr", 0, 0, b"\0" * 4 + b"pict" + b"\0" * 12 + b"\0")
pitm = full(b"pitm", 0, 0, struct.pack(">H", 49))
ipco = box(b"ipco",
           full(b"ispe", 0, 0, struct.pack(">II", 512, 512)) +      # 1: tiles
           full(b"ispe", 0, 0, struct.pack(">II", 4032, 3024)))     # 2: grid
ipma = full(b"ipma", 0, 0, struct.pack(">I", 2) +
            struct.pack(">HB", 1, 1) + bytes([0x81]) +               # item 1 -> ispe 1
            struct.pack(">HB", 49, 1) + bytes([0x82]))               # item 49 -> ispe 2
meta = full(b"meta", 0, 0, hdlr + pitm + box(b"iprp", ipco + ipma))
mdat = box(b"mdat", struct.pack(">I", 0) + b"Exif\0\0" + phone_exif + b"\0" * 64)
open("heic_header.heic", "wb").write(ftyp + meta + mdat)
PY
ls -l
