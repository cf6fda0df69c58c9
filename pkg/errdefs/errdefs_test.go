package errdefs

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
)

func TestKindRoundTrip(t *testing.T) {
	tests := []struct {
		err    error
		kind   string
		status int
	}{
		{ErrNotFound, "not_found", http.StatusNotFound},
		{ErrExists, "exists", http.StatusConflict},
		{ErrInvalid, "invalid", http.StatusBadRequest},
		{ErrConflict, "conflict", http.StatusConflict},
		{ErrUnsupported, "unsupported", http.StatusNotImplemented},
		{ErrUnavailable, "unavailable", http.StatusServiceUnavailable},
		{ErrPermission, "permission", http.StatusForbidden},
		{errors.New("boom"), "internal", http.StatusInternalServerError},
	}
	for _, tt := range tests {
		wrapped := fmt.Errorf("image %q: %w", "x", tt.err)
		if got := Kind(wrapped); got != tt.kind {
			t.Errorf("Kind(%v) = %q, want %q", wrapped, got, tt.kind)
		}
		if got := HTTPStatus(wrapped); got != tt.status {
			t.Errorf("HTTPStatus(%v) = %d, want %d", wrapped, got, tt.status)
		}
		back := FromKind(tt.kind)
		if tt.kind == "internal" {
			if back != nil {
				t.Errorf("FromKind(internal) = %v, want nil", back)
			}
			continue
		}
		if !errors.Is(back, tt.err) {
			t.Errorf("FromKind(%q) = %v, want %v", tt.kind, back, tt.err)
		}
	}
}

// TestFromHTTPStatus: an error status without banger's body maps back to
// the sentinel HTTPStatus gave it (409 is a conflict); other statuses to
// none.
func TestFromHTTPStatus(t *testing.T) {
	tests := []struct {
		status int
		want   error
	}{
		{http.StatusNotFound, ErrNotFound},
		{http.StatusConflict, ErrConflict},
		{http.StatusBadRequest, ErrInvalid},
		{http.StatusNotImplemented, ErrUnsupported},
		{http.StatusServiceUnavailable, ErrUnavailable},
		{http.StatusForbidden, ErrPermission},
		{http.StatusInternalServerError, nil},
		{http.StatusTeapot, nil},
	}
	for _, tt := range tests {
		if got := FromHTTPStatus(tt.status); got != tt.want { //nolint:errorlint // sentinels compared as values
			t.Errorf("FromHTTPStatus(%d) = %v, want %v", tt.status, got, tt.want)
		}
		if tt.want != nil && HTTPStatus(tt.want) != tt.status {
			t.Errorf("HTTPStatus(FromHTTPStatus(%d)) = %d", tt.status, HTTPStatus(tt.want))
		}
	}
}
