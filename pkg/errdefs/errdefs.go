// Package errdefs defines the error categories callers branch on. Every
// package wraps one of these sentinels with its own context
// (fmt.Errorf("image %q: %w", name, errdefs.ErrNotFound)); the API server maps
// them to HTTP status codes and the client maps the codes back, so the CLI
// can branch on a daemon's error exactly as on a local one.
package errdefs

import (
	"errors"
	"net/http"
)

// The categories. Their messages are short because they end a wrapped
// chain: "pull docker.io/x: manifest: not found".
var (
	ErrNotFound    = errors.New("not found")
	ErrExists      = errors.New("already exists")
	ErrInvalid     = errors.New("invalid argument")
	ErrConflict    = errors.New("wrong state")
	ErrUnsupported = errors.New("not supported")
	ErrUnavailable = errors.New("unavailable")
	// ErrPermission: the caller may not do this (a host path they could
	// not reach themselves).
	ErrPermission = errors.New("permission denied")
)

// HTTPStatus maps an error to the status the API answers with.
func HTTPStatus(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrExists), errors.Is(err, ErrConflict):
		return http.StatusConflict
	case errors.Is(err, ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, ErrUnsupported):
		return http.StatusNotImplemented
	case errors.Is(err, ErrUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(err, ErrPermission):
		return http.StatusForbidden
	default:
		return http.StatusInternalServerError
	}
}

// FromHTTPStatus returns the sentinel an error status stands for (the
// inverse of HTTPStatus; 409 is ErrConflict), or nil for other statuses. A
// client uses it for an answer without banger's error body: a 404 from a
// daemon that does not know the path.
func FromHTTPStatus(status int) error {
	switch status {
	case http.StatusNotFound:
		return ErrNotFound
	case http.StatusConflict:
		return ErrConflict
	case http.StatusBadRequest:
		return ErrInvalid
	case http.StatusNotImplemented:
		return ErrUnsupported
	case http.StatusServiceUnavailable:
		return ErrUnavailable
	case http.StatusForbidden:
		return ErrPermission
	}
	return nil
}

// Kind names the category of err for the wire ("not_found", ...), or
// "internal".
func Kind(err error) string {
	for _, c := range categories {
		if errors.Is(err, c.err) {
			return c.kind
		}
	}
	return "internal"
}

// FromKind returns the sentinel for a wire kind, or nil for "internal" and
// unknown kinds.
func FromKind(kind string) error {
	for _, c := range categories {
		if c.kind == kind {
			return c.err
		}
	}
	return nil
}

var categories = []struct {
	kind string
	err  error
}{
	{"not_found", ErrNotFound},
	{"exists", ErrExists},
	{"invalid", ErrInvalid},
	{"conflict", ErrConflict},
	{"unsupported", ErrUnsupported},
	{"unavailable", ErrUnavailable},
	{"permission", ErrPermission},
}
