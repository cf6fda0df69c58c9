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
