package regions

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"

	"github.com/twpayne/go-geom"

	"github.com/sieve-city/sieve/gis"
	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/db"
)

// CellSpec says how to split a region into grid cells.
type CellSpec struct {
	Shape string  `json:"shape"` // square or hexagon
	Size  float64 `json:"size"`  // metres: side of a square, flat-to-flat width of a hexagon
	// Replace deletes the region's existing cells (and their worker assignments) first;
	// without it, a region that has cells is refused with 409.
	Replace bool `json:"replace"`
	// MinFraction: a clipped cell smaller than this fraction of a full cell is a sliver and is
	// merged into a neighbour (default 0.3).
	MinFraction float64 `json:"minFraction"`
}

// CellsResult is what a generation made.
type CellsResult struct {
	Regions       []int64 `json:"regions"` // the villages (or township) that got cells
	Created       int     `json:"created"`
	Deleted       int64   `json:"deleted"`
	PremisesMoved int64   `json:"premisesMoved"`
	// Placed counts, by placer (premises, media ...), the rows placed anew in the cells.
	Placed map[string]int64 `json:"placed"`
}

var (
	errCellsExist = apperr.New(http.StatusConflict, "cells_exist",
		"the region already has grid cells; send replace: true to generate them anew", "该区域已有网格，如需重新生成请设置 replace")
	errCellParent = apperr.Invalidf("cells_need_village_or_township", "只能为村（社区）或乡镇（街道）生成网格",
		"grid cells are generated for a village or a township")
	errNoBoundary = apperr.Invalidf("region_has_no_boundary", "该区域没有边界，无法生成网格",
		"the region has no boundary to split")
)

// GenerateCells splits region id into grid cells: a village gets cells of its own; a township
// gets cells in each of its villages, or directly when it has none. Each lattice cell is
// clipped to the boundary and slivers are merged into neighbours (gis.ClipLatticeSQL). Cells
// are named and coded by their lattice position, north to south and west to east within a row:
// code VILLAGECODE-NN, name VILLAGENAME NN网格. Premises, media and whatever else lives in cells
// are placed in the new cells (the Store's placers).
func (s *Store) GenerateCells(ctx context.Context, q db.Querier, id int64, spec CellSpec) (CellsResult, error) {
	res := CellsResult{Regions: []int64{}, Placed: map[string]int64{}}
	// The region first: outside the caller's area is 404 whatever was asked.
	_, level, hasGeom, err := writable(ctx, q, id)
	if err != nil {
		return res, err
	}
	shape, err := gis.ParseGridShape(spec.Shape)
	if err != nil {
		return res, apperr.Invalidf("invalid_shape", "网格形状无效（square 或 hexagon）", "%v", err)
	}
	if spec.Size < 50 || spec.Size > 20000 || math.IsNaN(spec.Size) {
		return res, apperr.Invalidf("invalid_size", "网格边长须在50到20000米之间", "size must be 50 to 20000 metres")
	}
	if spec.MinFraction == 0 {
		spec.MinFraction = 0.3
	}
	if spec.MinFraction < 0 || spec.MinFraction >= 1 {
		return res, apperr.Invalidf("invalid_min_fraction", "minFraction 须在0到1之间", "minFraction must be in [0, 1)")
	}
	var targets []int64
	switch level {
	case Village:
		targets = []int64{id}
	case Township:
		rows, err := q.Query(ctx, `SELECT id FROM regions WHERE parent_id = $1 AND level = 'village' ORDER BY code`, id)
		if err != nil {
			return res, fmt.Errorf("regions: villages: %w", err)
		}
		for rows.Next() {
			var v int64
			if err := rows.Scan(&v); err != nil {
				rows.Close()
				return res, err
			}
			targets = append(targets, v)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return res, err
		}
		if len(targets) == 0 {
			targets = []int64{id}
		}
	default:
		return res, errCellParent
	}
	if level == Village && !hasGeom {
		return res, errNoBoundary
	}
	for _, t := range targets {
		n, deleted, err := s.cellsFor(ctx, q, t, shape, spec)
		if err != nil {
			return res, err
		}
		res.Created += n
		res.Deleted += deleted
		res.Regions = append(res.Regions, t)
	}
	if err := reindexCells(ctx, q); err != nil {
		return res, err
	}
	if err := s.placeIn(ctx, q, id, res.Placed); err != nil {
		return res, err
	}
	res.PremisesMoved = res.Placed[premisesPlacer]
	return res, nil
}

// cellsFor makes the cells of one region.
func (s *Store) cellsFor(ctx context.Context, q db.Querier, id int64, shape gis.GridShape, spec CellSpec) (int, int64, error) {
	var (
		minX, minY, maxX, maxY *float64
		existing               int64
	)
	const bounds = `SELECT ST_XMin(geom), ST_YMin(geom), ST_XMax(geom), ST_YMax(geom),
		(SELECT count(*) FROM regions c WHERE c.parent_id = r.id AND c.level = 'cell')
		FROM regions r WHERE id = $1`
	if err := q.QueryRow(ctx, bounds, id).Scan(&minX, &minY, &maxX, &maxY, &existing); err != nil {
		return 0, 0, fmt.Errorf("regions: cells bounds: %w", db.MapError(err))
	}
	if minX == nil {
		return 0, 0, errNoBoundary
	}
	if existing > 0 && !spec.Replace {
		return 0, 0, errCellsExist
	}
	var deleted int64
	if existing > 0 {
		tag, err := q.Exec(ctx, `DELETE FROM regions WHERE parent_id = $1 AND level = 'cell'`, id)
		if err != nil {
			return 0, 0, fmt.Errorf("regions: delete cells: %w", db.MapError(err))
		}
		deleted = tag.RowsAffected()
	}
	b := geom.NewBounds(geom.XY).Set(*minX, *minY, *maxX, *maxY)
	lattice, err := gis.Lattice(b, shape, spec.Size)
	if err != nil {
		if errors.Is(err, gis.ErrTooManyCells) {
			return 0, 0, apperr.Invalidf("too_many_cells", "网格数量过多，请增大网格边长", "%v", err)
		}
		return 0, 0, apperr.Invalidf("invalid_lattice", "无法生成网格", "%v", err)
	}
	wkb, rows, cols, err := gis.LatticeArgs(lattice)
	if err != nil {
		return 0, 0, err
	}
	insert := `INSERT INTO regions (parent_id, level, code, name, kind, geom, grid_shape, grid_size_m, grid_row, grid_col)
		SELECT p.id, 'cell', p.code || '-' || lpad(c.n::text, c.width, '0'), p.name || lpad(c.n::text, c.width, '0') || '网格',
			'网格', c.geom, $6, $7, c.row_no, c.col_no
		FROM regions p,
			(SELECT row_no, col_no, geom, row_number() OVER (ORDER BY row_no, col_no) AS n,
				greatest(2, length((count(*) OVER ())::text)) AS width
			 FROM (` + gis.ClipLatticeSQL("(SELECT geom FROM regions WHERE id = $1)", 2) + `) cl) c
		WHERE p.id = $1`
	tag, err := q.Exec(ctx, insert, id, wkb, rows, cols, spec.MinFraction, string(shape), spec.Size)
	if err != nil {
		return 0, 0, fmt.Errorf("regions: insert cells: %w", db.MapError(err))
	}
	return int(tag.RowsAffected()), deleted, nil
}

// reindexCells rebuilds the spatial index of the cells that placement uses (migration 0005)
// after many cells changed: built row by row its boxes overlap badly, and a rebuilt index
// places points about twice as fast. It takes a few tens of milliseconds for a city's cells
// and blocks other writers of region shapes until the transaction ends.
func reindexCells(ctx context.Context, q db.Querier) error {
	if _, err := q.Exec(ctx, `REINDEX INDEX region_shapes_cells`); err != nil {
		return fmt.Errorf("regions: reindex cells: %w", err)
	}
	return nil
}
