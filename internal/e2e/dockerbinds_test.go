package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/testutil"
)

// dockerAsMember lets uid 65534 reach the fixture's Docker socket as a
// member of its group would, as asMember does for banger's socket (both
// restored at the test's end); the docker client is copied where that
// uid may execute it, with a config directory it owns. It returns how to
// run the real client as that uid, so the daemon sees 65534 in
// SO_PEERCRED.
func dockerAsMember(t *testing.T, f *fixture) func(args ...string) (string, string, int) {
	t.Helper()
	shareSocket(t, f, f.layout.DockerSocket)
	bin := testutil.SearchableTempDir(t)
	exe := copyExecutable(t, testutil.DockerCLI(t), bin, "docker")
	config := filepath.Join(bin, "config")
	if err := os.Mkdir(config, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(config, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	return func(args ...string) (string, string, int) {
		return runAs(t, nobody, []string{"HOME=" + bin, "PATH=/usr/bin:/bin", "DOCKER_HOST=unix://" + f.layout.DockerSocket, "DOCKER_CONFIG=" + config}, exe, args...)
	}
}

// shareSocket gives socket's group to uid 65534 and makes the state
// root searchable, as a member of the socket's group would reach it;
// both are restored at the test's end.
func shareSocket(t *testing.T, f *fixture, socket string) {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(socket, &st); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(socket, -1, nobody); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chown(socket, -1, int(st.Gid)) })
	if err := os.Chmod(f.root, 0o711); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(f.root, 0o700) })
}

// copyExecutable copies the program at src into dir as name, where any
// uid may execute it; it returns its path.
func copyExecutable(t *testing.T, src, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, name)
	if err := os.WriteFile(exe, b, 0o755); err != nil { //nolint:gosec // a test's program, run by uid 65534
		t.Fatal(err)
	}
	return exe
}

// TestDockerHostBinds: `docker run -v HOSTDIR:/x` reads a host file and
// its write lands on the host; `:ro` refuses the write; a non-root member
// of the socket's group (the real client as uid 65534) is refused /etc,
// told which path and uid, and leaves nothing, while its own directory is
// shared; `-p HOSTPORT:80` with a port the test picked answers on
// 127.0.0.1.
func TestDockerHostBinds(t *testing.T) {
	f := env(t)
	d := f.dockerCLI(t)
	img := dockerImage(t, f)

	t.Run("read-write bind", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "in"), []byte("from-host\n"), 0o644); err != nil { //nolint:gosec // a test file the guest reads
			t.Fatal(err)
		}
		out := d.must(t, f, "run", "--rm", "-v", dir+":/x", img, "sh", "-c", "cat /x/in; echo out > /x/out")
		if out != "from-host\n" {
			t.Errorf("the guest read %q of the host file; want from-host", out)
		}
		if b, err := os.ReadFile(filepath.Join(dir, "out")); err != nil || string(b) != "out\n" {
			t.Errorf("the guest's write on the host: %q, %v; want out", b, err)
		}
	})

	t.Run("read-only bind", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "in"), []byte("ro\n"), 0o644); err != nil { //nolint:gosec // a test file the guest reads
			t.Fatal(err)
		}
		out, errOut, code := d.run(t, nil, "run", "--rm", "-v", dir+":/x:ro", img, "sh", "-c", "cat /x/in; echo no > /x/out")
		if out != "ro\n" || code == 0 || !strings.Contains(strings.ToLower(errOut), "read-only") {
			t.Errorf(":ro: stdout %q stderr %q exit %d; want the read, then a refused write", out, errOut, code)
		}
		if _, err := os.Stat(filepath.Join(dir, "out")); !os.IsNotExist(err) {
			t.Errorf("a write through a :ro bind reached the host: %v", err)
		}
	})

	t.Run("non-root member", func(t *testing.T) {
		member := dockerAsMember(t, f)
		_, errOut, code := member("run", "--rm", "--label", "dkhostile=1", "-v", "/etc:/x", img, "true")
		if code != 125 || !strings.Contains(errOut, "uid 65534 may not use host path /etc") {
			t.Errorf("-v /etc:/x as uid %d: exit %d, stderr %q; want 125 naming /etc and the uid", nobody, code, errOut)
		}
		if ps := d.must(t, f, "ps", "-aq", "--filter", "label=dkhostile"); ps != "" {
			t.Errorf("a refused bind left containers: %q", ps)
		}
		mine := filepath.Join(f.root, "docker-member")
		if err := os.Mkdir(mine, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.RemoveAll(mine) })
		if err := os.Chown(mine, nobody, nobody); err != nil {
			t.Fatal(err)
		}
		out, errOut, code := member("run", "--rm", "-v", mine+":/data", img, "sh", "-c", "echo from-guest > /data/g && echo done")
		if code != 0 || out != "done\n" {
			t.Fatalf("the member's own directory: exit %d, stdout %q, stderr %q\ndaemon log:\n%s", code, out, errOut, f.logTail())
		}
		if b, err := os.ReadFile(filepath.Join(mine, "g")); err != nil || string(b) != "from-guest\n" {
			t.Errorf("the guest's write in the member's directory: %q, %v", b, err)
		}
	})

	t.Run("published port", func(t *testing.T) {
		port := freeTCPPort(t)
		id := strings.TrimSpace(d.must(t, f, "run", "-d", "-p", fmt.Sprintf("%d:80", port), img,
			"sh", "-c", "mkdir -p /www && echo hello-bind > /www/index.html && exec httpd -f -p 80 -h /www"))
		t.Cleanup(func() { d.run(t, nil, "rm", "-f", id) })
		if body := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", port)); body != "hello-bind\n" {
			t.Errorf("GET 127.0.0.1:%d: %q; want hello-bind", port, body)
		}
		d.must(t, f, "rm", "-f", id)
	})
	f.assertNoOrphans(t)
}

// runAs runs exe with args and only env as uid (and gid) uid, with no
// supplementary groups and empty stdin; it returns stdout, stderr and
// the exit code (-1 when it could not run).
func runAs(t *testing.T, uid uint32, env []string, exe string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Env = env
	cmd.Stdin = io.NopCloser(strings.NewReader(""))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid, Groups: []uint32{}}}
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		code = -1
	}
	return out.String(), errb.String(), code
}
