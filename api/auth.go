package api

import (
	"net/http"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/sieve-city/sieve/internal/accounts"
	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/db"
)

const principalKey = "sieve.principal"

// route registers a handler with the permission it needs. Every /api/v1 route goes through
// here, so none can be added without an access rule (TestAccessMatrix checks this).
func (s *Server) route(method, path string, perm accounts.Permission, h echo.HandlerFunc) {
	s.rules[method+" "+path] = perm
	var mw []echo.MiddlewareFunc
	if perm != accounts.PermPublic {
		mw = append(mw, s.authenticate, require(perm))
	}
	s.echo.Add(method, path, h, mw...)
}

// authenticate resolves the bearer token into the request's Principal, or answers 401.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Request().Header.Get(echo.HeaderAuthorization)
		token, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || token == "" {
			c.Response().Header().Set("WWW-Authenticate", `Bearer realm="sieve"`)
			return apperr.ErrUnauthenticated
		}
		p, err := s.Accounts.Authenticate(c.Request().Context(), s.Pool, strings.TrimSpace(token))
		if err != nil {
			c.Response().Header().Set("WWW-Authenticate", `Bearer realm="sieve", error="invalid_token"`)
			return err
		}
		c.Set(principalKey, p)
		return next(c)
	}
}

// require answers 403 unless the caller's role has permission p.
func require(p accounts.Permission) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if !principal(c).Role.Can(p) {
				return apperr.ErrForbidden
			}
			return next(c)
		}
	}
}

// principal returns the authenticated caller; routes without login have a zero Principal.
func principal(c echo.Context) accounts.Principal {
	p, _ := c.Get(principalKey).(accounts.Principal)
	return p
}

func (s *Server) actor(c echo.Context) db.Actor {
	return principal(c).Actor(c.RealIP(), c.Response().Header().Get(echo.HeaderXRequestID))
}

// inScope runs fn in a transaction scoped to the caller's area (see db.InScope).
func (s *Server) inScope(c echo.Context, fn func(tx pgx.Tx) error) error {
	return db.InScope(c.Request().Context(), s.Pool, s.actor(c), fn)
}

// readInScope is inScope, read-only.
func (s *Server) readInScope(c echo.Context, fn func(tx pgx.Tx) error) error {
	return db.ReadInScope(c.Request().Context(), s.Pool, s.actor(c), fn)
}

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

type loginResponse struct {
	Token     string        `json:"token"`
	ExpiresAt string        `json:"expiresAt"`
	User      accounts.User `json:"user"`
}

// login exchanges a username and password for a bearer token.
func (s *Server) login(c echo.Context) error {
	var req loginRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	token, exp, u, err := s.Accounts.Login(c.Request().Context(), s.Pool, req.Username, req.Password,
		c.RealIP(), c.Request().UserAgent())
	if th, ok := err.(accounts.ErrThrottled); ok {
		c.Response().Header().Set("Retry-After", itoa(int64(th.RetryAfter.Seconds())))
		return apperr.ErrTooManyRequests.Wrap(err)
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, loginResponse{Token: token, ExpiresAt: exp.UTC().Format(timeFormat), User: u})
}

// logout revokes the caller's token.
func (s *Server) logout(c echo.Context) error {
	if err := s.Accounts.Logout(c.Request().Context(), s.Pool, principal(c).TokenHash); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

type meResponse struct {
	accounts.User
	Scope []scopeRegion `json:"scope"`
}

type scopeRegion struct {
	ID    int64  `json:"id"`
	Code  string `json:"code"`
	Name  string `json:"name"`
	Level string `json:"level"`
}

// me shows the caller: role, scope (the regions they act in) and cell assignments.
func (s *Server) me(c echo.Context) error {
	p := principal(c)
	var out meResponse
	err := s.readInScope(c, func(tx pgx.Tx) error {
		u, err := s.Accounts.Get(c.Request().Context(), tx, p.UserID)
		if err != nil {
			return err
		}
		out.User = u
		out.Scope = []scopeRegion{}
		const q = `SELECT id, code, name, level FROM regions
			WHERE ($1 AND parent_id IS NULL) OR path::text = ANY($2) ORDER BY path`
		rows, err := tx.Query(c.Request().Context(), q, p.Role == accounts.CityAdmin, p.Scope)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r scopeRegion
			if err := rows.Scan(&r.ID, &r.Code, &r.Name, &r.Level); err != nil {
				return err
			}
			out.Scope = append(out.Scope, r)
		}
		return rows.Err()
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}
