package daemon_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"
	"testing"

	"github.com/bangerdev/banger/internal/config"
	"github.com/bangerdev/banger/internal/daemon/daemontest"
)

// dockerClient is an HTTP client of a Docker API socket.
func dockerClient(sock string) *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
}

// TestDockerSocket: the daemon serves the Docker Engine API on its own
// socket under its root, mode 0660 and (run as root, which may make the
// group as banger setup does) group banger's, answering /_ping with the
// API version; the socket goes when the daemon stops, and is never made
// with docker_api.enabled = false.
func TestDockerSocket(t *testing.T) {
	gid := -1
	if os.Geteuid() == 0 {
		gid = socketGroup(t)
	}
	td := daemontest.Start(t, func(c *config.Config) {
		if gid >= 0 {
			c.Daemon.SocketGroup = "banger"
		}
	})
	sock := td.Layout.DockerSocket
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatalf("docker socket: %v", err)
	}
	if fi.Mode().Perm() != 0o660 || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("docker socket mode %v, want a 0660 socket", fi.Mode())
	}
	if st := fi.Sys().(*syscall.Stat_t); gid >= 0 && int(st.Gid) != gid {
		t.Errorf("docker socket group %d, want banger's %d", st.Gid, gid)
	}
	for _, path := range []string{"/_ping", "/v1.41/_ping"} {
		resp, err := dockerClient(sock).Get("http://docker" + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(body) != "OK" || resp.Header.Get("API-Version") == "" {
			t.Errorf("GET %s: %d %q, API-Version %q; want 200 OK with the version", path, resp.StatusCode, body, resp.Header.Get("API-Version"))
		}
	}
	td.Stop(t)
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("the docker socket outlived its daemon: %v", err)
	}

	off := daemontest.Start(t, func(c *config.Config) { c.DockerAPI.Enabled = false })
	if _, err := os.Stat(off.Layout.DockerSocket); !os.IsNotExist(err) {
		t.Errorf("docker_api.enabled = false, yet %s exists (%v)", off.Layout.DockerSocket, err)
	}
}
