package testutil

import (
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// ServeUnix serves h on a unix socket of the test's own (a fake daemon)
// until the test ends, and returns the socket's host address,
// "unix:///path". The directory is short: t.TempDir's path can pass the
// 107-byte limit of a socket path.
func ServeUnix(t testing.TB, h http.Handler) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "bgs") //nolint:usetesting // see above
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	sock := filepath.Join(dir, "api.sock")
	var lc net.ListenConfig
	l, err := lc.Listen(t.Context(), "unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "unix://" + sock
}
