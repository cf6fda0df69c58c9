package api

import (
	"github.com/bangerdev/banger/pkg/errdefs"
)

// ErrorBody is the JSON form of an error.
type ErrorBody struct {
	// Kind is the errdefs category ("not_found", "invalid", ..., "internal").
	Kind    string `json:"kind"`
	Message string `json:"message"`
}

// Error is an error the daemon returned. It unwraps to the errdefs sentinel
// of its kind, so errors.Is(err, errdefs.ErrNotFound) works in the CLI.
type Error struct {
	ErrorBody
}

func (e *Error) Error() string { return e.Message }

// Unwrap returns the sentinel for the error's kind, or nil.
func (e *Error) Unwrap() error { return errdefs.FromKind(e.Kind) }

// NewErrorBody converts a local error to its wire form.
func NewErrorBody(err error) ErrorBody {
	return ErrorBody{Kind: errdefs.Kind(err), Message: err.Error()}
}
