// Package apperr defines the errors that reach API clients: a stable machine code, an HTTP
// status, and a public message in English and Chinese (zh-CN). The cause stays private and goes
// only to the logs.
//
// Domain packages return these (or wrap them with %w); the API layer's single error handler
// turns them into {"error":{"code","message"}}. Anything else becomes a 500 that reveals nothing.
package apperr

import (
	"errors"
	"fmt"
	"net/http"
)

// Error is an error with a public face.
type Error struct {
	Status    int    // HTTP status
	Code      string // stable machine code, e.g. "not_found"
	Message   string // public message, English
	MessageZH string // public message, Chinese
	Details   any    // optional public details, e.g. a per-feature import report
	Err       error  // private cause, for logs
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return e.Code + ": " + e.Message
}

// Unwrap returns the private cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, apperr.ErrNotFound) holds for every not-found error.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Wrap returns a copy of e carrying cause as its private cause.
func (e *Error) Wrap(cause error) *Error {
	c := *e
	c.Err = cause
	return &c
}

// WithDetails returns a copy of e carrying public details.
func (e *Error) WithDetails(d any) *Error {
	c := *e
	c.Details = d
	return &c
}

// New makes an error with a code, a status and both messages.
func New(status int, code, en, zh string) *Error {
	return &Error{Status: status, Code: code, Message: en, MessageZH: zh}
}

// Newf is New with a formatted English message and a fixed Chinese one.
func Newf(status int, code, zh, format string, a ...any) *Error {
	return New(status, code, fmt.Sprintf(format, a...), zh)
}

// The errors used across packages. Codes are part of the API contract: never rename one.
var (
	ErrNotFound         = New(http.StatusNotFound, "not_found", "not found", "资源不存在")
	ErrRouteNotFound    = New(http.StatusNotFound, "route_not_found", "no such route", "接口不存在")
	ErrMethodNotAllowed = New(http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed", "不支持该请求方法")
	ErrBadRequest       = New(http.StatusBadRequest, "bad_request", "malformed request", "请求格式错误")
	ErrInvalid          = New(http.StatusUnprocessableEntity, "invalid", "invalid input", "输入内容不合法")
	ErrTooLarge         = New(http.StatusRequestEntityTooLarge, "payload_too_large", "request body too large", "请求内容过大")
	ErrUnsupportedMedia = New(http.StatusUnsupportedMediaType, "unsupported_media_type", "unsupported content type", "不支持的文件类型")
	ErrUnauthenticated  = New(http.StatusUnauthorized, "unauthenticated", "login required", "请先登录")
	ErrForbidden        = New(http.StatusForbidden, "forbidden", "not allowed for your role", "您的角色无权执行此操作")
	ErrConflict         = New(http.StatusConflict, "conflict", "conflicts with the current state", "与现有数据冲突")
	ErrTooManyRequests  = New(http.StatusTooManyRequests, "too_many_requests", "too many requests, try again later", "请求过于频繁，请稍后再试")
	ErrUnavailable      = New(http.StatusServiceUnavailable, "service_unavailable", "a backing service is unavailable, try again later", "服务暂时不可用，请稍后再试")
	ErrInternal         = New(http.StatusInternalServerError, "internal", "internal error", "服务器内部错误")
)

// Invalidf is a 422 with a specific code and messages, for validation failures.
func Invalidf(code, zh, format string, a ...any) *Error {
	return Newf(http.StatusUnprocessableEntity, code, zh, format, a...)
}

// As returns the *Error in err's chain, if any.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
