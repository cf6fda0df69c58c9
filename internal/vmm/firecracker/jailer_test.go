package firecracker

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/bangerdev/banger/pkg/errdefs"
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

func TestJailIDs(t *testing.T) {
	vmmUser := func(name string) (*user.User, error) {
		if name != "banger-vmm" {
			return nil, user.UnknownUserError(name)
		}
		return &user.User{Username: name, Uid: "999", Gid: "998"}, nil
	}
	for _, tt := range []struct {
		name         string
		user         string
		uid, gid     int
		wantU, wantG int
		wantErr      error
	}{
		{"the user's ids", "banger-vmm", 0, 0, 999, 998, nil},
		{"explicit ids win", "banger-vmm", 1234, 1234, 1234, 1234, nil},
		{"an explicit uid alone wins", "banger-vmm", 1234, 0, 1234, 0, nil},
		{"no user: root, as configured", "", 0, 0, 0, 0, nil},
		{"a missing user is refused", "nobody-here", 0, 0, 0, 0, errdefs.ErrUnavailable},
	} {
		u, g, err := jailIDs(tt.user, tt.uid, tt.gid, vmmUser)
		if u != tt.wantU || g != tt.wantG || !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
			t.Errorf("%s: jailIDs = %d, %d, %v; want %d, %d, %v", tt.name, u, g, err, tt.wantU, tt.wantG, tt.wantErr)
		}
	}
}

func TestConfinement(t *testing.T) {
	jail := func(uid int, idsErr error) Options {
		return Options{Jail: &JailConfig{Binary: "/usr/bin/jailer", ChrootBase: "/srv/jailer", UID: uid, GID: uid, IDsErr: idsErr}}
	}
	for _, tt := range []struct {
		name             string
		opts             Options
		inForce, refused bool
		summary          string
	}{
		{"no jailer", Options{}, false, false, "runs as root"},
		{"jail user", jail(999, nil), true, false, "uid 999 gid 999"},
		{"root in the jail", jail(0, nil), true, false, "root: set [firecracker] user"},
		{"jail user missing", jail(0, errdefs.ErrUnavailable), false, true, "jailer /usr/bin/jailer"},
	} {
		st := (&Backend{opts: tt.opts}).Confinement(context.Background())
		if st.InForce != tt.inForce || st.Refused != tt.refused || !strings.Contains(st.Summary, tt.summary) || tt.refused != (len(st.Missing) > 0) {
			t.Errorf("%s: %+v; want in force %v, refused %v, summary with %q", tt.name, st, tt.inForce, tt.refused, tt.summary)
		}
	}
}
