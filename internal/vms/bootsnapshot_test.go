package vms

import (
	"errors"
	"testing"

	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/internal/volumes"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// withSnapshot gives the fake backend the snapshot capability.
func withSnapshot(f *fixture) { f.b.caps.Snapshot = true }

// bootRuntime is what a start hands a boot snapshot step: the VM, its
// image and kernel as the catalog answers them, the backend, and the
// machine spec the boot config stage made (as the backend received it).
func (f *fixture) bootRuntime(name string, spec vmm.Spec) *Runtime {
	f.t.Helper()
	img, _ := fakeCatalog{f.h}.Image("busybox")
	k, _ := fakeCatalog{f.h}.Kernel("")
	return &Runtime{VM: f.get(name), Image: img, Kernel: k, Backend: f.b, Boot: spec}
}

// Two VMs of one shape share a key: nothing of a VM's own (its id,
// name, MAC, tap, disk and config drive paths, runtime dir) is in it.
// A change in the shape (CPUs, a volume's drive) is another key.
func TestBootKeyIsTheShapeNotTheVM(t *testing.T) {
	f := newFixture(t, withSnapshot)
	f.start("web")
	f.start("db")
	f.start("big", func(s *Spec) { s.CPUs = 4 })
	web, db, big := f.bootRuntime("web", f.b.specs[0]), f.bootRuntime("db", f.b.specs[1]), f.bootRuntime("big", f.b.specs[2])
	if web.Boot.NICs[0].Tap == db.Boot.NICs[0].Tap || web.Boot.Drives[0].Path == db.Boot.Drives[0].Path {
		t.Fatalf("the fixture gave two VMs one tap or disk: %+v %+v", web.Boot, db.Boot)
	}
	kw, err := bootKey(web, web.Boot, f.s.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := bootKey(db, db.Boot, f.s.ClientKey)
	if err != nil || kd.ID() != kw.ID() {
		t.Fatalf("two VMs of one shape: keys %+v and %+v (%v)", kw, kd, err)
	}
	other := *db
	other.Boot.NICs = []vmm.NIC{{ID: "eth0", Tap: "bg-other", MAC: "02:00:00:00:00:99", MTU: 9000}}
	if ko, err := bootKey(&other, other.Boot, f.s.ClientKey); err != nil || ko.ID() != kw.ID() {
		t.Fatalf("another MAC, tap and MTU changed the key: %v", err)
	}
	if kb, err := bootKey(big, big.Boot, f.s.ClientKey); err != nil || kb.ID() == kw.ID() {
		t.Fatalf("4 CPUs share the key of %d: %v", kw.CPUs, err)
	}
	want := map[string]any{
		"backend": "fake", "image": "sha256:img", "agent": "agent", "kernel": "k1sum",
		"cpus": web.Boot.CPUs, "memory": web.Boot.MemoryMiB, "nics": 1, "drives": 2, "cmdline": web.Boot.Cmdline,
	}
	got := map[string]any{
		"backend": kw.Backend, "image": kw.ImageDigest, "agent": kw.AgentSHA256, "kernel": kw.KernelSHA256,
		"cpus": kw.CPUs, "memory": kw.MemoryMiB, "nics": kw.NICs, "drives": len(kw.Drives), "cmdline": kw.Cmdline,
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("key %s = %v, want %v", name, got[name], w)
		}
	}
	if !kw.Drives[0].Root || kw.Drives[0].ID != "root" || kw.Drives[1].ID != "config" || !kw.Drives[1].ReadOnly {
		t.Errorf("key drives = %+v", kw.Drives)
	}
}

// A VM that cannot be saved has no key, and the error says why.
func TestBootKeyRefusals(t *testing.T) {
	f := newFixture(t, withSnapshot)
	f.start("web")
	spec := f.b.specs[0]
	for _, tc := range []struct {
		name   string
		change func(*Runtime)
		want   error
	}{
		{"backend cannot snapshot", func(rt *Runtime) { rt.Backend = &fakeBackend{h: f.h} }, errdefs.ErrUnsupported},
		{"a shared directory in the VM's spec", func(rt *Runtime) {
			rt.VM.Spec.Mounts = []volumes.Mount{{Type: volumes.TypeBind, Source: "/srv", Target: "/data"}}
		}, vmm.ErrNotMigratable},
		{"a shared directory in the machine", func(rt *Runtime) {
			rt.Boot.SharedDirs = []vmm.SharedDir{{Tag: "vol0", Socket: "/run/x.sock"}}
		}, vmm.ErrNotMigratable},
		{"an image without a digest", func(rt *Runtime) { rt.Image.Digest = "" }, errdefs.ErrInvalid},
		{"an image without its agent's digest", func(rt *Runtime) { rt.Image.AgentSHA256 = "" }, errdefs.ErrInvalid},
		{"a kernel without a digest", func(rt *Runtime) { rt.Kernel.SHA256 = "" }, errdefs.ErrInvalid},
		{"an image whose agent predates held boots", func(rt *Runtime) { rt.Image.HeldBoot = false }, errdefs.ErrUnsupported},
	} {
		rt := f.bootRuntime("web", spec)
		rt.Boot.Drives = append([]vmm.Drive(nil), spec.Drives...)
		tc.change(rt)
		if _, err := bootKey(rt, rt.Boot, f.s.ClientKey); !errors.Is(err, tc.want) {
			t.Errorf("%s: bootKey = %v, want %v", tc.name, err, tc.want)
		}
	}
}
