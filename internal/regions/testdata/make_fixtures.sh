#!/usr/bin/env bash
# make_fixtures.sh — writes the zipped shapefiles the import tests read, with GDAL's ogr2ogr:
#   villages_gbk.zip    two villages of 411081100 (火龙镇), names in GBK, with a .cpg
#   villages_nocpg.zip  the same without the .cpg (the encoding is detected from the bytes)
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/villages.geojson" <<'JSON'
{"type":"FeatureCollection","features":[
{"type":"Feature","properties":{"CODE":"411081100201","NAME":"大墙王村"},
 "geometry":{"type":"Polygon","coordinates":[[[113.50,34.20],[113.52,34.20],[113.52,34.22],[113.50,34.22],[113.50,34.20]]]}},
{"type":"Feature","properties":{"CODE":"411081100202","NAME":"火龙社区"},
 "geometry":{"type":"Polygon","coordinates":[[[113.52,34.20],[113.54,34.20],[113.54,34.22],[113.52,34.22],[113.52,34.20]]]}}
]}
JSON
ogr2ogr -f "ESRI Shapefile" -lco ENCODING=CP936 "$tmp/villages.shp" "$tmp/villages.geojson"
(cd "$tmp" && zip -q -X villages_gbk.zip villages.shp villages.shx villages.dbf villages.prj villages.cpg)
(cd "$tmp" && zip -q -X villages_nocpg.zip villages.shp villages.shx villages.dbf villages.prj)
cp "$tmp/villages_gbk.zip" "$tmp/villages_nocpg.zip" .
