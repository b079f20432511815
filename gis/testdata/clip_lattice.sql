WITH RECURSIVE boundary AS (
	SELECT ST_Multi(ST_CollectionExtract(ST_MakeValid((SELECT geom FROM regions WHERE id = $1)), 3)) AS geom
),
lattice AS (
	SELECT l.row_no, l.col_no, ST_SetSRID(ST_GeomFromWKB(l.wkb), 4326) AS cell
	FROM unnest($2::bytea[], $3::int[], $4::int[]) AS l(wkb, row_no, col_no)
),
clipped AS (
	SELECT l.row_no, l.col_no, l.cell, ST_Multi(ST_CollectionExtract(ST_MakeValid(ST_Intersection(l.cell, b.geom)), 3)) AS geom
	FROM lattice l
	CROSS JOIN boundary b
	WHERE ST_Intersects(l.cell, b.geom)
),
measured AS (
	SELECT row_no, col_no, cell, geom, area,
		area >= $5::float8 * ST_Area(cell::geography) AS keep
	FROM (
		SELECT row_no, col_no, cell, geom, ST_Area(geom::geography) AS area
		FROM clipped
		WHERE NOT ST_IsEmpty(geom)
	) a
),
link AS (
	SELECT DISTINCT ON (s.row_no, s.col_no)
		s.row_no, s.col_no, n.row_no AS to_row, n.col_no AS to_col
	FROM measured s
	JOIN measured n
		ON abs(n.row_no - s.row_no) <= 1 AND abs(n.col_no - s.col_no) <= 1
		AND (n.keep OR n.area > s.area
			OR (n.area = s.area AND (n.row_no, n.col_no) < (s.row_no, s.col_no)))
	CROSS JOIN boundary b
	CROSS JOIN LATERAL (
		SELECT ST_Length(ST_CollectionExtract(
			ST_Intersection(ST_Intersection(s.cell, n.cell), b.geom), 2)::geography) AS shared
	) border
	WHERE NOT s.keep AND border.shared > 0
	ORDER BY s.row_no, s.col_no, border.shared DESC, n.row_no, n.col_no
),
chain AS (
	SELECT row_no, col_no, to_row, to_col, 1 AS depth
	FROM link
	UNION ALL
	SELECT c.row_no, c.col_no, l.to_row, l.to_col, c.depth + 1
	FROM chain c
	JOIN link l ON l.row_no = c.to_row AND l.col_no = c.to_col
),
target AS (
	SELECT DISTINCT ON (row_no, col_no) row_no, col_no, to_row, to_col
	FROM chain
	ORDER BY row_no, col_no, depth DESC
),
pieces AS (
	SELECT coalesce(t.to_row, m.row_no) AS row_no, coalesce(t.to_col, m.col_no) AS col_no, m.geom
	FROM measured m
	LEFT JOIN target t ON t.row_no = m.row_no AND t.col_no = m.col_no
),
merged AS (
	SELECT row_no, col_no, ST_Multi(ST_CollectionExtract(ST_MakeValid(ST_Union(geom)), 3)) AS geom
	FROM pieces
	GROUP BY row_no, col_no
)
SELECT row_no, col_no, geom, ST_Area((geom)::geography)/1e6 AS area_km2
FROM merged
ORDER BY row_no, col_no
