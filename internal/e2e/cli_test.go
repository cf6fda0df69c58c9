package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/bangerdev/banger/internal/cli"
	rt "github.com/bangerdev/banger/internal/imagepull/registrytest"
)

// TestExecArgumentsAndExitCodes: what a docker user types at exec works —
// the command's own flags after VM — and the exit status says who failed:
// the command's own code, 128+N for a signal, 126 and 127 decided in the
// guest from execve's errno, 125 for banger; and the shell completes the
// running VM's name.
func TestExecArgumentsAndExitCodes(t *testing.T) {
	f := env(t)
	id := strings.TrimSpace(f.must(t, "run", "-d", "--name", "cli-exec", "-l", "suite=e2e", "busybox", "sleep", "3600"))
	t.Cleanup(func() { f.cli(nil, "rm", "-f", id) })

	out := f.must(t, "exec", "cli-exec", "ls", "-la", "/")
	if !strings.Contains(out, "drwx") || !strings.Contains(out, " bin") || !strings.Contains(out, " ..") {
		t.Errorf("exec VM ls -la / printed no long listing with dot files:\n%s", out)
	}
	if out := f.must(t, "exec", "cli-exec", "--", "echo", "-n", "dashes"); out != "dashes" {
		t.Errorf("exec VM -- echo -n: %q", out)
	}
	f.must(t, "exec", "cli-exec", "sh", "-c", `printf '\001\002garbage' > /tmp/garbage && chmod +x /tmp/garbage`)
	for _, tt := range []struct {
		name string
		args []string
		code int
		says string
	}{
		{"the command's own code", []string{"sh", "-c", "exit 3"}, 3, ""},
		{"killed by SIGKILL", []string{"sh", "-c", "kill -9 $$"}, 137, ""},
		{"not executable (EACCES)", []string{"/etc/passwd"}, cli.ExitCannotInvoke, "not executable"},
		{"not a program (ENOEXEC)", []string{"/tmp/garbage"}, cli.ExitCannotInvoke, "exec format error"},
		{"not found (ENOENT)", []string{"no-such-command"}, cli.ExitNotFound, "not found"},
	} {
		_, errOut, code := f.cli(nil, append([]string{"exec", "cli-exec"}, tt.args...)...)
		if code != tt.code || !strings.Contains(errOut, tt.says) {
			t.Errorf("%s: exit %d, want %d; stderr %q", tt.name, code, tt.code, errOut)
		}
	}
	// --timings: the command's status and output as without it, and one
	// JSON line of the CLI's and the daemon's steps on stderr.
	out, errOut, code := f.cli(nil, "exec", "--timings", "cli-exec", "sh", "-c", "echo timed; exit 4")
	var steps map[string]float64
	if code != 4 || out != "timed\n" || json.Unmarshal([]byte(errOut), &steps) != nil {
		t.Errorf("exec --timings: exit %d, stdout %q, stderr %q: want 4, the output, JSON steps", code, out, errOut)
	}
	for _, k := range []string{"handshake", "open", "start", "command", "total", "daemon_lookup", "daemon_open", "daemon_exit"} {
		if _, ok := steps[k]; !ok {
			t.Errorf("exec --timings has no step %q: %s", k, errOut)
		}
	}
	if _, errOut, code := f.cli(nil, "exec", "no-such-vm", "true"); code != cli.ExitBanger {
		t.Errorf("exec in a VM that does not exist: exit %d, want 125: %s", code, errOut)
	}

	out, _, code = f.cli(nil, "__complete", "exec", "")
	if code != 0 || !strings.Contains(out, "cli-exec\trunning, busybox\n") {
		t.Errorf("completion of exec: exit %d\n%s", code, out)
	}
	if out := f.must(t, "ps", "--filter", "label=suite=e2e", "--format", "{{.Name}} {{.State}}"); out != "cli-exec running\n" {
		t.Errorf("ps --filter label: %q", out)
	}
}

// TestRunExitCodes: banger's own failures exit 125 before any boot; a main
// process that cannot be found exits 127 like a shell's.
func TestRunExitCodes(t *testing.T) {
	f := env(t)
	for _, args := range [][]string{
		{"run", "--rm", "Not A Valid Image!", "true"},
		{"run", "--rm", "127.0.0.1:1/absent:1", "true"},
		{"run", "--rm", "--kernel", "no-such-kernel", "busybox", "true"},
		{"run", "--no-such-flag", "busybox", "true"},
	} {
		if _, errOut, code := f.cli(nil, args...); code != cli.ExitBanger {
			t.Errorf("banger %s: exit %d, want 125\n%s", strings.Join(args, " "), code, errOut)
		}
	}
	_, errOut, code := f.cli(nil, "run", "--rm", "busybox", "no-such-program", "-x")
	if code != cli.ExitNotFound || !strings.Contains(errOut, "no-such-program") {
		t.Errorf("run of a missing program: exit %d, want 127; stderr %q", code, errOut)
	}
	f.assertNoOrphans(t)
}

// TestPullAndRunImageWithoutPlatform pulls what `crane append` makes from
// a registry — a busybox root file system appended to the empty image,
// whose config names no os or architecture — and boots it.
func TestPullAndRunImageWithoutPlatform(t *testing.T) {
	f := env(t)
	img, err := mutate.AppendLayers(empty.Image, busyboxLayer(t))
	if err != nil {
		t.Fatal(err)
	}
	reg := rt.Start(t)
	ref, _ := reg.Push(t, "appended/busybox:1", img)
	_, errOut, code := f.cli(nil, "pull", ref)
	if code != 0 || !strings.Contains(errOut, "names no os/architecture") {
		t.Fatalf("pull: exit %d\n%s", code, errOut)
	}
	t.Cleanup(func() { f.cli(nil, "rmi", ref) })
	if out := f.must(t, "image", "inspect", ref, "--format", "{{.Platform}} {{.PlatformAssumed}}"); out != "linux/amd64 true\n" {
		t.Errorf("image inspect: %q", out)
	}
	if out := f.must(t, "run", "--rm", ref, "uname", "-sm"); out != "Linux x86_64\n" {
		t.Errorf("run of the appended image: %q", out)
	}
}
