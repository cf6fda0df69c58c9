package agentclient_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/agent"
	"github.com/bangerdev/banger/internal/agent/agenttest"
	"github.com/bangerdev/banger/internal/agent/ctrroot"
	"github.com/bangerdev/banger/internal/agentclient"
	"github.com/bangerdev/banger/internal/bootcfg"
	"github.com/bangerdev/banger/internal/testutil"
	"github.com/bangerdev/banger/internal/testutil/testimages"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// Two containers in one agent, over the protocol: each exec runs in its
// own container's root (its image's files, its users, its own writable
// layer), with only the env the host gives; RemoveContainer takes the
// root away and a later exec in it fails to start, as does one naming a
// container by what is not a name. An agent without
// containers refuses the request as an older one would.
func TestContainersRunInTheirOwnRoots(t *testing.T) {
	testutil.RequireRoot(t)
	a := agenttest.StartWith(t, bootcfg.Config{}, func(o *agent.ServiceOptions) { o.Containers = ctrroot.Linux{} })
	c := a.Dial(t)
	for _, id := range []string{"podtest-a", "podtest-b"} {
		lower := testimages.BusyboxTree(t)
		if err := os.WriteFile(filepath.Join(lower, "etc/marker"), []byte(id+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.RemoveContainer(ctxT(t), id); _ = os.Remove(ctrroot.Dir) })
		if err := c.MakeContainer(ctxT(t), id, lower); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.MakeContainer(ctxT(t), "podtest-a", "/"); err == nil {
		t.Error("a second MakeContainer of one id succeeded")
	}
	run := func(id string, argv ...string) (string, int) {
		var out, errb bytes.Buffer
		code, err := c.Exec(ctxT(t), agentclient.ExecRequest{Argv: argv, Container: id, User: "user", Env: []string{"ONLY=" + id}, Stdout: &out, Stderr: &errb})
		if err != nil {
			t.Fatalf("exec in %s: %v", id, err)
		}
		return out.String() + errb.String(), code
	}
	script := `cat /etc/marker; id -un; echo "$ONLY $HOME"; echo mine > /tmp/f; ls /tmp`
	for _, id := range []string{"podtest-a", "podtest-b"} {
		if out, code := run(id, "sh", "-c", script); code != 0 || out != id+"\nuser\n"+id+" /home/user\nf\n" {
			t.Errorf("exec in %s: exit %d, %q", id, code, out)
		}
	}
	// A container's process is its init: a child still holding its
	// output goes when it exits, so the exec ends at once with its status.
	began := time.Now()
	out, code := run("podtest-a", "sh", "-c", "sleep 600 & echo $!; exit 3")
	if code != 3 || time.Since(began) > 30*time.Second {
		t.Errorf("exec leaving a child in a container: exit %d after %s, want 3 at once", code, time.Since(began))
	}
	// Killed, it may still be on its way out (its files closed first).
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		stat, err := os.ReadFile("/proc/" + strings.TrimSpace(out) + "/stat")
		if err != nil || strings.Contains(string(stat), ") Z ") {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("the container process's child %s is alive after it exited: %s", strings.TrimSpace(out), stat)
			break
		}
	}
	if err := c.RemoveContainer(ctxT(t), "podtest-a"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(ctrroot.Base("podtest-a")); !os.IsNotExist(err) {
		t.Errorf("after RemoveContainer: %v", err)
	}
	if out, code := run("podtest-a", "true"); code != 126 || !strings.Contains(out, "not made, or was removed") {
		t.Errorf("exec in a removed container: exit %d (%q), want 126 saying the root is gone", code, out)
	}
	if out, code := run("podtest-b", "cat", "/etc/marker"); code != 0 || out != "podtest-b\n" {
		t.Errorf("the other container after a removal: exit %d, %q", code, out)
	}
	// An id that is not a name never names a directory to chroot to,
	// not even the guest's "/".
	for _, id := range []string{"/", "../podtest-b"} {
		if out, code := run(id, "true"); code != 126 || !strings.Contains(out, "container id") {
			t.Errorf("exec in container %q: exit %d (%q), want 126 saying the id is not a name", id, code, out)
		}
	}

	plain := agenttest.Start(t, bootcfg.Config{}).Dial(t)
	if err := plain.MakeContainer(ctxT(t), "x", "/"); !errors.Is(err, errdefs.ErrUnsupported) {
		t.Errorf("MakeContainer on an agent without containers = %v, want ErrUnsupported", err)
	}
}
