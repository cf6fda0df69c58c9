package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/bangerdev/banger/pkg/api"
)

// TestGCFindsAndRemovesLeaks plants the leftovers a crashed daemon could
// leave for a stopped VM — a process carrying its id, a tap on banger's
// bridge, a runtime directory — and a directory of a VM that no longer
// exists; gc --dry-run must list each, gc must remove each, and a running
// VM's objects must be left alone.
func TestGCFindsAndRemovesLeaks(t *testing.T) {
	f := env(t)
	stopped := strings.TrimSpace(f.must(t, "create", "busybox"))
	stoppedVM := f.inspect(t, stopped)
	running := strings.TrimSpace(f.must(t, "run", "-d", "busybox"))
	t.Cleanup(func() { f.cli(nil, "rm", "-f", stoppedVM.ID); f.cli(nil, "rm", "-f", running) })

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sleeper := exec.CommandContext(ctx, "sleep", "60")
	sleeper.Env = append(os.Environ(), "BANGER_VM="+stoppedVM.ID)
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	reaped := make(chan struct{})
	go func() { _ = sleeper.Wait(); close(reaped) }()
	tap := "bg-" + stoppedVM.ID
	for _, argv := range [][]string{
		{"ip", "tuntap", "add", tap, "mode", "tap"},
		{"ip", "link", "set", tap, "master", f.cfg.Network.Bridge},
	} {
		if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v %s", argv, err, out)
		}
	}
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", tap).Run() })
	if err := os.MkdirAll(f.layout.VMRuntime(stoppedVM.ID), 0o700); err != nil {
		t.Fatal(err)
	}
	ghost := "0123456789ab"
	if err := os.MkdirAll(f.layout.VM(ghost), 0o700); err != nil {
		t.Fatal(err)
	}

	want := map[string]string{"process": stoppedVM.ID, "tap": stoppedVM.ID, "runtime-dir": stoppedVM.ID, "vm-dir": ghost}
	check := func(rep api.GCReport, removed bool) {
		t.Helper()
		found := map[string]bool{}
		for _, o := range rep.Objects {
			if o.Owner == running {
				t.Errorf("gc lists the running VM's %s %s", o.Kind, o.Name)
			}
			if want[o.Kind] == o.Owner {
				found[o.Kind] = true
				if o.Removed != removed || o.Error != "" {
					t.Errorf("%s %s: removed=%v error=%q, want removed=%v", o.Kind, o.Name, o.Removed, o.Error, removed)
				}
			}
		}
		for kind := range want {
			if !found[kind] {
				t.Errorf("gc did not report the leaked %s (report: %+v)", kind, rep.Objects)
			}
		}
	}
	var rep api.GCReport
	if err := json.Unmarshal([]byte(f.must(t, "gc", "--dry-run", "--format", "json")), &rep); err != nil {
		t.Fatal(err)
	}
	check(rep, false)
	if err := json.Unmarshal([]byte(f.must(t, "gc", "--format", "json")), &rep); err != nil {
		t.Fatal(err)
	}
	check(rep, true)

	select {
	case <-reaped:
	case <-time.After(10 * time.Second):
		t.Error("gc did not kill the leaked process")
	}
	if err := exec.Command("ip", "link", "show", tap).Run(); err == nil {
		t.Error("gc left the leaked tap")
	}
	for _, dir := range []string{f.layout.VMRuntime(stoppedVM.ID), f.layout.VM(ghost)} {
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("gc left %s", dir)
		}
	}
	if out := f.must(t, "exec", running, "--", "echo", "alive"); out != "alive\n" {
		t.Errorf("the running VM after gc: %q", out)
	}
	if vm := f.inspect(t, stopped); vm.State != "created" {
		t.Errorf("the stopped VM's record after gc: %s", vm.State)
	}
}
