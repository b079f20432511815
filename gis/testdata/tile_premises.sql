WITH tile AS (SELECT ST_TileEnvelope($1::int, $2::int, $3::int) AS env),
cells AS (
	SELECT s.region_id FROM region_shapes s, tile
	WHERE s.geom && ST_Transform(tile.env, 4326)
)
SELECT ST_AsMVT(mvt, 'premises', 4096, 'geom', 'id')
FROM (
	SELECT p.id, p.kind, ST_AsMVTGeom(ST_Transform(p.geom, 3857), tile.env, 4096, 256, true) AS geom
	FROM premises p, tile
	WHERE p.cell_id IN (SELECT region_id FROM cells)
) mvt
WHERE mvt.geom IS NOT NULL
