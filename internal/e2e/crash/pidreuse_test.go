package crash

import (
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/handles"
	"github.com/bangerdev/banger/internal/proc"
	"github.com/bangerdev/banger/pkg/api"
)

// TestReusedPIDIsNeverAdoptedOrKilled: VMs run, the daemon is killed,
// their VMMs die, and their pids go to strangers — real processes the
// records now name, once with the dead VMM's start time, once with the
// stranger's own start time but another boot's id. The restarted daemon
// must adopt neither VM, kill neither stranger (nor gc, nor rm -f), and
// leave nothing of the VMs.
func TestReusedPIDIsNeverAdoptedOrKilled(t *testing.T) {
	l := newLab(t)
	forgeries := []struct {
		name  string
		forge func(rec, stranger proc.Identity) proc.Identity
	}{
		{"start time of the dead VMM", func(rec, s proc.Identity) proc.Identity { rec.PID = s.PID; return rec }},
		{"boot id of another boot", func(_, s proc.Identity) proc.Identity {
			s.BootID = "00000000-0000-4000-8000-000000000000"
			return s
		}},
	}
	type victim struct {
		id       string
		stranger proc.Identity
	}
	var victims []victim
	var vmmPIDs []int
	for i := range forgeries {
		id := strings.TrimSpace(l.must(t, "run", "-d", "busybox"))
		vm := mustInspect[api.VM](t, l, "inspect", id)
		vmmPIDs = append(vmmPIDs, vm.Runtime.PID)
		victims = append(victims, victim{id: id, stranger: startStranger(t)})
		t.Logf("vm %s (VMM pid %d): its record will name stranger pid %d with the %s", id, vm.Runtime.PID, victims[i].stranger.PID, forgeries[i].name)
	}
	l.kill(t)
	for _, pid := range vmmPIDs {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	waitGone(t, vmmPIDs)
	for i, v := range victims {
		path := filepath.Join(l.layout.VM(v.id), handles.FileName)
		rewriteProcess(t, path, v.id, func(rec proc.Identity) proc.Identity { return forgeries[i].forge(rec, v.stranger) })
	}

	if !l.start(t, "") {
		t.Fatalf("the daemon died at restart:\n%s", l.logTail())
	}
	ids := map[string]bool{}
	v := l.look(t, ids)
	for _, s := range v.leaks() {
		t.Errorf("leak: %s", s)
	}
	for i, vc := range victims {
		if vm := v.VMs[vc.id]; vm.State == api.VMRunning {
			t.Errorf("vm %s (%s) was adopted: %+v", vc.id, forgeries[i].name, vm.Runtime)
		}
	}
	alive := func(when string) {
		for i, vc := range victims {
			// Alive, not a zombie: the stranger is this test's child,
			// so a killed one stays in the process table until reaped.
			if !vc.stranger.Alive() {
				t.Errorf("%s: the stranger with pid %d (%s) was killed", when, vc.stranger.PID, forgeries[i].name)
			}
		}
	}
	alive("after reconcile")
	l.must(t, "gc")
	alive("after gc")
	for _, vc := range victims {
		l.must(t, "rm", "-f", vc.id)
	}
	alive("after rm -f")
	if v := l.look(t, ids); len(v.leaks()) > 0 || len(v.VMs) > 0 {
		t.Errorf("after rm -f: vms %d, leaks %v", len(v.VMs), v.leaks())
	}
}

// startStranger starts a process that is not banger's (no BANGER_VM), in
// a session of its own, killed when the test ends.
func startStranger(t *testing.T) proc.Identity {
	t.Helper()
	cmd := exec.Command("sleep", "600") //nolint:noctx // killed at cleanup
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	id, err := proc.Lookup(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// rewriteProcess replaces the VMM process identity in vm id's record,
// as the daemon saves it.
func rewriteProcess(t *testing.T, path, id string, change func(proc.Identity) proc.Identity) {
	t.Helper()
	rec, err := handles.Open(path, id)
	if err != nil || rec.VMM == nil {
		t.Fatalf("record of vm %s: %v, vmm section %+v", id, err, rec.VMM)
	}
	rec.VMM.Handles.Process = change(rec.VMM.Handles.Process)
	if err := rec.Save(); err != nil {
		t.Fatal(err)
	}
}

// waitGone waits until none of pids is a live process (a killed VMM is
// reaped by init once its daemon is gone).
func waitGone(t *testing.T, pids []int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range pids {
		for {
			id, err := proc.Lookup(pid)
			if err != nil || !id.Alive() {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("pid %d survived SIGKILL", pid)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}
