package e2e

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	rt "github.com/bangerdev/banger/internal/imagepull/registrytest"
	"github.com/bangerdev/banger/internal/testutil"
)

// dockerCLI runs Debian's docker client against the fixture daemon's
// Docker socket, with a config directory of its own.
type dockerCLI struct {
	bin, host, config string
}

func (f *fixture) dockerCLI(t *testing.T) dockerCLI {
	t.Helper()
	return dockerCLI{bin: testutil.DockerCLI(t), host: "unix://" + f.layout.DockerSocket, config: t.TempDir()}
}

// run runs docker with args and stdin; it returns stdout, stderr and the
// exit code.
func (d dockerCLI) run(t *testing.T, stdin io.Reader, args ...string) (string, string, int) {
	t.Helper()
	return runTool(t, stdin, []string{"DOCKER_HOST=" + d.host, "DOCKER_CONFIG=" + d.config}, d.bin, args...)
}

// runTool runs a client of the Docker socket (docker, docker-compose)
// with env added to the test's; it returns stdout, stderr and the exit
// code.
func runTool(t *testing.T, stdin io.Reader, env []string, bin string, args ...string) (string, string, int) {
	t.Helper()
	// Not t.Context(): cleanups run docker after it is canceled.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s %s: %v", filepath.Base(bin), strings.Join(args, " "), err)
	}
	return out.String(), errb.String(), code
}

// must runs docker and fails the test unless it exits 0.
func (d dockerCLI) must(t *testing.T, f *fixture, args ...string) string {
	t.Helper()
	out, errOut, code := d.run(t, nil, args...)
	if code != 0 {
		t.Fatalf("docker %s: exit %d\nstdout: %s\nstderr: %s\ndaemon log tail:\n%s", strings.Join(args, " "), code, out, errOut, f.logTail())
	}
	return out
}

// dockerImage pushes a busybox image with a config (an env, a working
// directory, a command) to a registry of the test's and pulls it with
// banger; it returns its reference.
func dockerImage(t *testing.T, f *fixture) string {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, busyboxLayer(t))
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config = v1.Config{Env: []string{"PATH=/bin:/sbin:/usr/bin", "FROM_IMAGE=yes"}, WorkingDir: "/", Cmd: []string{"sh"}}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	ref, _ := rt.Start(t).Push(t, "dockerapi/busybox:1", img)
	f.must(t, "pull", ref)
	t.Cleanup(func() { f.cli(nil, "rmi", ref) })
	return ref
}

// TestDockerRun drives the Docker socket with the docker CLI: run in the
// foreground with its exit status, the options a process runs with,
// piped stdin, a detached container followed through logs, ps, inspect,
// wait, stop and rm, and the options a VM refuses.
func TestDockerRun(t *testing.T) {
	f := env(t)
	d := f.dockerCLI(t)
	img := dockerImage(t, f)
	if out := d.must(t, f, "version", "--format", "{{.Client.APIVersion}} {{.Server.APIVersion}}"); !strings.HasPrefix(out, "1.41 ") {
		t.Errorf("docker version: %q; want client API 1.41", out)
	}

	t.Run("foreground exit status", func(t *testing.T) {
		out, errOut, code := d.run(t, nil, "run", "--rm", img, "sh", "-c", "echo hi; echo oops >&2; exit 3")
		if out != "hi\n" || errOut != "oops\n" || code != 3 {
			t.Errorf("run --rm: stdout %q stderr %q exit %d; want hi, oops, 3\n%s", out, errOut, code, f.logTail())
		}
		f.assertNoOrphans(t)
	})

	t.Run("process options", func(t *testing.T) {
		out := d.must(t, f, "run", "--rm", "-e", "GREETING=hello", "-w", "/tmp", "-u", "1000:1000", "--entrypoint", "sh",
			img, "-c", `echo "$GREETING $FROM_IMAGE $(pwd) $(id -u):$(id -g)"`)
		if out != "hello yes /tmp 1000:1000\n" {
			t.Errorf("-e/-w/-u/--entrypoint: %q; want %q", out, "hello yes /tmp 1000:1000\n")
		}
	})

	t.Run("piped stdin", func(t *testing.T) {
		out, errOut, code := d.run(t, strings.NewReader("line one\nline two\n"), "run", "--rm", "-i", img, "sh", "-c", "wc -l; cat /dev/null")
		if strings.TrimSpace(out) != "2" || code != 0 {
			t.Errorf("run -i with piped stdin: %q (exit %d, stderr %q); want 2", out, code, errOut)
		}
	})

	t.Run("tty", func(t *testing.T) {
		out, errOut, code := d.run(t, nil, "run", "--rm", "-t", img, "sh", "-c", "tty; exit 4")
		if !strings.HasPrefix(out, "/dev/pts/") || !strings.HasSuffix(out, "\r\n") || code != 4 {
			t.Errorf("run -t: %q (stderr %q) exit %d; want a terminal's name, its CRLF, exit 4", out, errOut, code)
		}
	})

	t.Run("detached", func(t *testing.T) {
		id := strings.TrimSpace(d.must(t, f, "run", "-d", "--name", "dk-detached", "--label", "suite=docker", img,
			"sh", "-c", "echo started; sleep 2; echo finished >&2; exit 7"))
		if len(id) != 64 {
			t.Fatalf("run -d printed %q; want a 64-digit id", id)
		}
		t.Cleanup(func() { d.run(t, nil, "rm", "-f", id) })
		if ps := d.must(t, f, "ps", "--filter", "label=suite=docker", "--format", "{{.ID}} {{.Names}} {{.State}}"); ps != id[:12]+" dk-detached running\n" {
			t.Errorf("ps --format: %q; want %q", ps, id[:12]+" dk-detached running\n")
		}
		out, errOut, code := d.run(t, nil, "logs", "-f", "dk-detached")
		if out != "started\n" || errOut != "finished\n" || code != 0 {
			t.Errorf("logs -f: stdout %q stderr %q exit %d", out, errOut, code)
		}
		if w := d.must(t, f, "wait", id[:12]); w != "7\n" {
			t.Errorf("wait: %q; want 7", w)
		}
		if got := d.must(t, f, "inspect", "-f", "{{.State.ExitCode}} {{.State.Status}} {{.Name}}", "dk-detached"); got != "7 exited /dk-detached\n" {
			t.Errorf("inspect -f: %q", got)
		}
		if ps := d.must(t, f, "ps", "-a", "--filter", "name=dk-detached", "--filter", "status=exited", "--format", "{{.Status}}"); !strings.HasPrefix(ps, "Exited (7)") {
			t.Errorf("ps -a --filter status=exited: %q; want Exited (7) ...", ps)
		}
		d.must(t, f, "rm", id)
		if _, errOut, code := d.run(t, nil, "inspect", id); code == 0 || !strings.Contains(errOut, "No such") {
			t.Errorf("inspect after rm: exit %d %q", code, errOut)
		}
	})

	t.Run("stop and rm -f", func(t *testing.T) {
		id := strings.TrimSpace(d.must(t, f, "run", "-d", img, "sh", "-c", "trap 'exit 5' TERM; echo up; while :; do sleep 1; done"))
		t.Cleanup(func() { d.run(t, nil, "rm", "-f", id) })
		deadline := time.Now().Add(time.Minute)
		for !strings.Contains(d.must(t, f, "logs", id), "up") && time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
		}
		if ip := d.must(t, f, "inspect", "-f", "{{.NetworkSettings.IPAddress}}", id); !strings.HasPrefix(ip, "10.") {
			t.Errorf("inspect -f {{.NetworkSettings.IPAddress}} of a running container: %q; want its address", ip)
		}
		if _, errOut, code := d.run(t, nil, "rm", id); code == 0 || !strings.Contains(errOut, "cannot remove a running container") {
			t.Errorf("rm of a running container: exit %d %q; want refused", code, errOut)
		}
		d.must(t, f, "stop", "-t", "10", id)
		if got := d.must(t, f, "inspect", "-f", "{{.State.ExitCode}} {{.State.Running}}", id); got != "5 false\n" {
			t.Errorf("after stop: %q; want the TERM trap's 5, not running", got)
		}
		d.must(t, f, "start", id)
		d.must(t, f, "rm", "-f", id)
		if ps := d.must(t, f, "ps", "-aq", "--filter", "id="+id); ps != "" {
			t.Errorf("rm -f left %q", ps)
		}
		f.assertNoOrphans(t)
	})

	t.Run("refused options", func(t *testing.T) {
		for _, tc := range []struct{ flag, want string }{
			{"--privileged", "--privileged (HostConfig.Privileged) is not supported by banger"},
			{"--network=host", "--network host (HostConfig.NetworkMode) is not supported by banger"},
		} {
			_, errOut, code := d.run(t, nil, "run", "--rm", "--label", "dkrefused=1", tc.flag, img, "true")
			if code != 125 || !strings.Contains(errOut, tc.want) {
				t.Errorf("run %s: exit %d %q; want 125 with %q", tc.flag, code, errOut, tc.want)
			}
		}
		if ps := d.must(t, f, "ps", "-aq", "--filter", "label=dkrefused"); ps != "" {
			t.Errorf("a refused run left containers: %q", ps)
		}
	})
}

// TestDockerRunCost measures `docker run --rm IMG true` through the
// Docker socket against `banger run --rm IMG -- true`, alternated, and
// logs the medians and their ratio; it asserts nothing. It runs only
// with BANGER_DOCKER_BENCH=ROUNDS (a number of rounds).
func TestDockerRunCost(t *testing.T) {
	rounds, _ := strconv.Atoi(os.Getenv("BANGER_DOCKER_BENCH"))
	if rounds < 1 {
		t.Skip("a measurement: set BANGER_DOCKER_BENCH=ROUNDS")
	}
	f := env(t)
	d := f.dockerCLI(t)
	img := dockerImage(t, f)
	// Both CLIs as processes of their own.
	bangerRun := func() {
		if out, err := exec.CommandContext(t.Context(), f.banger, "--host", f.host, "run", "--rm", img, "--", "true").CombinedOutput(); err != nil {
			t.Fatalf("banger run: %v\n%s", err, out)
		}
	}
	// One of each first: the boot snapshot both restore.
	d.must(t, f, "run", "--rm", img, "true")
	bangerRun()
	var viaDocker, viaBanger []time.Duration
	for range rounds {
		start := time.Now()
		d.must(t, f, "run", "--rm", img, "true")
		viaDocker = append(viaDocker, time.Since(start))
		start = time.Now()
		bangerRun()
		viaBanger = append(viaBanger, time.Since(start))
	}
	md, mb := median(viaDocker), median(viaBanger)
	load, _ := os.ReadFile("/proc/loadavg")
	t.Logf("docker run --rm: %v (median of %v); banger run --rm: %v (median of %v); ratio %.2f; load %s",
		md, viaDocker, mb, viaBanger, float64(md)/float64(mb), strings.TrimSpace(string(load)))
}

// median is the middle of a measurement's durations.
func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
