package app

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	berrors "go.etcd.io/bbolt/errors"

	"mlbox/store"
	"mlbox/store/artifact"
)

// apiError is an MLflow error response: {"error_code": ..., "message": ...}.
type apiError struct {
	Status int
	Code   string
	Msg    string
}

func (e *apiError) Error() string { return e.Code + ": " + e.Msg }

func invalidParam(msg string) error {
	return &apiError{http.StatusBadRequest, "INVALID_PARAMETER_VALUE", msg}
}

func missingParam(name string) error {
	return invalidParam("Missing value for required parameter '" + name + "'. See the API docs for more information about request parameters.")
}

// bboltBackstop is the message of a bbolt key or value error that no
// length check caught (the bad-input test looks for it).
const bboltBackstop = "Invalid value: a name or id in the request is empty or too long to be stored"

// toAPIError is the one place where domain errors become MLflow error codes
// and HTTP statuses. Deterministic failures are always 4xx: the MLflow
// client retries 5xx for minutes.
func toAPIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return &apiError{http.StatusRequestEntityTooLarge, "INVALID_PARAMETER_VALUE", "Request body too large: the limit is " + strconv.FormatInt(mbe.Limit, 10) + " bytes (http.max_request_bytes)"}
	case errors.Is(err, context.Canceled):
		return &apiError{499, "CANCELLED", "request cancelled"}
	case errors.Is(err, context.DeadlineExceeded):
		return &apiError{http.StatusGatewayTimeout, "DEADLINE_EXCEEDED", "request deadline exceeded"}
	case errors.Is(err, artifact.ErrInvalidPath):
		return &apiError{http.StatusBadRequest, "INVALID_PARAMETER_VALUE", err.Error()}
	case errors.Is(err, artifact.ErrNotExist):
		return &apiError{http.StatusNotFound, "RESOURCE_DOES_NOT_EXIST", err.Error()}
	case errors.Is(err, artifact.ErrUnavailable):
		return &apiError{http.StatusServiceUnavailable, "TEMPORARILY_UNAVAILABLE", err.Error()}
	case errors.Is(err, artifact.ErrNotSupported):
		return &apiError{http.StatusNotImplemented, "NOT_IMPLEMENTED", err.Error()}
	case errors.Is(err, store.ErrClosed):
		return &apiError{http.StatusServiceUnavailable, "TEMPORARILY_UNAVAILABLE", "server is shutting down"}
	case errors.Is(err, berrors.ErrKeyTooLarge), errors.Is(err, berrors.ErrValueTooLarge),
		errors.Is(err, berrors.ErrKeyRequired), errors.Is(err, berrors.ErrBucketNameRequired):
		// Requests are length-checked before they reach bbolt; this is the
		// backstop for one that was missed. The transaction was rolled back.
		return &apiError{http.StatusBadRequest, "INVALID_PARAMETER_VALUE", bboltBackstop + " (" + err.Error() + ")"}
	}
	switch store.KindOf(err) {
	case store.KindInvalid:
		return &apiError{http.StatusBadRequest, "INVALID_PARAMETER_VALUE", err.Error()}
	case store.KindNotFound:
		return &apiError{http.StatusNotFound, "RESOURCE_DOES_NOT_EXIST", err.Error()}
	case store.KindExists:
		return &apiError{http.StatusBadRequest, "RESOURCE_ALREADY_EXISTS", err.Error()}
	case store.KindPermission:
		return &apiError{http.StatusForbidden, "PERMISSION_DENIED", err.Error()}
	case store.KindUnavailable:
		return &apiError{http.StatusServiceUnavailable, "TEMPORARILY_UNAVAILABLE", err.Error()}
	case store.KindBadRequest:
		return &apiError{http.StatusBadRequest, "BAD_REQUEST", err.Error()}
	case store.KindNotImplemented:
		return &apiError{http.StatusNotImplemented, "NOT_IMPLEMENTED", err.Error()}
	case store.KindResourceExhausted:
		// 507, not MLflow's 429: the client retries 429 for minutes.
		return &apiError{http.StatusInsufficientStorage, "RESOURCE_EXHAUSTED", err.Error()}
	}
	return &apiError{http.StatusInternalServerError, "INTERNAL_ERROR", "internal error"}
}
