package api

import (
	"context"
	"net/http"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/sieve-city/sieve/internal/media"
)

func (s *Server) createSurvey(c echo.Context) error {
	var req media.NewSurvey
	if err := bind(c, &req); err != nil {
		return err
	}
	v, err := write(s, c, func(ctx context.Context, tx pgx.Tx) (media.Survey, error) {
		return s.Media.CreateSurvey(ctx, tx, principal(c).UserID, req)
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
	list, err := read(s, c, func(ctx context.Context, tx pgx.Tx) ([]media.Survey, error) {
		return s.Media.ListSurveys(ctx, tx, f)
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
	v, err := read(s, c, func(ctx context.Context, tx pgx.Tx) (media.Survey, error) {
		v, err := s.Media.GetSurvey(ctx, tx, id)
		if err != nil {
			return v, err
		}
		p, err := s.Media.SurveyProgress(ctx, tx, id)
		v.Progress = &p
		return v, err
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
	req, err := readFound[uploadsRequest](s, c, s.surveyFound(id))
	if err != nil {
		return err
	}
	slots, err := s.Media.Slots(c.Request().Context(), s.actor(c), &id, req.Files)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, List[media.Slot]{Items: slots})
}

// surveyFound looks survey id up in the caller's scope.
func (s *Server) surveyFound(id int64) found {
	return func(ctx context.Context, tx pgx.Tx) error {
		_, err := s.Media.GetSurvey(ctx, tx, id)
		return err
	}
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
	status, err := queryOneOf(c, "status", "received", "processed", "failed")
	if err != nil {
		return err
	}
	items, err := read(s, c, func(ctx context.Context, tx pgx.Tx) ([]media.Medium, error) {
		return s.Media.SurveyImages(ctx, tx, id, p.After, p.Limit, status)
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, newList(items, p, func(m media.Medium) int64 { return m.ID }))
}
