package api

import (
	"net/http"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/media"
)

func (s *Server) createSurvey(c echo.Context) error {
	var req media.NewSurvey
	if err := bind(c, &req); err != nil {
		return err
	}
	var v media.Survey
	err := s.inScope(c, func(tx pgx.Tx) error {
		var err error
		v, err = s.Media.CreateSurvey(c.Request().Context(), tx, principal(c).UserID, req)
		return err
	})
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, v1+"/surveys/"+itoa(v.ID))
	return c.JSON(http.StatusCreated, v)
}

// listSurveys answers a page of the surveys in the caller's area, newest first, optionally over
// one region or by one operator.
func (s *Server) listSurveys(c echo.Context) error {
	p, err := page(c)
	if err != nil {
		return err
	}
	f := media.SurveyFilter{After: p.After, Limit: p.Limit}
	if f.RegionID, err = queryInt64(c, "region"); err != nil {
		return err
	}
	if f.OperatorID, err = queryInt64(c, "operator"); err != nil {
		return err
	}
	var list []media.Survey
	err = s.readInScope(c, func(tx pgx.Tx) error {
		list, err = s.Media.ListSurveys(c.Request().Context(), tx, f)
		return err
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, newList(list, p, func(v media.Survey) int64 { return v.ID }))
}

// getSurvey shows a survey with its progress: declared, received, processed, failed (with why).
func (s *Server) getSurvey(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var v media.Survey
	err = s.readInScope(c, func(tx pgx.Tx) error {
		ctx := c.Request().Context()
		if v, err = s.Media.GetSurvey(ctx, tx, id); err != nil {
			return err
		}
		p, err := s.Media.SurveyProgress(ctx, tx, id)
		v.Progress = &p
		return err
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

// createSurveyUploads hands out upload slots for many files of a survey at once; files already
// stored (same SHA-256) come back as "exists", so a re-run of the same card skips them.
func (s *Server) createSurveyUploads(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	// Out of scope is 404 whatever was sent.
	if err := s.readInScope(c, func(tx pgx.Tx) error {
		_, err := s.Media.GetSurvey(c.Request().Context(), tx, id)
		return err
	}); err != nil {
		return err
	}
	var req uploadsRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	slots, err := s.Media.Slots(c.Request().Context(), s.actor(c), &id, req.Files)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, List[media.Slot]{Items: slots})
}

func (s *Server) completeSurveyUpload(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	uid, err := pathID(c, "uploadId")
	if err != nil {
		return err
	}
	m, err := s.Media.Complete(c.Request().Context(), s.actor(c), &id, uid)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, m)
}

func (s *Server) listSurveyImages(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	p, err := page(c)
	if err != nil {
		return err
	}
	status := c.QueryParam("status")
	switch status {
	case "", "received", "processed", "failed":
	default:
		return apperr.Newf(http.StatusBadRequest, "invalid_parameter", "参数无效", "invalid status %q", status)
	}
	var items []media.Medium
	err = s.readInScope(c, func(tx pgx.Tx) error {
		items, err = s.Media.SurveyImages(c.Request().Context(), tx, id, p.After, p.Limit, status)
		return err
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, newList(items, p, func(m media.Medium) int64 { return m.ID }))
}
