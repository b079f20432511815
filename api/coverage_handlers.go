package api

import (
	"context"
	"net/http"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/sieve-city/sieve/internal/coverage"
	"github.com/sieve-city/sieve/internal/tasks"
)

// coverageArea reads ?region= (required) and ?round= (0: the current round).
func coverageArea(c echo.Context) (region, round int64, err error) {
	if region, err = queryInt64(c, "region"); err != nil {
		return 0, 0, err
	}
	if region == 0 {
		return 0, 0, invalidParam("region", "a region id", "应为区域编号")
	}
	round, err = queryInt64(c, "round")
	return region, round, err
}

// getCoverage answers the coverage of a region and of its children for a round.
func (s *Server) getCoverage(c echo.Context) error {
	region, round, err := coverageArea(c)
	if err != nil {
		return err
	}
	rep, err := read(s, c, func(ctx context.Context, tx pgx.Tx) (coverage.Report, error) {
		return s.Coverage.Get(ctx, tx, region, round)
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, rep)
}

// getCoverageSeries answers the share verified by day of a region for a round.
func (s *Server) getCoverageSeries(c echo.Context) error {
	region, round, err := coverageArea(c)
	if err != nil {
		return err
	}
	out, err := read(s, c, func(ctx context.Context, tx pgx.Tx) (coverage.Series, error) {
		return s.Coverage.Series(ctx, tx, region, round)
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

// getCoverageGaps answers what a coordinator chases in a region.
func (s *Server) getCoverageGaps(c echo.Context) error {
	region, round, err := coverageArea(c)
	if err != nil {
		return err
	}
	out, err := read(s, c, func(ctx context.Context, tx pgx.Tx) (coverage.Gaps, error) {
		return s.Coverage.Gaps(ctx, tx, region, round)
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

// createGapTasks turns the gap of a cell into tasks for its grid workers.
func (s *Server) createGapTasks(c echo.Context) error {
	var req coverage.GapTasks
	if err := bind(c, &req); err != nil {
		return err
	}
	by := principal(c).UserID
	out, err := write(s, c, func(ctx context.Context, tx pgx.Tx) (coverage.GapTasksResult, error) {
		return s.Coverage.MakeGapTasks(ctx, tx, tasks.Store{}, req, by)
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}
