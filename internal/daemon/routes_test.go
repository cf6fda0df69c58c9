package daemon_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/bangerdev/banger/internal/config"
	"github.com/bangerdev/banger/internal/daemon"
	"github.com/bangerdev/banger/internal/paths"
	"github.com/bangerdev/banger/pkg/api"
)

// TestEveryRouteIsServed: the daemon registers a handler for every
// endpoint of the API table. The mux is asked which pattern a request for
// each route would reach; nothing is served, so no work starts.
func TestEveryRouteIsServed(t *testing.T) {
	cfg := config.Default()
	cfg.Daemon.SocketGroup = ""
	cfg.QEMU.Accel = "tcg"
	d, err := daemon.New(daemon.Options{Layout: paths.Rooted(t.TempDir()), Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	rt, ok := d.Handler().(*api.Router)
	if !ok {
		t.Fatalf("Handler() is a %T; this test asks an *api.Router's mux what it routes", d.Handler())
	}
	mux := rt.Mux
	for _, r := range api.Routes() {
		path, err := r.Path(slices.Repeat([]string{"x"}, len(r.Params()))...)
		if err != nil {
			t.Fatal(err)
		}
		req, err := http.NewRequest(r.Method, "http://banger"+path, nil) //nolint:noctx // never sent
		if err != nil {
			t.Fatal(err)
		}
		if _, pattern := mux.Handler(req); pattern != r.MuxPattern() {
			t.Errorf("%s: the daemon routes %s %s to %q", r, r.Method, path, pattern)
		}
	}
}
