package vms

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/handles"
	"github.com/bangerdev/banger/internal/hostnet"
	"github.com/bangerdev/banger/internal/proc"
	"github.com/bangerdev/banger/internal/rootfs"
	"github.com/bangerdev/banger/internal/store"
	"github.com/bangerdev/banger/internal/vmm"
)

// The record shapes a daemon killed at any point of a start, a stop or a
// run can leave, and what the next daemon must do with each.
func TestReconcileEveryPartialRecord(t *testing.T) {
	const id = "0123456789ab"
	self := mustLookup(t, os.Getpid())
	reused := self
	reused.StartTime++ // the recorded pid now belongs to another process
	vmmHandles := func(p proc.Identity) vmm.Handles {
		return vmm.Handles{Backend: "fake", Process: p, Sockets: map[string]string{"agent": "fake:" + id}}
	}
	disk := func(dir string) *handles.Disk {
		return &handles.Disk{State: handles.Created, Disk: rootfs.Disk{Path: rootfs.DiskPath(dir, rootfs.Copy), Format: "raw", Strategy: rootfs.Copy}}
	}
	attached := func(s handles.State) *handles.Network {
		return &handles.Network{Lease: handles.Created, IP: "10.0.0.5", Attach: s, Resources: hostnet.Resources{Tap: hostnet.TapName(id)}}
	}
	tests := []struct {
		name  string
		state State
		// build fills the record (nil: no record file at all); raw, when
		// set, is written instead.
		build func(r *handles.Record, l *fixture)
		raw   string
		// machine: a fake VMM runs for the VM.
		machine bool
		console string
		// want: adopted, host ops that must / must not happen, final state.
		adopted     bool
		must, never []string
		wantState   State
		wantCode    int
	}{
		{name: "running and alive is adopted", state: Running, machine: true,
			build: func(r *handles.Record, f *fixture) {
				r.Disk, r.Network = disk(f.l.VM(id)), attached(handles.Created)
				r.RunDir = &handles.RunDir{State: handles.Created, Path: f.l.VMRuntime(id)}
				r.VMM = &handles.VMM{State: handles.Created, Handles: vmmHandles(self)}
			},
			adopted: true, must: []string{"vmm.attach"}, never: []string{"vmm.release", "net.detach", "vmm.kill"}, wantState: Running},
		{name: "running but the VMM is gone", state: Running, console: "banger-agent: main exited status=4\n",
			build: func(r *handles.Record, f *fixture) {
				r.Disk, r.Network = disk(f.l.VM(id)), attached(handles.Created)
				r.RunDir = &handles.RunDir{State: handles.Created, Path: f.l.VMRuntime(id)}
				r.VMM = &handles.VMM{State: handles.Created, Handles: vmmHandles(reused)}
			},
			must: []string{"vmm.release", "net.detach"}, never: []string{"vmm.attach", "net.release", "disk.remove"}, wantState: Exited, wantCode: 4},
		{name: "a reused pid is never adopted", state: Running, machine: true,
			build: func(r *handles.Record, _ *fixture) {
				r.VMM = &handles.VMM{State: handles.Created, Handles: vmmHandles(reused)}
			},
			must: []string{"vmm.release"}, never: []string{"vmm.attach"}, wantState: Failed},
		{name: "killed between record and spawn", state: Created,
			build: func(r *handles.Record, f *fixture) {
				r.Disk, r.Network = disk(f.l.VM(id)), attached(handles.Created)
				r.RunDir = &handles.RunDir{State: handles.Created, Path: f.l.VMRuntime(id)}
				r.VMM = &handles.VMM{State: handles.Creating, Handles: vmm.Handles{Backend: "fake"}}
			},
			must: []string{"vmm.release", "net.detach"}, never: []string{"vmm.attach"}, wantState: Created},
		{name: "killed while attaching the network", state: Created,
			build: func(r *handles.Record, f *fixture) {
				r.Disk, r.Network = disk(f.l.VM(id)), attached(handles.Creating)
			},
			must: []string{"net.detach"}, never: []string{"vmm.release", "disk.deactivate", "net.release"}, wantState: Created},
		{name: "killed while bringing dm devices up", state: Created,
			build: func(r *handles.Record, _ *fixture) {
				r.Disk = &handles.Disk{State: handles.Created, DM: handles.Creating, Disk: rootfs.Disk{Strategy: rootfs.DMSnapshot}}
			},
			must: []string{"disk.deactivate"}, never: []string{"net.detach", "disk.remove"}, wantState: Created},
		{name: "a stopped VM holds only its disk and lease", state: Exited,
			build: func(r *handles.Record, f *fixture) {
				r.Disk, r.Network = disk(f.l.VM(id)), attached("")
			},
			never: []string{"net.detach", "vmm.release", "disk.deactivate", "net.release", "disk.remove"}, wantState: Exited},
		{name: "broken vmm section", state: Running,
			raw:  `{"version":2,"vm_id":"` + id + `","vmm":{"handles":{"process":7}},"network":{"lease":"created","attach":"created","resources":{"tap":"bg-` + id + `"}}}`,
			must: []string{"net.detach"}, never: []string{"vmm.attach", "vmm.release"}, wantState: Failed},
		{name: "unreadable record", state: Running, raw: `{"version":2,"vm_id":"` + id + `","vmm":{"sta`,
			must: []string{"net.detach", "disk.deactivate"}, never: []string{"vmm.attach", "net.release", "disk.remove"}, wantState: Failed},
		{name: "running without any record", state: Running,
			never: []string{"vmm.attach", "vmm.release"}, wantState: Failed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			vm := VM{ID: id, Name: "web", State: tt.state, Spec: Spec{Image: "busybox", CPUs: 1, MemoryMiB: 128}}
			if err := f.st.Put(store.VMs, id, vm); err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(f.l.VM(id), 0o700); err != nil {
				t.Fatal(err)
			}
			if tt.console != "" {
				if err := os.WriteFile(f.s.consoleLog(id), []byte(tt.console), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			writeHostKey(t, f.l.VM(id))
			path := filepath.Join(f.l.VM(id), handles.FileName)
			switch {
			case tt.raw != "":
				if err := os.WriteFile(path, []byte(tt.raw), 0o600); err != nil {
					t.Fatal(err)
				}
			case tt.build != nil:
				r := handles.New(path, id)
				tt.build(r, f)
				if err := r.Save(); err != nil {
					t.Fatal(err)
				}
			}
			if tt.machine {
				f.h.machines[id] = newFakeMachine(f.h, id, vmmHandles(self), "")
			}
			f.s.Reconcile(context.Background())
			for _, op := range tt.must {
				if !f.h.did(op) {
					t.Errorf("reconcile did not %s: %v", op, f.h.log())
				}
			}
			for _, op := range tt.never {
				if f.h.did(op) {
					t.Errorf("reconcile did %s: %v", op, f.h.log())
				}
			}
			if got := f.s.live.get(id) != nil; got != tt.adopted {
				t.Errorf("adopted %v, want %v", got, tt.adopted)
			}
			got := f.get(id)
			if got.State != tt.wantState {
				t.Errorf("state %s (%s), want %s", got.State, got.Error, tt.wantState)
			}
			if tt.wantCode != 0 && (got.ExitCode == nil || *got.ExitCode != tt.wantCode) {
				t.Errorf("exit code %v, want %d", got.ExitCode, tt.wantCode)
			}
			if !tt.adopted {
				rec, _ := handles.Open(path, id)
				if rec.Running() {
					t.Errorf("record still names runtime resources: %+v (broken %v)", rec, rec.Broken)
				}
				if _, err := os.Stat(f.l.VMRuntime(id)); !os.IsNotExist(err) {
					t.Errorf("runtime dir left: %v", err)
				}
			}
			// A second reconcile (another daemon restart) changes nothing.
			f.h.reset()
			f.s.Close()
			f.s = f.service()
			f.s.Reconcile(context.Background())
			for _, op := range f.h.log() {
				if op != "vmm.attach" && op != "agent.dial" {
					t.Errorf("second reconcile did %s: %v", op, f.h.log())
				}
			}
		})
	}
}

// A record written by an older banger in the runtime directory is
// converted, and the VM it names is adopted.
func TestReconcileAdoptsFromALegacyRecord(t *testing.T) {
	const id = "0123456789ab"
	f := newFixture(t)
	self := mustLookup(t, os.Getpid())
	if err := f.st.Put(store.VMs, id, VM{ID: id, Name: "old", State: Running, Spec: Spec{Image: "busybox"}}); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(f.l.VMRuntime(id), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(f.l.VM(id), 0o700); err != nil {
		t.Fatal(err)
	}
	writeHostKey(t, f.l.VM(id))
	v1 := `{"version":1,"vm_id":"` + id + `","resources":[{"kind":"vmm","name":"` + id + `","scope":"runtime","state":"created",
	 "data":{"backend":"fake","process":{"pid":` + itoa(self.PID) + `,"start_time":` + itoa(int(self.StartTime)) + `,"boot_id":"` + self.BootID + `"},"sockets":{"agent":"fake:` + id + `"}}}]}`
	if err := os.WriteFile(filepath.Join(f.l.VMRuntime(id), handles.FileName), []byte(v1), 0o600); err != nil {
		t.Fatal(err)
	}
	f.h.machines[id] = newFakeMachine(f.h, id, vmm.Handles{}, "")
	f.s.Reconcile(context.Background())
	if f.s.live.get(id) == nil {
		t.Fatalf("legacy VM not adopted: %v", f.h.log())
	}
	if _, err := os.Stat(filepath.Join(f.l.VM(id), handles.FileName)); err != nil {
		t.Fatalf("record not converted into the VM dir: %v", err)
	}
	if _, err := os.Stat(filepath.Join(f.l.VMRuntime(id), handles.FileName)); !os.IsNotExist(err) {
		t.Fatalf("legacy record left: %v", err)
	}
}

// gc removes what no VM explains — a lease of a VM that no longer exists,
// the tap and VMM cgroup of a VM that is not running — and leaves a
// running VM's alone.
func TestGCRemovesOnlyWhatNoVMExplains(t *testing.T) {
	f := newFixture(t)
	running, _ := f.start("web")
	stopped := f.create("db")
	f.h.taps[stopped.ID] = true
	f.h.cgroups[stopped.ID] = true
	f.h.leases["ffffffffffff"] = true
	if err := os.MkdirAll(f.l.VMRuntime("eeeeeeeeeeee"), 0o700); err != nil {
		t.Fatal(err)
	}
	rep := f.s.sweep(context.Background(), true)
	kinds := map[string]string{}
	for _, o := range rep.Objects {
		kinds[o.Owner] += o.Kind + " "
		if o.Removed {
			t.Errorf("dry run removed %+v", o)
		}
	}
	if !strings.Contains(kinds[stopped.ID], "tap") || !strings.Contains(kinds[stopped.ID], "cgroup") || !strings.Contains(kinds["ffffffffffff"], "lease") || !strings.Contains(kinds["eeeeeeeeeeee"], "runtime-dir") {
		t.Fatalf("dry run found %v", kinds)
	}
	if _, ok := kinds[running.ID]; ok {
		t.Fatalf("a running VM's objects were reported: %v", kinds[running.ID])
	}
	rep = f.s.sweep(context.Background(), false)
	if f.h.taps[stopped.ID] || f.h.leases["ffffffffffff"] || !f.h.taps[running.ID] || !f.h.leases[running.ID] {
		t.Fatalf("after gc: taps %v leases %v", f.h.taps, f.h.leases)
	}
	if f.h.cgroups[stopped.ID] || !f.h.cgroups[running.ID] {
		t.Fatalf("after gc: cgroups %v, want only the running VM's", f.h.cgroups)
	}
	if _, err := os.Stat(f.l.VMRuntime("eeeeeeeeeeee")); !os.IsNotExist(err) {
		t.Fatalf("orphan runtime dir left: %v", err)
	}
	if !slices.ContainsFunc(rep.Objects, func(o HostObject) bool { return o.Removed }) {
		t.Fatalf("gc report says nothing was removed: %+v", rep)
	}
	if again := f.s.sweep(context.Background(), true); len(again.Objects) != 0 {
		t.Fatalf("gc after gc still finds %+v", again.Objects)
	}
}
