package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// TestStreamHandlerMayIgnoreItsUpload: an upload handler that fails before
// reading its request body (a bad query) must answer its error, and the
// connection must stay usable, though the server runs full duplex.
func TestStreamHandlerMayIgnoreItsUpload(t *testing.T) {
	rt := NewRouter(nil)
	HandleStream(rt, ImportImage, func(r *http.Request, q ImageImportQuery, _ *EventWriter) (Image, error) {
		if q.Name == "" {
			return Image{}, errors.Join(errdefs.ErrInvalid, errors.New("bad query"))
		}
		n, err := io.Copy(io.Discard, r.Body)
		return Image{Name: q.Name, SizeBytes: n}, err
	})
	c := serve(t, rt)
	for i := range 20 {
		_, err := Upload(context.Background(), c, ImportImage, ImageImportQuery{}, strings.NewReader(strings.Repeat("x", 100<<10)), Watch{})
		if !errors.Is(err, errdefs.ErrInvalid) {
			t.Fatalf("round %d: %v", i, err)
		}
		img, err := Upload(context.Background(), c, ImportImage, ImageImportQuery{Name: "ok"}, strings.NewReader(strings.Repeat("y", 3<<20)), Watch{})
		if err != nil || img.SizeBytes != 3<<20 {
			t.Fatalf("round %d: read %d bytes of the upload: %v", i, img.SizeBytes, err)
		}
	}
}
