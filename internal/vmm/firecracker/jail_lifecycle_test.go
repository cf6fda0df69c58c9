package firecracker_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/config"
	"github.com/bangerdev/banger/internal/proc"
	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/internal/vmm/firecracker"
	"github.com/bangerdev/banger/internal/vmm/firecracker/fctest"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// The backend under the (fake) jailer: every path the VMM gets is
// jail-relative (the fake resolves them under the jail root, so a host
// path would not open), sockets are reached through the runtime dir, and
// Cleanup removes the jail and its cgroup.
func TestJailedLifecycle(t *testing.T) {
	fake := fctest.Binaries(t)
	f := newFixture(t, "jailed-1")
	base := filepath.Join(f.dir, "jail")
	cgroups := filepath.Join(f.dir, "cgroup")
	cfg := config.Default().Firecracker
	cfg.Binary, cfg.Jailer, cfg.ChrootBase = fake.Firecracker, fake.Jailer, base
	cfg.User, cfg.UID, cfg.GID = "", os.Geteuid(), os.Getegid() // the test's own ids, whatever users the host has
	cfg.CgroupParent = "banger"
	b := firecracker.New(cfg, firecracker.WithCgroupRoot(cgroups))
	ctx := ctxT(t)

	m, err := b.Start(ctx, f.spec)
	must(t, err)
	t.Cleanup(func() { _ = m.Kill(context.Background()); _ = m.Cleanup() })
	h := m.Handles()
	jailDir := filepath.Join(base, "firecracker", "jailed-1")
	if h.JailDir != jailDir || f.records.all()[0].JailDir != jailDir {
		t.Fatalf("jail dir = %q (first record %q), want %q recorded before creation", h.JailDir, f.records.all()[0].JailDir, jailDir)
	}
	cfgVM := vmConfig(t, m)
	boot := cfgVM["boot-source"].(map[string]any)
	drives := cfgVM["drives"].([]any)
	if boot["kernel_image_path"] != "/vmlinux" || boot["initrd_path"] != "/initrd.img" ||
		drives[0].(map[string]any)["path_on_host"] != "/drive-root" ||
		cfgVM["vsock"].(map[string]any)["uds_path"] != "/vsock.sock" ||
		cfgVM["logger"].(map[string]any)["log_path"] != "/firecracker.log" {
		t.Fatalf("VMM paths are not jail-relative: %v", cfgVM)
	}
	// The root drive in the jail is the VM's file, not a copy.
	root := filepath.Join(jailDir, "root")
	a, _ := os.Stat(f.spec.Drives[1].Path)
	bfi, _ := os.Stat(filepath.Join(root, "drive-root"))
	if !os.SameFile(a, bfi) {
		t.Fatal("root drive in the jail is not a hard link of the VM's disk")
	}
	// The jailer cleared the environment, as the real one does.
	env, err := proc.Environ(h.Process.PID)
	must(t, err)
	if contains(env, vmm.EnvVMID+"=jailed-1") {
		t.Fatal("the fake jailer must clear the environment like the real one")
	}
	c, err := m.DialAgent(ctx)
	must(t, err)
	echo(t, c, "through the jail")

	// Snapshots are written in the jail and moved out.
	must(t, m.(vmm.Pauser).Pause(ctx))
	snap := vmm.SnapshotSpec{StatePath: filepath.Join(f.dir, "s.state"), MemPath: filepath.Join(f.dir, "s.mem")}
	must(t, m.(vmm.Snapshotter).CreateSnapshot(ctx, snap))
	for _, p := range []string{snap.StatePath, snap.MemPath} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("snapshot file: %v", err)
		}
	}

	// The jailer makes the VM's cgroup; the fake does not touch cgroupfs,
	// so stand in for it.
	cg := filepath.Join(cgroups, "banger", "jailed-1")
	must(t, os.MkdirAll(cg, 0o755))
	must(t, m.Shutdown(ctx))
	must(t, m.Cleanup())
	for _, p := range []string{jailDir, cg, h.Sockets["api"], h.Sockets["vsock"], filepath.Join(f.spec.RuntimeDir, "firecracker.log")} {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left behind", p)
		}
	}
	if _, err := os.Stat(f.spec.Drives[1].Path); err != nil {
		t.Fatalf("Cleanup must not touch the VM's own disk: %v", err)
	}
}

// A snapshot restores into a new VMM with the new VM's tap and vsock.
func TestRestore(t *testing.T) {
	fake := fctest.Binaries(t)
	ctx := ctxT(t)
	f := newFixture(t, "snap-src")
	b := backend(fake)
	src, err := b.Start(ctx, f.spec)
	must(t, err)
	t.Cleanup(func() { _ = src.Kill(context.Background()) })
	must(t, src.(vmm.Pauser).Pause(ctx))
	snap := vmm.SnapshotSpec{StatePath: filepath.Join(f.dir, "s.state"), MemPath: filepath.Join(f.dir, "s.mem")}
	must(t, src.(vmm.Snapshotter).CreateSnapshot(ctx, snap))
	must(t, src.Kill(ctx))
	must(t, src.Cleanup())

	g := newFixture(t, "snap-dst")
	m, err := b.Restore(ctx, g.spec, vmm.RestoreSpec{StatePath: snap.StatePath, MemPath: snap.MemPath})
	must(t, err)
	t.Cleanup(func() { _ = m.Kill(context.Background()); _ = m.Cleanup() })
	if st, err := m.Status(ctx); err != nil || st != vmm.StatusPaused {
		t.Fatalf("restored status = %v, %v; want paused", st, err)
	}
	cfg := vmConfig(t, m)
	if nic := cfg["network-interfaces"].([]any)[0].(map[string]any); nic["host_dev_name"] != g.spec.NICs[0].Tap {
		t.Fatalf("network override not applied: %v", nic)
	}
	if v := cfg["vsock"].(map[string]any); v["uds_path"] != m.Handles().Sockets["vsock"] {
		t.Fatalf("vsock override not applied: %v", v)
	}
	must(t, m.(vmm.Pauser).Resume(ctx))
	c, err := m.DialAgent(ctx)
	must(t, err)
	echo(t, c, "restored")

	// A snapshot load is only for a fresh VMM: the contract refuses it
	// on one that booted.
	err = m.(*firecracker.Machine).Client().Do(ctx, firecracker.Call{Method: "PUT", Path: "/snapshot/load", Body: firecracker.SnapshotLoadParams{
		SnapshotPath: snap.StatePath, MemBackend: firecracker.MemoryBackend{BackendType: "File", BackendPath: snap.MemPath},
	}}, nil)
	if !firecracker.IsAPIError(err) {
		t.Fatalf("second load = %v, want a refusal", err)
	}
}

// With the jail user missing (no `banger setup` yet), Start refuses before
// anything exists instead of running Firecracker as root in the jail.
func TestJailRefusesAMissingUser(t *testing.T) {
	fake := fctest.Binaries(t)
	f := newFixture(t, "jailed-2")
	cfg := config.Default().Firecracker
	cfg.Binary, cfg.Jailer, cfg.ChrootBase = fake.Firecracker, fake.Jailer, filepath.Join(f.dir, "jail")
	cfg.User = "banger-test-no-such-user"
	b := firecracker.New(cfg, firecracker.WithCgroupRoot(filepath.Join(f.dir, "cgroup")))
	_, err := b.Start(ctxT(t), f.spec)
	if err == nil || !errors.Is(err, errdefs.ErrUnavailable) || !strings.Contains(err.Error(), "banger setup") {
		t.Fatalf("Start with a missing jail user: %v; want ErrUnavailable saying to run banger setup", err)
	}
	if n := len(f.records.all()); n != 0 {
		t.Fatalf("%d records written before the refusal", n)
	}
	if _, err := os.Stat(cfg.ChrootBase); !os.IsNotExist(err) {
		t.Fatalf("jail base made before the refusal: %v", err)
	}
}
