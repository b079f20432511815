package api

import (
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
	var users []accounts.User
	err = s.readInScope(c, func(tx pgx.Tx) error {
		users, err = s.Accounts.List(c.Request().Context(), tx, f)
		return err
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
	var u accounts.User
	err := s.inScope(c, func(tx pgx.Tx) error {
		var err error
		u, err = s.Accounts.Create(c.Request().Context(), tx, principal(c).Role, req)
		return err
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
	var u accounts.User
	err = s.readInScope(c, func(tx pgx.Tx) error {
		u, err = s.Accounts.Get(c.Request().Context(), tx, id)
		return err
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
	var u accounts.User
	err = s.inScope(c, func(tx pgx.Tx) error {
		// Look the user up before reading the body: out of scope is 404 whatever was sent.
		if _, err := s.Accounts.Get(c.Request().Context(), tx, id); err != nil {
			return err
		}
		var patch accounts.UserPatch
		if err := bind(c, &patch); err != nil {
			return err
		}
		u, err = s.Accounts.Update(c.Request().Context(), tx, principal(c).Role, id, patch)
		return err
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, u)
}
