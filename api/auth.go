package api

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"

	"github.com/sieve-city/sieve/internal/accounts"
	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/db"
)

const principalKey = "sieve.principal"

// routeOption is a setting given on a route's line in the route table.
type routeOption func(s *Server, key string)

// takesFiles gives a route that takes files (imports, photos) the upload limit instead of the
// JSON body limit.
func takesFiles(s *Server, key string) { s.limits[key] = s.UploadLimit }

// route registers a handler with the permission it needs and its options. Every /api/v1 route
// goes through here, so none can be added without an access rule (TestAccessMatrix checks this).
func (s *Server) route(method, path string, perm accounts.Permission, h echo.HandlerFunc, opts ...routeOption) {
	key := method + " " + path
	s.rules[key] = perm
	for _, o := range opts {
		o(s, key)
	}
	var mw []echo.MiddlewareFunc
	if perm != accounts.PermPublic {
		mw = append(mw, s.authenticate, require(perm))
	}
	s.echo.Add(method, path, h, mw...)
}

// authenticate resolves the bearer token into the request's Principal, or answers 401.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		token, ok := bearerToken(c.Request().Header.Get(echo.HeaderAuthorization))
		if !ok {
			c.Response().Header().Set("WWW-Authenticate", `Bearer realm="sieve"`)
			return apperr.ErrUnauthenticated
		}
		p, err := s.Accounts.Authenticate(c.Request().Context(), s.Pool, token)
		if err != nil {
			c.Response().Header().Set("WWW-Authenticate", `Bearer realm="sieve", error="invalid_token"`)
			return err
		}
		c.Set(principalKey, p)
		return next(c)
	}
}

// bearerToken reads the token of an Authorization header. The scheme name is case-insensitive
// (RFC 9110 section 11.1: "Bearer", "bearer" and "BEARER" are the same).
func bearerToken(h string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(h), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return token, true
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

// scoped is a store call in the caller's transaction.
type scoped[T any] func(ctx context.Context, tx pgx.Tx) (T, error)

// read runs a store call in a read-only transaction scoped to the caller's area (row-level
// security shows only what the caller may see) and returns its result.
func read[T any](s *Server, c echo.Context, fn scoped[T]) (T, error) {
	return inTx(s, c, db.ReadInScope, fn)
}

// write runs a store call in a transaction scoped to the caller's area and returns its result.
func write[T any](s *Server, c echo.Context, fn scoped[T]) (T, error) {
	return inTx(s, c, db.InScope, fn)
}

func inTx[T any](s *Server, c echo.Context, run func(context.Context, *pgxpool.Pool, db.Actor, func(pgx.Tx) error) error, fn scoped[T]) (T, error) {
	var out T
	ctx := c.Request().Context()
	err := run(ctx, s.Pool, s.actor(c), func(tx pgx.Tx) error {
		var err error
		out, err = fn(ctx, tx)
		return err
	})
	return out, err
}

// found looks up the object a request acts on; out of scope is ErrNotFound.
type found func(ctx context.Context, tx pgx.Tx) error

// writeFound changes an object named by the path: in one scoped transaction it looks the object
// up, then reads the JSON body, then calls fn with it. An object out of scope is 404 whatever
// was sent (the body is not even read).
func writeFound[B, T any](s *Server, c echo.Context, lookup found, fn func(ctx context.Context, tx pgx.Tx, body B) (T, error)) (T, error) {
	return write(s, c, func(ctx context.Context, tx pgx.Tx) (T, error) {
		var zero T
		body, err := bindFound[B](ctx, c, tx, lookup)
		if err != nil {
			return zero, err
		}
		return fn(ctx, tx, body)
	})
}

// readFound looks the object named by the path up in a read-only scoped transaction, then reads
// the JSON body, for services that open their own transactions (as writeFound does in one).
func readFound[B any](s *Server, c echo.Context, lookup found) (B, error) {
	return read(s, c, func(ctx context.Context, tx pgx.Tx) (B, error) { return bindFound[B](ctx, c, tx, lookup) })
}

func bindFound[B any](ctx context.Context, c echo.Context, tx pgx.Tx, lookup found) (B, error) {
	var body B
	if err := lookup(ctx, tx); err != nil {
		return body, err
	}
	return body, bind(c, &body)
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
	if err != nil {
		return loginError(c, err)
	}
	return c.JSON(http.StatusOK, loginResponse{Token: token, ExpiresAt: exp.UTC().Format(timeFormat), User: u})
}

// loginError adds Retry-After to the refusals of a password check: throttled (429, the wait
// the throttle names) and busy (503, a second: the hasher's queue drains in well under that).
func loginError(c echo.Context, err error) error {
	if th, ok := err.(accounts.ErrThrottled); ok {
		retryAfter(c, th)
		return apperr.ErrTooManyRequests.Wrap(err)
	}
	if errors.Is(err, accounts.ErrBusy) {
		c.Response().Header().Set("Retry-After", "1")
	}
	return err
}

type passwordChange struct {
	CurrentPassword string `json:"currentPassword"`
	NewPassword     string `json:"newPassword"`
}

// changePassword sets the caller's own password, given the current one; the caller's other
// sessions end, this one stays.
func (s *Server) changePassword(c echo.Context) error {
	var req passwordChange
	if err := bind(c, &req); err != nil {
		return err
	}
	err := s.Accounts.ChangePassword(c.Request().Context(), s.Pool, principal(c), req.CurrentPassword, req.NewPassword, c.RealIP())
	s.Accounts.Forget()
	if err != nil {
		return loginError(c, err)
	}
	return c.NoContent(http.StatusNoContent)
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
	Scope []accounts.ScopeRegion `json:"scope"`
}

// me shows the caller: role, scope (the regions they act in) and cell assignments.
func (s *Server) me(c echo.Context) error {
	p := principal(c)
	out, err := read(s, c, func(ctx context.Context, tx pgx.Tx) (meResponse, error) {
		u, err := s.Accounts.Get(ctx, tx, p.UserID)
		if err != nil {
			return meResponse{}, err
		}
		scope, err := s.Accounts.ScopeRegions(ctx, tx, p)
		return meResponse{User: u, Scope: scope}, err
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}
