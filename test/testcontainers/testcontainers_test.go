package testcontainers

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
	tc "github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
)

// The environment internal/e2e's TestTestcontainers gives this test:
// DOCKER_HOST is a banger daemon's Docker socket, BANGER_TC_IMAGE a
// busybox image that daemon has. TESTCONTAINERS_RYUK_DISABLED must be
// true: the reaper is an image on Docker Hub, which banger's tests cannot
// reach; the label cleanup it would do is done by hand below.
const envImage = "BANGER_TC_IMAGE"

const serve = "mkdir -p /www && echo hello-testcontainers > /www/index.html && httpd -p 80 -h /www && echo server ready && exec sleep 3600"

func setup(t *testing.T) string {
	t.Helper()
	img := os.Getenv(envImage)
	if img == "" || !strings.HasPrefix(os.Getenv("DOCKER_HOST"), "unix://") {
		t.Skip("run by internal/e2e's TestTestcontainers, which sets DOCKER_HOST to a banger daemon's Docker socket and " + envImage)
	}
	if os.Getenv("TESTCONTAINERS_RYUK_DISABLED") != "true" {
		t.Fatal("TESTCONTAINERS_RYUK_DISABLED=true is needed: the reaper's image is on Docker Hub")
	}
	return img
}

// TestGenericContainer: a container with a log-based wait strategy and an
// exposed port, reached through MappedPort (a host port banger picked),
// then Terminate leaves nothing.
func TestGenericContainer(t *testing.T) {
	img := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	c, err := tc.GenericContainer(ctx, tc.GenericContainerRequest{
		ContainerRequest: tc.ContainerRequest{
			Image:        img,
			Cmd:          []string{"sh", "-c", serve},
			ExposedPorts: []string{"80/tcp"},
			WaitingFor:   wait.ForLog("server ready").WithStartupTimeout(3 * time.Minute),
		},
		Started: true,
	})
	if err != nil {
		t.Fatalf("GenericContainer: %v", err)
	}
	t.Logf("GenericContainer started in %s", time.Since(start).Round(time.Millisecond))
	host, err := c.Host(ctx)
	if err != nil {
		t.Fatal(err)
	}
	port, err := c.MappedPort(ctx, "80/tcp")
	if err != nil {
		t.Fatalf("MappedPort: %v", err)
	}
	if port.Num() < 1024 {
		t.Fatalf("MappedPort = %s; want a picked host port", port)
	}
	if body := get(t, fmt.Sprintf("http://%s:%d/", host, port.Num())); body != "hello-testcontainers\n" {
		t.Errorf("GET through the mapped port %s:%s: %q", host, port.Port(), body)
	}
	id := c.GetContainerID()
	if err := c.Terminate(ctx); err != nil {
		t.Fatalf("Terminate: %v", err)
	}
	cli := dockerClient(t)
	if _, err := cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{}); err == nil || !strings.Contains(err.Error(), "No such container") {
		t.Errorf("inspect after Terminate: %v; want no such container", err)
	}
}

// TestLabelCleanup: what the reaper would do — remove every container
// labelled with the session's id — works through banger: a list filtered
// by org.testcontainers.sessionId finds the session's container and
// a forced remove of each ends it.
func TestLabelCleanup(t *testing.T) {
	img := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := tc.GenericContainer(ctx, tc.GenericContainerRequest{
		ContainerRequest: tc.ContainerRequest{Image: img, Cmd: []string{"sh", "-c", "echo up && exec sleep 3600"}, WaitingFor: wait.ForLog("up")},
		Started:          true,
	})
	if err != nil {
		t.Fatalf("GenericContainer: %v", err)
	}
	cli := dockerClient(t)
	filter := client.Filters{}.Add("label", "org.testcontainers.sessionId="+tc.SessionID())
	list, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: filter})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || list.Items[0].ID != c.GetContainerID() {
		t.Fatalf("containers labelled with session %s: %+v; want only %s", tc.SessionID(), list.Items, c.GetContainerID())
	}
	for _, it := range list.Items {
		if _, err := cli.ContainerRemove(ctx, it.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
			t.Fatalf("rm -f %s: %v", it.ID, err)
		}
	}
	if list, err = cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: filter}); err != nil || len(list.Items) != 0 {
		t.Fatalf("after the label cleanup: %+v, %v; want none", list.Items, err)
	}
}

func dockerClient(t *testing.T) *client.Client {
	t.Helper()
	cli, err := client.New(client.FromEnv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// get answers the body at url, retrying while the guest's server starts.
func get(t *testing.T, url string) string {
	t.Helper()
	hc := http.Client{Timeout: 3 * time.Second}
	var err error
	for range 30 {
		var resp *http.Response
		if resp, err = hc.Get(url); err == nil { //nolint:noctx // bounded by the client's timeout
			body, rerr := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if rerr == nil && resp.StatusCode == http.StatusOK {
				return string(body)
			}
			err = fmt.Errorf("%s: %w", resp.Status, rerr)
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("GET %s: %v", url, err)
	return ""
}
