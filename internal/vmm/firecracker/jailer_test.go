package firecracker

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/bangerdev/banger/internal/errdefs"
)

func fakeStat(blocks map[string]uint64) statFunc {
	return func(p string) (bool, uint64, error) {
		if rdev, ok := blocks[p]; ok {
			return true, rdev, nil
		}
		return false, 0, nil
	}
}

// The jail plan, as values: argv, file operations, jail-relative paths.
func TestPlanJail(t *testing.T) {
	cfg := JailConfig{
		Binary: "/usr/bin/jailer", ChrootBase: "/srv/jailer", UID: 123, GID: 100,
		CgroupParent: "banger.slice", NetNS: "/run/netns/bg", CgroupRoot: "/sys/fs/cgroup",
	}
	spec := sampleSpec()
	spec.Drives[1].Path = "/dev/mapper/banger-vm-1-root" // a dm-snapshot device
	rt := runtimeFilesIn("/run/banger/vms/vm-1")
	p, err := planJail(cfg, "/usr/bin/firecracker", spec, rt, fakeStat(map[string]uint64{"/dev/mapper/banger-vm-1-root": 0xfc00}))
	if err != nil {
		t.Fatal(err)
	}
	root := "/srv/jailer/firecracker/vm-1/root"
	wantArgv := []string{
		"/usr/bin/jailer", "--id", "vm-1", "--exec-file", "/usr/bin/firecracker",
		"--uid", "123", "--gid", "100", "--chroot-base-dir", "/srv/jailer", "--cgroup-version", "2",
		"--parent-cgroup", "banger.slice", "--netns", "/run/netns/bg", "--", "--api-sock", "/api.sock",
	}
	wantOps := []FileOp{
		{Kind: OpMkdir, Dst: root},
		{Kind: OpLink, Src: "/k/vmlinux", Dst: root + "/vmlinux"},
		{Kind: OpLink, Src: "/k/initrd", Dst: root + "/initrd.img"},
		{Kind: OpLink, Src: "/d/scratch.img", Dst: root + "/drive-scratch_1", Writable: true},
		{Kind: OpMknod, Src: "/dev/mapper/banger-vm-1-root", Dst: root + "/drive-rootfs", Writable: true, Rdev: 0xfc00},
		{Kind: OpLink, Src: "/d/ro.img", Dst: root + "/drive-ro"},
		{Kind: OpCreate, Dst: root + "/firecracker.log", Writable: true},
		{Kind: OpCreate, Dst: root + "/firecracker.metrics", Writable: true},
		{Kind: OpSymlink, Src: root + "/api.sock", Dst: "/run/banger/vms/vm-1/fc.sock"},
		{Kind: OpSymlink, Src: root + "/vsock.sock", Dst: "/run/banger/vms/vm-1/vsock.sock"},
		{Kind: OpSymlink, Src: root + "/firecracker.log", Dst: "/run/banger/vms/vm-1/firecracker.log"},
	}
	wantPaths := vmPaths{
		Kernel: "/vmlinux", Initrd: "/initrd.img", Log: "/firecracker.log", Metrics: "/firecracker.metrics",
		Vsock: "/vsock.sock", Drives: []string{"/drive-scratch_1", "/drive-rootfs", "/drive-ro"},
	}
	if !reflect.DeepEqual(p.Argv, wantArgv) {
		t.Errorf("argv\n got %q\nwant %q", p.Argv, wantArgv)
	}
	if !reflect.DeepEqual(p.Ops, wantOps) {
		t.Errorf("ops\n got %+v\nwant %+v", p.Ops, wantOps)
	}
	if !reflect.DeepEqual(p.Paths, wantPaths) {
		t.Errorf("paths\n got %+v\nwant %+v", p.Paths, wantPaths)
	}
	if p.Dir != "/srv/jailer/firecracker/vm-1" || p.Root != root || p.APISock != root+"/api.sock" || p.Cgroup != "/sys/fs/cgroup/banger.slice/vm-1" {
		t.Errorf("plan = %+v", p)
	}

	// Without a parent cgroup the jailer uses the exec file's name.
	cfg.CgroupParent, cfg.NetNS = "", ""
	p, _ = planJail(cfg, "/usr/bin/firecracker", spec, rt, fakeStat(nil))
	if p.Cgroup != "/sys/fs/cgroup/firecracker/vm-1" || strings.Contains(strings.Join(p.Argv, " "), "--parent-cgroup") {
		t.Errorf("default cgroup: %q, argv %q", p.Cgroup, p.Argv)
	}
}

func TestPlanJailRejects(t *testing.T) {
	cfg := JailConfig{Binary: "jailer", ChrootBase: "/srv/jailer"}
	rt := runtimeFilesIn("/r")
	if _, err := planJail(cfg, "/usr/bin/fc", sampleSpec(), rt, fakeStat(nil)); !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), "must contain \"firecracker\"") {
		t.Errorf("exec name: %v", err)
	}
	cfg.ChrootBase = "srv"
	if _, err := planJail(cfg, "/usr/bin/firecracker", sampleSpec(), rt, fakeStat(nil)); !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("relative chroot base: %v", err)
	}
	cfg.ChrootBase = "/srv"
	missing := func(p string) (bool, uint64, error) {
		return false, 0, &os.PathError{Op: "stat", Path: p, Err: os.ErrNotExist}
	}
	if _, err := planJail(cfg, "/usr/bin/firecracker", sampleSpec(), rt, missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing kernel: %v", err)
	}
}

// Linking across file systems: a read-only file is copied; a writable one
// is refused, since a copy would split the guest's writes from banger's
// file.
func TestApplyOpsAcrossFileSystems(t *testing.T) {
	other := "/dev/shm"
	dir := t.TempDir()
	var a, b syscall.Stat_t
	if syscall.Stat(other, &b) != nil || syscall.Stat(dir, &a) != nil || a.Dev == b.Dev {
		t.Skip("needs /dev/shm on another file system than the temp dir")
	}
	jail, err := os.MkdirTemp(other, "fcjail") //nolint:usetesting // must be on another file system than t.TempDir
	if err != nil {
		t.Skip(err)
	}
	defer func() { _ = os.RemoveAll(jail) }()
	src := filepath.Join(dir, "ro.img")
	if err := os.WriteFile(src, []byte("read-only"), 0o644); err != nil {
		t.Fatal(err)
	}
	me, gid := os.Geteuid(), os.Getegid()
	if err := applyOps([]FileOp{{Kind: OpLink, Src: src, Dst: filepath.Join(jail, "ro")}}, me, gid); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(jail, "ro")); string(b) != "read-only" {
		t.Fatalf("copied file = %q", b)
	}
	err = applyOps([]FileOp{{Kind: OpLink, Src: src, Dst: filepath.Join(jail, "rw"), Writable: true}}, me, gid)
	if err == nil || !strings.Contains(err.Error(), "another file system") {
		t.Fatalf("writable across file systems = %v", err)
	}
}

func TestSafeJailDir(t *testing.T) {
	base := t.TempDir()
	good := filepath.Join(base, "firecracker", "vm-1")
	if err := os.MkdirAll(filepath.Join(good, "root"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := safeJailDir(good); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"/", "/srv", "/srv/x", "relative/a/b", good + "/", filepath.Dir(good)} {
		if safeJailDir(bad) == nil {
			t.Errorf("safeJailDir(%q) accepted", bad)
		}
	}
}

func TestJailerBinary(t *testing.T) {
	found := func(string) (string, error) { return "/usr/bin/jailer", nil }
	missing := func(string) (string, error) { return "", exec.ErrNotFound }
	for _, tt := range []struct {
		cfg  string
		look func(string) (string, error)
		want string
	}{
		{"auto", found, "/usr/bin/jailer"},
		{"auto", missing, ""},
		{"", found, ""},
		{"/opt/fc/jailer", missing, "/opt/fc/jailer"},
	} {
		if got := jailerBinary(tt.cfg, tt.look); got != tt.want {
			t.Errorf("jailerBinary(%q) = %q; want %q", tt.cfg, got, tt.want)
		}
	}
}
