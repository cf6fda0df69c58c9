package e2e

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// onTerminal runs docker with args on a pseudo-terminal made by
// script(1), types "echo mark-$((N+1))" and waits for its answer (the
// shell in the container is reached), then types keys; it returns once
// the client ended (or fails after a minute) with what it printed and
// its exit code (script's: the client's).
func onTerminal(t *testing.T, d dockerCLI, n int, keys string, args ...string) (string, int) {
	t.Helper()
	in, typed := io.Pipe()
	defer func() { _ = typed.Close() }()
	cmd := exec.CommandContext(t.Context(), "script", "-qec", d.bin+" "+strings.Join(args, " "), "/dev/null")
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+d.host, "DOCKER_CONFIG="+d.config)
	out := &lockedWriter{w: &bytes.Buffer{}}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = in, out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ended := make(chan error, 1)
	go func() { ended <- cmd.Wait() }()
	want := "mark-" + strconv.Itoa(n+1)
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("docker %s: no %s from the shell; printed %q", strings.Join(args, " "), want, out.String())
		}
		_, _ = io.WriteString(typed, "echo mark-$(("+strconv.Itoa(n)+"+1))\r")
		time.Sleep(500 * time.Millisecond)
	}
	_, _ = io.WriteString(typed, keys)
	// script(1) ends only at its input's end, after the client's: the
	// keys go first, and the client (raw mode, detached) reads no more.
	time.Sleep(time.Second)
	_ = typed.Close()
	select {
	case err := <-ended:
		code := 0
		if ee, ok := err.(*exec.ExitError); ok { //nolint:errorlint // script's own exit
			code = ee.ExitCode()
		}
		return out.String(), code
	case <-time.After(time.Minute):
		ps, _ := exec.CommandContext(t.Context(), "ps", "-eo", "pid,ppid,stat,wchan:24,args").Output()
		_ = cmd.Process.Kill()
		t.Fatalf("docker %s: still attached a minute after the detach keys; printed %q\nprocesses:\n%s", strings.Join(args, " "), out.String(), grepLines(string(ps), "docker"))
		return "", 0
	}
}

// TestDockerDetachKeys: on a terminal, `docker attach --detach-keys
// ctrl-x,z` and then `docker attach` with the default ctrl-p ctrl-q reach
// a `run -dit` container's shell and end at the keys, the container
// running on: the second attachment finds the shell the first left (the
// client closing its connection did not close the shell's stdin). Then
// `docker run -it` detaches with ctrl-p ctrl-q and a later attach finds
// its shell.
func TestDockerDetachKeys(t *testing.T) {
	f := env(t)
	d := f.dockerCLI(t)
	img := dockerImage(t, f)
	t.Cleanup(func() { d.run(t, nil, "rm", "-f", "dk-detach", "dk-detach-run") })
	d.must(t, f, "run", "-dit", "--name", "dk-detach", img, "sh")
	for i, step := range []struct {
		keys string
		args []string
	}{
		{"\x18z", []string{"attach", "--detach-keys", "ctrl-x,z", "dk-detach"}},
		{"\x10\x11", []string{"attach", "dk-detach"}},
		{"\x10\x11", []string{"run", "-it", "--name", "dk-detach-run", img, "sh"}},
		{"\x10\x11", []string{"attach", "dk-detach-run"}},
	} {
		out, code := onTerminal(t, d, i+1, step.keys, step.args...)
		t.Logf("docker %s: exit %d, printed %q", step.args[0], code, out)
		name := step.args[len(step.args)-1]
		if step.args[0] == "run" {
			name = "dk-detach-run"
		}
		if got := d.must(t, f, "inspect", "-f", "{{.State.Running}}", name); got != "true\n" {
			t.Fatalf("after docker %s detached: running %q; want true\ndaemon log:\n%s", step.args[0], got, f.logTail())
		}
	}
	d.must(t, f, "rm", "-f", "dk-detach", "dk-detach-run")
	f.assertNoOrphans(t)
}

// grepLines is s's lines that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for l := range strings.Lines(s) {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "")
}
