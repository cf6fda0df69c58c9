package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/testutil"
	"github.com/bangerdev/banger/pkg/api"
)

// composeCLI runs docker-compose against the fixture daemon's Docker
// socket for one project file.
type composeCLI struct {
	bin, host, file, project string
}

func (f *fixture) compose(t *testing.T, project, yaml string) composeCLI {
	t.Helper()
	file := filepath.Join(t.TempDir(), "docker-compose.yml")
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return composeCLI{bin: testutil.Compose(t), host: "unix://" + f.layout.DockerSocket, file: file, project: project}
}

// run runs docker-compose with args; it returns stdout, stderr and
// the exit code.
func (c composeCLI) run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	return runTool(t, nil, []string{"DOCKER_HOST=" + c.host, "COMPOSE_HTTP_TIMEOUT=300"}, c.bin, append([]string{"-f", c.file, "-p", c.project}, args...)...)
}

func (c composeCLI) must(t *testing.T, f *fixture, args ...string) string {
	t.Helper()
	out, errOut, code := c.run(t, args...)
	if code != 0 {
		t.Fatalf("docker-compose %s: exit %d\nstdout: %s\nstderr: %s\ndaemon log tail:\n%s", strings.Join(args, " "), code, out, errOut, f.logTail())
	}
	return out
}

// composeFile is a two-service project: web serves a file from a named
// volume with busybox httpd; client fetches it by web's service name.
func composeFile(img string) string {
	return `version: "2.4"
services:
  web:
    image: ` + img + `
    command: ["sh", "-c", "echo hello-from-web > /data/index.html && echo web-up && exec httpd -f -p 80 -h /data"]
    volumes:
      - data:/data
  client:
    image: ` + img + `
    depends_on: [web]
    command: ["sh", "-c", "until wget -qO- http://web/; do sleep 1; done; exec sleep 3600"]
volumes:
  data: {}
`
}

// TestCompose drives the Docker socket with docker-compose: up -d of a
// two-service project whose client reaches web by its service name
// over the project's network, ps, logs, exec into web's named volume,
// and down -v leaving no container, network, volume or VM behind.
func TestCompose(t *testing.T) {
	f := env(t)
	d := f.dockerCLI(t)
	img := dockerImage(t, f)
	const project = "bgcompose"
	c := f.compose(t, project, composeFile(img))
	t.Cleanup(func() { c.run(t, "down", "-v", "-t", "1") })

	c.must(t, f, "up", "-d")
	ps := c.must(t, f, "ps")
	for _, svc := range []string{project + "_web_1", project + "_client_1"} {
		if !strings.Contains(ps, svc) || !strings.Contains(ps[strings.Index(ps, svc):], "Up") {
			t.Errorf("compose ps: %q; want %s Up", ps, svc)
		}
	}
	var logs string
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(time.Second) {
		if logs = c.must(t, f, "logs", "--no-color", "client"); strings.Contains(logs, "hello-from-web") {
			break
		}
	}
	if !strings.Contains(logs, "client_1") || !strings.Contains(logs, "hello-from-web") {
		t.Errorf("compose logs client: %q; want client_1's lines with web's page fetched by service name\n%s", logs, f.logTail())
	}
	if out := c.must(t, f, "logs", "--no-color", "web"); !strings.Contains(out, "web-up") {
		t.Errorf("compose logs web: %q; want web-up", out)
	}
	if out := c.must(t, f, "exec", "-T", "web", "cat", "/data/index.html"); out != "hello-from-web\n" {
		t.Errorf("compose exec -T web cat: %q; want the page in the named volume", out)
	}
	if vols := d.must(t, f, "volume", "ls", "-q", "--filter", "label=com.docker.compose.project="+project); vols != project+"_data\n" {
		t.Errorf("docker volume ls of the project: %q; want %s_data", vols, project)
	}

	// What down must take away: the VMs and the project's network.
	vmIDs := strings.Fields(f.must(t, "ps", "-a", "--filter", "label=com.docker.compose.project="+project, "--format", "{{.ID}}"))
	if len(vmIDs) != 2 {
		t.Errorf("banger ps of the project: %v; want two VMs", vmIDs)
	}
	var net api.Network
	if err := json.Unmarshal([]byte(f.must(t, "network", "inspect", project+"_default", "--format", "json")), &net); err != nil {
		t.Fatal(err)
	}

	c.must(t, f, "down", "-v", "-t", "1")
	if out := d.must(t, f, "ps", "-aq", "--filter", "label=com.docker.compose.project="+project); out != "" {
		t.Errorf("containers left after down -v: %q", out)
	}
	if out := d.must(t, f, "volume", "ls", "-q"); strings.Contains(out, project) {
		t.Errorf("volumes left after down -v: %q", out)
	}
	if out := d.must(t, f, "network", "ls", "--format", "{{.Name}}"); strings.Contains(out, project) {
		t.Errorf("networks left after down -v: %q", out)
	}
	for _, id := range vmIDs {
		f.assertNoTrace(t, id)
	}
	f.assertNetworksGone(t, []api.Network{net})
	f.assertNoOrphans(t)
}

// TestComposeCost measures `docker-compose up -d` and `down -v` of the
// two-service project, ROUNDS times, and logs the medians; it asserts
// nothing. It runs only with BANGER_DOCKER_BENCH=ROUNDS, beside
// TestDockerRunCost (make bench-docker-api).
func TestComposeCost(t *testing.T) {
	rounds, _ := strconv.Atoi(os.Getenv("BANGER_DOCKER_BENCH"))
	if rounds < 1 {
		t.Skip("a measurement: set BANGER_DOCKER_BENCH=ROUNDS")
	}
	f := env(t)
	img := dockerImage(t, f)
	c := f.compose(t, "bgcomposecost", composeFile(img))
	t.Cleanup(func() { c.run(t, "down", "-v", "-t", "1") })
	var ups, downs, both []time.Duration
	for range rounds {
		start := time.Now()
		c.must(t, f, "up", "-d")
		up := time.Since(start)
		start = time.Now()
		c.must(t, f, "down", "-v", "-t", "1")
		down := time.Since(start)
		ups, downs, both = append(ups, up), append(downs, down), append(both, up+down)
	}
	load, _ := os.ReadFile("/proc/loadavg")
	t.Logf("compose up -d + down -v (two services, a network, a volume): %v (median of %v); up -d %v, down -v %v; load %s",
		median(both), both, median(ups), median(downs), strings.TrimSpace(string(load)))
}
