package api

import (
	"context"
	"net/http"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/sieve-city/sieve/internal/accounts"
	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/sites"
)

// siteFound looks site id up in the caller's scope.
func (s *Server) siteFound(id int64) found {
	return func(ctx context.Context, tx pgx.Tx) error {
		_, err := s.Sites.Store.Get(ctx, tx, id)
		return err
	}
}

// listSites answers a page of the sites the caller may see.
func (s *Server) listSites(c echo.Context) error {
	p, err := page(c)
	if err != nil {
		return err
	}
	f := sites.Filter{After: p.After, Limit: p.Limit}
	if f.RegionID, err = queryInt64(c, "region"); err != nil {
		return err
	}
	if f.CellID, err = queryInt64(c, "cell"); err != nil {
		return err
	}
	st, err := queryOneOf(c, "status", words(sites.Statuses)...)
	if err != nil {
		return err
	}
	f.Status = sites.Status(st)
	cl, err := queryOneOf(c, "class", words(sites.Classes)...)
	if err != nil {
		return err
	}
	f.Class = sites.Class(cl)
	list, err := read(s, c, func(ctx context.Context, tx pgx.Tx) ([]sites.Site, error) {
		return s.Sites.Store.List(ctx, tx, f)
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, newList(list, p, func(x sites.Site) int64 { return x.ID }))
}

// createSite opens a site by hand (or from a tip, lead or drone image), placed in its cell,
// with the images already stored of its place.
func (s *Server) createSite(c echo.Context) error {
	var req sites.NewSite
	if err := bind(c, &req); err != nil {
		return err
	}
	out, err := write(s, c, func(ctx context.Context, tx pgx.Tx) (sites.Site, error) {
		return s.Sites.Create(ctx, tx, req, principal(c).UserID)
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, out)
}

func (s *Server) getSite(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	out, err := read(s, c, func(ctx context.Context, tx pgx.Tx) (sites.Site, error) {
		return s.Sites.Store.Get(ctx, tx, id)
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) updateSite(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	out, err := writeFound(s, c, s.siteFound(id), func(ctx context.Context, tx pgx.Tx, p sites.Patch) (sites.Site, error) {
		return s.Sites.Update(ctx, tx, id, p)
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

type moveRequest struct {
	To     sites.Status `json:"to"`
	Reason string       `json:"reason"`
}

// moveSite moves a case along the workflow (409 invalid_transition for a move not in it).
func (s *Server) moveSite(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	out, err := writeFound(s, c, s.siteFound(id), func(ctx context.Context, tx pgx.Tx, r moveRequest) (sites.Site, error) {
		return s.Sites.Move(ctx, tx, id, r.To, r.Reason, principal(c).UserID)
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

// listSiteEvents answers the case's history, oldest first.
func (s *Server) listSiteEvents(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	out, err := read(s, c, func(ctx context.Context, tx pgx.Tx) ([]sites.Event, error) {
		if _, err := s.Sites.Store.Get(ctx, tx, id); err != nil {
			return nil, err
		}
		return s.Sites.Store.Events(ctx, tx, id)
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, items(out))
}

// items is a whole (unpaginated) list in the List shape.
func items[T any](xs []T) List[T] {
	if xs == nil {
		xs = []T{}
	}
	return List[T]{Items: xs}
}

// listSiteMedia answers the images linked to a site, with why.
func (s *Server) listSiteMedia(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	out, err := read(s, c, func(ctx context.Context, tx pgx.Tx) ([]sites.Medium, error) {
		if _, err := s.Sites.Store.Get(ctx, tx, id); err != nil {
			return nil, err
		}
		return s.Sites.Store.Media(ctx, tx, id)
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, items(out))
}

type mediaIDsRequest struct {
	MediaIDs []int64 `json:"mediaIds"`
}

// linkSiteMedia links images to a site by hand.
func (s *Server) linkSiteMedia(c echo.Context) error { return s.siteMediaChange(c, true) }

// unlinkSiteMedia removes images from a site.
func (s *Server) unlinkSiteMedia(c echo.Context) error { return s.siteMediaChange(c, false) }

func (s *Server) siteMediaChange(c echo.Context, link bool) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	out, err := writeFound(s, c, s.siteFound(id), func(ctx context.Context, tx pgx.Tx, r mediaIDsRequest) ([]sites.Medium, error) {
		if link {
			return s.Sites.LinkMedia(ctx, tx, id, r.MediaIDs)
		}
		return s.Sites.UnlinkMedia(ctx, tx, id, r.MediaIDs)
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, items(out))
}

// siteActionOptions answers the disposal actions the site's classes call for.
func (s *Server) siteActionOptions(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	site, err := read(s, c, func(ctx context.Context, tx pgx.Tx) (sites.Site, error) {
		return s.Sites.Store.Get(ctx, tx, id)
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, items(sites.Options(site.Classes)))
}

func (s *Server) listSiteActions(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	out, err := read(s, c, func(ctx context.Context, tx pgx.Tx) ([]sites.ActionRecord, error) {
		if _, err := s.Sites.Store.Get(ctx, tx, id); err != nil {
			return nil, err
		}
		return s.Sites.Store.Actions(ctx, tx, id)
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, items(out))
}

// caller is who acts on a site: an inspector records only their department's actions.
func siteCaller(c echo.Context) sites.Caller {
	p := principal(c)
	return sites.Caller{UserID: p.UserID, Inspector: p.Role == accounts.Inspector}
}

// addSiteAction records a disposal action (403 other_department for an inspector's other
// department).
func (s *Server) addSiteAction(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	out, err := writeFound(s, c, s.siteFound(id), func(ctx context.Context, tx pgx.Tx, n sites.NewAction) (sites.ActionRecord, error) {
		return s.Sites.AddAction(ctx, tx, id, n, siteCaller(c))
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, out)
}

// updateSiteAction records an action's result, evidence, deadline or completion.
func (s *Server) updateSiteAction(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	lookup := func(ctx context.Context, tx pgx.Tx) error {
		_, err := s.Sites.Store.Action(ctx, tx, id)
		return err
	}
	out, err := writeFound(s, c, lookup, func(ctx context.Context, tx pgx.Tx, p sites.ActionPatch) (sites.ActionRecord, error) {
		return s.Sites.UpdateAction(ctx, tx, id, p, siteCaller(c))
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

// listOverdueActions answers the overdue actions of a township's (or any region's) sites.
func (s *Server) listOverdueActions(c echo.Context) error {
	p, err := page(c)
	if err != nil {
		return err
	}
	township, err := queryInt64(c, "township")
	if err != nil {
		return err
	}
	out, err := read(s, c, func(ctx context.Context, tx pgx.Tx) ([]sites.ActionRecord, error) {
		return s.Sites.Store.Overdue(ctx, tx, township, p.After, p.Limit)
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, newList(out, p, func(a sites.ActionRecord) int64 { return a.ID }))
}

func (s *Server) listSitePersons(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	out, err := read(s, c, func(ctx context.Context, tx pgx.Tx) ([]sites.Person, error) {
		if _, err := s.Sites.Store.Get(ctx, tx, id); err != nil {
			return nil, err
		}
		return s.Sites.Store.Persons(ctx, tx, id)
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, items(out))
}

func (s *Server) addSitePerson(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	out, err := writeFound(s, c, s.siteFound(id), func(ctx context.Context, tx pgx.Tx, n sites.NewPerson) (sites.Person, error) {
		return s.Sites.AddPerson(ctx, tx, id, n)
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, out)
}

// listExited answers the register of exited enterprises (附件1).
func (s *Server) listExited(c echo.Context) error {
	out, err := read(s, c, func(ctx context.Context, tx pgx.Tx) ([]sites.Exited, error) {
		return s.Sites.Store.ListExited(ctx, tx)
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, items(out))
}

// importExited adds or updates firms of the register from a CSV (附件1's columns), all or nothing.
func (s *Server) importExited(c echo.Context) error {
	switch contentType(c) {
	case "", "text/csv", "application/csv", "text/plain", "application/vnd.ms-excel", echo.MIMEOctetStream:
	default:
		return apperr.ErrUnsupportedMedia
	}
	data, err := readUpload(c)
	if err != nil {
		return err
	}
	out, err := write(s, c, func(ctx context.Context, tx pgx.Tx) (sites.ExitedImport, error) {
		return s.Sites.Store.ImportExited(ctx, tx, data)
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}
