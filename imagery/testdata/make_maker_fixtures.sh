#!/usr/bin/env bash
# Generates the drone-maker fixtures of package imagery (issue 15): the
# attitude and height tags of Skydio, Parrot (Anafi), Autel and FLIR/Teal
# cameras, in the XMP layouts those cameras write, on a small image made
# from dji_attr.jpg with its metadata stripped. The outputs are committed.
# Needs exiftool (Debian libimage-exiftool-perl).
# Run from anywhere: bash imagery/testdata/make_maker_fixtures.sh
set -euo pipefail
cd "$(dirname "$0")"
command -v exiftool >/dev/null || { echo "make_maker_fixtures: exiftool is missing" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
base() { cp dji_attr.jpg "$1"; exiftool -q -overwrite_original -all= "$1"; }

# Skydio X2/X10: CameraOrientationNED as a struct (rdf:parseType="Resource"),
# position and heights in drone-skydio:, no EXIF GPS.
cat >"$tmp/skydio.xmp" <<'XMP'
<?xpacket begin="﻿" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:drone-skydio="https://www.skydio.com/drone-skydio/1.0/">
   <drone-skydio:Latitude>34.1520000</drone-skydio:Latitude>
   <drone-skydio:Longitude>113.4730000</drone-skydio:Longitude>
   <drone-skydio:AbsoluteAltitude>180.25</drone-skydio:AbsoluteAltitude>
   <drone-skydio:RelativeAltitude>80.50</drone-skydio:RelativeAltitude>
   <drone-skydio:CameraOrientationNED rdf:parseType="Resource">
    <drone-skydio:Yaw>135.20</drone-skydio:Yaw>
    <drone-skydio:Pitch>-60.00</drone-skydio:Pitch>
    <drone-skydio:Roll>0.10</drone-skydio:Roll>
   </drone-skydio:CameraOrientationNED>
   <drone-skydio:FlightOrientationNED rdf:parseType="Resource">
    <drone-skydio:Yaw>134.00</drone-skydio:Yaw>
    <drone-skydio:Pitch>-4.50</drone-skydio:Pitch>
    <drone-skydio:Roll>1.50</drone-skydio:Roll>
   </drone-skydio:FlightOrientationNED>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>
XMP
base skydio.jpg
exiftool -q -overwrite_original -Make=Skydio -Model=X10 "-DateTimeOriginal=2024:04:20 09:31:00" \
	"-xmp<=$tmp/skydio.xmp" skydio.jpg

# Older Skydio firmware: the struct's fields as attributes.
cat >"$tmp/skydio_attr.xmp" <<'XMP'
<?xpacket begin="﻿" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:drone-skydio="https://www.skydio.com/drone-skydio/1.0/"
    drone-skydio:Latitude="34.1510000" drone-skydio:Longitude="113.4710000"
    drone-skydio:AbsoluteAltitude="150.00" drone-skydio:RelativeAltitude="50.00">
   <drone-skydio:CameraOrientationNED drone-skydio:Pitch="-90.00" drone-skydio:Yaw="10.00" drone-skydio:Roll="0.00"/>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>
XMP
base skydio_attr.jpg
exiftool -q -overwrite_original -Make=Skydio -Model=X2 "-xmp<=$tmp/skydio_attr.xmp" skydio_attr.jpg

# Parrot Anafi: drone-parrot: angles, the height in the Camera: schema,
# EXIF GPS.
cat >"$tmp/parrot.xmp" <<'XMP'
<?xpacket begin="﻿" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:drone-parrot="http://www.parrot.com/drone-parrot/1.0/"
    xmlns:Camera="http://pix4d.com/camera/1.0/"
   drone-parrot:CameraPitchDegree="-89.95"
   drone-parrot:CameraYawDegree="-30.50"
   drone-parrot:CameraRollDegree="0.02"
   drone-parrot:FlightPitchDegree="2.10"
   drone-parrot:FlightYawDegree="-31.00"
   drone-parrot:FlightRollDegree="-0.40"
   Camera:Pitch="0.05"
   Camera:Yaw="-30.50"
   Camera:Roll="0.02"
   Camera:AboveGroundAltitude="70.25"/>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>
XMP
base parrot.jpg
exiftool -q -overwrite_original -n -Make=Parrot -Model=ANAFI "-DateTimeOriginal=2024:04:20 09:32:00" \
	-GPSLatitude=34.153 -GPSLatitudeRef=N -GPSLongitude=113.474 -GPSLongitudeRef=E \
	-GPSAltitude=170.5 -GPSAltitudeRef=0 -FocalLength=4 -FocalLengthIn35mmFormat=23 \
	"-xmp<=$tmp/parrot.xmp" parrot.jpg

# FLIR/Teal (Teal 2, FLIR Hadron): gimbal in the Camera: schema (pitch 0 =
# nadir), the vehicle's MAVLink attitude and relative height in FLIR:.
cat >"$tmp/flir.xmp" <<'XMP'
<?xpacket begin="﻿" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:FLIR="http://ns.flir.com/xmp/1.0/"
    xmlns:Camera="http://pix4d.com/camera/1.0/">
   <Camera:Yaw>200.00</Camera:Yaw>
   <Camera:Pitch>45.00</Camera:Pitch>
   <Camera:Roll>0.00</Camera:Roll>
   <FLIR:MAVRelativeAltitude>90.00</FLIR:MAVRelativeAltitude>
   <FLIR:MAVYaw>199.50</FLIR:MAVYaw>
   <FLIR:MAVPitch>-3.00</FLIR:MAVPitch>
   <FLIR:MAVRoll>0.50</FLIR:MAVRoll>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>
XMP
base flir_teal.jpg
exiftool -q -overwrite_original -n -Make=Teal "-Model=Hadron 640R" "-DateTimeOriginal=2024:04:20 09:33:00" \
	-GPSLatitude=34.154 -GPSLatitudeRef=N -GPSLongitude=113.475 -GPSLongitudeRef=E \
	"-xmp<=$tmp/flir.xmp" flir_teal.jpg
