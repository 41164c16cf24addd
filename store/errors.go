package store

import (
	"errors"
	"fmt"
)

// Kind classifies a store error. The HTTP layer (app/errors.go) is the one
// place that turns a Kind into an MLflow error_code and status.
type Kind int

const (
	// KindInvalid: the request is malformed or breaks a rule (INVALID_PARAMETER_VALUE, 400).
	KindInvalid Kind = iota + 1
	// KindNotFound: the addressed resource does not exist (RESOURCE_DOES_NOT_EXIST, 404).
	KindNotFound
	// KindExists: a resource with that identity already exists (RESOURCE_ALREADY_EXISTS, 400).
	KindExists
	// KindPermission: a rule (a promotion gate, say) forbids the change (PERMISSION_DENIED, 403).
	KindPermission
	// KindUnavailable: a dependency is down (TEMPORARILY_UNAVAILABLE, 503).
	KindUnavailable
	// KindNotImplemented: the operation is not supported here (NOT_IMPLEMENTED, 501).
	KindNotImplemented
	// KindBadRequest: a generic client error where MLflow answers BAD_REQUEST (400).
	KindBadRequest
)

// Error is a domain error with a user-facing message.
type Error struct {
	Kind Kind
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// Is makes errors.Is(err, ErrNotFound) match any *Error of the same Kind.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Kind == e.Kind && (t.Msg == "" || t.Msg == e.Msg)
}

// Sentinels for errors.Is; their messages are empty so they match by kind.
var (
	ErrInvalid        = &Error{Kind: KindInvalid}
	ErrNotFound       = &Error{Kind: KindNotFound}
	ErrExists         = &Error{Kind: KindExists}
	ErrPermission     = &Error{Kind: KindPermission}
	ErrUnavailable    = &Error{Kind: KindUnavailable}
	ErrNotImplemented = &Error{Kind: KindNotImplemented}
	// ErrClosed is returned for writes after Close.
	ErrClosed = errors.New("store is closed")
)

// Invalidf returns a KindInvalid error.
func Invalidf(format string, a ...any) error {
	return &Error{Kind: KindInvalid, Msg: fmt.Sprintf(format, a...)}
}

// BadRequestf returns a KindBadRequest error.
func BadRequestf(format string, a ...any) error {
	return &Error{Kind: KindBadRequest, Msg: fmt.Sprintf(format, a...)}
}

// NotFoundf returns a KindNotFound error.
func NotFoundf(format string, a ...any) error {
	return &Error{Kind: KindNotFound, Msg: fmt.Sprintf(format, a...)}
}

// Existsf returns a KindExists error.
func Existsf(format string, a ...any) error {
	return &Error{Kind: KindExists, Msg: fmt.Sprintf(format, a...)}
}

// Permissionf returns a KindPermission error.
func Permissionf(format string, a ...any) error {
	return &Error{Kind: KindPermission, Msg: fmt.Sprintf(format, a...)}
}

// KindOf returns the Kind of err, or 0 when err is not a domain error.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}
