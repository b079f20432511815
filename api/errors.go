package api

import (
	"errors"
	"net/http"
	"os"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/db"
)

// errorBody is the JSON shape of every error: {"error":{"code","message"}}.
type errorBody struct {
	Error errorFields `json:"error"`
}

type errorFields struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Details any    `json:"details,omitempty"`
}

// handleError is the one place where errors become responses. Domain errors (*apperr.Error)
// keep their status, code and public message; Echo's own errors (unknown route, body too
// large) are mapped to the same shape; everything else is a 500 that reveals nothing. The cause
// is logged with the request id.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	ae := toAppError(err)
	reqID := c.Response().Header().Get(echo.HeaderXRequestID)
	switch {
	case clientGone(c, err):
		// The client hung up (observe logs the request with status 499); not our failure.
		s.Log.Info("request cancelled by the client", "request_id", reqID, "method", c.Request().Method,
			"path", c.Request().URL.Path, "err", err)
	case ae.Status == http.StatusServiceUnavailable:
		// Shedding load or a backing service down: expected under stress, and said once per
		// request (observe logs the request at warn too).
		s.Log.Warn("request refused: unavailable", "request_id", reqID, "method", c.Request().Method,
			"path", c.Request().URL.Path, "code", ae.Code, "err", err)
	case ae.Status >= 500:
		s.Log.Error("request failed", "request_id", reqID, "method", c.Request().Method,
			"path", c.Request().URL.Path, "status", ae.Status, "code", ae.Code, "err", err)
	default:
		s.Log.Debug("request refused", "request_id", reqID, "status", ae.Status, "code", ae.Code, "err", err)
	}
	msg := ae.MessageZH
	if prefersEnglish(c.Request().Header.Get("Accept-Language")) || msg == "" {
		msg = ae.Message
	}
	if ae.Status == http.StatusTooManyRequests && c.Response().Header().Get("Retry-After") == "" {
		c.Response().Header().Set("Retry-After", "60")
	}
	if ae.Status == http.StatusServiceUnavailable && c.Response().Header().Get("Retry-After") == "" {
		c.Response().Header().Set("Retry-After", retryAfterUnavailable)
	}
	if ae.Status == http.StatusRequestTimeout {
		c.Response().Header().Set(echo.HeaderConnection, "close")
	}
	body := errorBody{Error: errorFields{Code: ae.Code, Message: msg, Details: ae.Details}}
	if c.Request().Method == http.MethodHead {
		err = c.NoContent(ae.Status)
	} else {
		err = c.JSON(ae.Status, body)
	}
	if err != nil {
		s.Log.Error("write error response", "request_id", reqID, "err", err)
	}
}

// retryAfterUnavailable is the Retry-After (seconds) of a 503 that does not set its own: a
// database or file store that is down is usually back within seconds (a restart, a failover).
const retryAfterUnavailable = "5"

// toAppError classifies any error into a public *apperr.Error.
func toAppError(err error) *apperr.Error {
	// A body read that passed its deadline (idleBody), whatever the handler made of it.
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return errRequestTimeout.Wrap(err)
	}
	// A body that held bad text (textBody), whatever the handler's reading made of it.
	if errors.Is(err, errBadText) {
		return errBadText.Wrap(err)
	}
	// Database errors that did not pass through a store's mapping (a database that is down is
	// 503 database_unavailable wherever it shows).
	err = db.MapError(err)
	if ae, ok := apperr.As(err); ok {
		return ae
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return apperr.ErrTooLarge.Wrap(err)
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		switch he.Code {
		case http.StatusNotFound:
			return apperr.ErrRouteNotFound.Wrap(err)
		case http.StatusMethodNotAllowed:
			return apperr.ErrMethodNotAllowed.Wrap(err)
		case http.StatusRequestEntityTooLarge:
			return apperr.ErrTooLarge.Wrap(err)
		case http.StatusUnsupportedMediaType:
			return apperr.ErrUnsupportedMedia.Wrap(err)
		case http.StatusUnauthorized:
			return apperr.ErrUnauthenticated.Wrap(err)
		case http.StatusForbidden:
			return apperr.ErrForbidden.Wrap(err)
		case http.StatusTooManyRequests:
			return apperr.ErrTooManyRequests.Wrap(err)
		case http.StatusServiceUnavailable:
			return apperr.ErrUnavailable.Wrap(err)
		}
		if he.Code >= 400 && he.Code < 500 {
			return apperr.ErrBadRequest.Wrap(err)
		}
	}
	return apperr.ErrInternal.Wrap(err)
}

// prefersEnglish reports whether an Accept-Language header ranks English above Chinese.
// Coordinators and workers read Chinese, so Chinese is the default.
func prefersEnglish(h string) bool {
	for _, part := range strings.Split(h, ",") {
		tag := strings.ToLower(strings.TrimSpace(strings.SplitN(part, ";", 2)[0]))
		switch {
		case strings.HasPrefix(tag, "zh"):
			return false
		case strings.HasPrefix(tag, "en"):
			return true
		}
	}
	return false
}
