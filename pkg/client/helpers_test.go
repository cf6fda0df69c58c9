package client

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/testutil"
	"github.com/bangerdev/banger/pkg/api"
)

// serve runs h on a unix socket of the test's own and returns a Client
// for it.
func serve(t *testing.T, h http.Handler) *Client {
	t.Helper()
	c, err := New(testutil.ServeUnix(t, h))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// versionRouter is a Router whose GetVersion answers v (counting the
// calls in *asked) and whose GetInfo answers.
func versionRouter(v api.VersionInfo, asked *counter) *api.Router {
	rt := api.NewRouter(nil)
	api.Handle(rt, api.GetVersion, func(*http.Request, api.None) (api.VersionInfo, error) {
		asked.add()
		return v, nil
	})
	api.Handle(rt, api.GetInfo, func(*http.Request, api.None) (api.Info, error) {
		return api.Info{Version: v.Version}, nil
	})
	return rt
}

// counter counts calls from the server's goroutines.
type counter struct {
	mu sync.Mutex
	n  int
}

func (c *counter) add() {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
}

func (c *counter) get() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}
