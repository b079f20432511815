package api

import (
	"context"
	"net/http"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/sieve-city/sieve/internal/tracks"
)

// The exclusion list of the vehicle-track leads (issue 14): places where hazardous-chemical
// vehicles stop for reasons of their own (chemical firms, depots, service areas, fuel
// stations), so their stays are no leads. The import itself is the leads import of kind
// vehicle_track (leads_handlers.go).

// listTrackExclusions answers the whole list (everyone logged in reads it).
func (s *Server) listTrackExclusions(c echo.Context) error {
	out, err := read(s, c, func(ctx context.Context, tx pgx.Tx) ([]tracks.Exclusion, error) {
		return tracks.Exclusions{}.List(ctx, tx)
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, items(out))
}

// addTrackExclusion puts a place on the list, in the caller's area.
func (s *Server) addTrackExclusion(c echo.Context) error {
	var req tracks.NewExclusion
	if err := bind(c, &req); err != nil {
		return err
	}
	out, err := write(s, c, func(ctx context.Context, tx pgx.Tx) (tracks.Exclusion, error) {
		return tracks.Exclusions{}.Add(ctx, tx, req, principal(c).UserID)
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, out)
}

// updateTrackExclusion changes a place of the list, or takes it off (active false).
func (s *Server) updateTrackExclusion(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var req tracks.ExclusionPatch
	if err := bind(c, &req); err != nil {
		return err
	}
	out, err := write(s, c, func(ctx context.Context, tx pgx.Tx) (tracks.Exclusion, error) {
		return tracks.Exclusions{}.Update(ctx, tx, id, req)
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}
