package api

import (
	"context"
	"net/http"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/sieve-city/sieve/internal/accounts"
)

func (s *Server) listUsers(c echo.Context) error {
	p, err := page(c)
	if err != nil {
		return err
	}
	region, err := queryInt64(c, "region")
	if err != nil {
		return err
	}
	f := accounts.ListFilter{After: p.After, Limit: p.Limit, RegionID: region}
	if r := c.QueryParam("role"); r != "" {
		if f.Role, err = accounts.ParseRole(r); err != nil {
			return err
		}
	}
	users, err := read(s, c, func(ctx context.Context, tx pgx.Tx) ([]accounts.User, error) {
		return s.Accounts.List(ctx, tx, f)
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, newList(users, p, func(u accounts.User) int64 { return u.ID }))
}

func (s *Server) createUser(c echo.Context) error {
	var req accounts.NewUser
	if err := bind(c, &req); err != nil {
		return err
	}
	u, err := write(s, c, func(ctx context.Context, tx pgx.Tx) (accounts.User, error) {
		return s.Accounts.Create(ctx, tx, principal(c).Role, req)
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, u)
}

func (s *Server) getUser(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	u, err := read(s, c, func(ctx context.Context, tx pgx.Tx) (accounts.User, error) {
		return s.Accounts.Get(ctx, tx, id)
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, u)
}

func (s *Server) updateUser(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	lookup := func(ctx context.Context, tx pgx.Tx) error {
		_, err := s.Accounts.Get(ctx, tx, id)
		return err
	}
	u, err := writeFound(s, c, lookup, func(ctx context.Context, tx pgx.Tx, patch accounts.UserPatch) (accounts.User, error) {
		return s.Accounts.Update(ctx, tx, principal(c).Role, id, patch)
	})
	// After the commit: the next request here sees the change (a principal cached while the
	// change was in flight included); other instances hear of it from the database.
	s.Accounts.Forget()
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, u)
}
