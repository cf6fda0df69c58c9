package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/errdefs"
)

// TestStreamHandlerMayIgnoreItsUpload: a stream handler that fails before
// reading its request body (a bad query) must answer its error, and the
// connection must stay usable, though the server runs full duplex.
func TestStreamHandlerMayIgnoreItsUpload(t *testing.T) {
	rt := NewRouter(nil)
	rt.Stream("POST /v1/upload", func(r *http.Request, _ *EventWriter) (any, error) {
		if r.URL.Query().Get("ok") == "" {
			return nil, errors.Join(errdefs.ErrInvalid, errors.New("bad query"))
		}
		b := make([]byte, 1<<20)
		n := 0
		for {
			m, err := r.Body.Read(b)
			n += m
			if err != nil {
				break
			}
		}
		return n, nil
	})
	c := serve(t, rt)
	for i := range 20 {
		err := c.Stream(context.Background(), "POST", "/v1/upload", strings.NewReader(strings.Repeat("x", 100<<10)), "application/octet-stream", nil, nil, nil)
		if !errors.Is(err, errdefs.ErrInvalid) {
			t.Fatalf("round %d: %v", i, err)
		}
		var n int
		if err := c.Stream(context.Background(), "POST", "/v1/upload?ok=1", strings.NewReader(strings.Repeat("y", 3<<20)), "application/octet-stream", nil, nil, &n); err != nil || n != 3<<20 {
			t.Fatalf("round %d: read %d bytes of the upload: %v", i, n, err)
		}
	}
}
