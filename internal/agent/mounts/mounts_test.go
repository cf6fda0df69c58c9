package mounts

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bangerdev/banger/internal/bootcfg"
	"github.com/bangerdev/banger/internal/testutil"
)

const uuid = "0b5e1f6c-1f0e-4a57-9a4e-2b1d8a7c0e11"

func TestPlanMountsParentsFirst(t *testing.T) {
	ms := []bootcfg.Mount{
		{Type: bootcfg.MountVirtioFS, Source: "c", Target: "/data/cache/x"},
		{Type: bootcfg.MountVirtioFS, Source: "b", Target: "/srv"},
		{Type: bootcfg.MountVirtioFS, Source: "a", Target: "/data/cache"},
		{Type: bootcfg.MountVirtioFS, Source: "d", Target: "/data"},
	}
	var got []string
	for _, m := range Plan(ms) {
		got = append(got, m.Source)
	}
	if want := []string{"b", "d", "a", "c"}; !slices.Equal(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
}

// fakeSystem records what Apply asks of the guest.
type fakeSystem struct {
	ops  []string
	fail map[string]error
}

func (f *fakeSystem) do(op string) error {
	f.ops = append(f.ops, op)
	return f.fail[op]
}

func (f *fakeSystem) FindExt4(u string, _ time.Duration) (string, error) {
	return "/dev/vdc", f.do("find " + u)
}
func (f *fakeSystem) MkdirAll(p string, _ os.FileMode) error { return f.do("mkdir " + p) }
func (f *fakeSystem) Mount(c Call) error {
	return f.do(fmt.Sprintf("mount %s %s %s %#x %q", c.Source, c.Target, c.FSType, c.Flags, c.Data))
}
func (f *fakeSystem) Unmount(p string) error { return f.do("umount " + p) }
func (f *fakeSystem) Fill(d, s string) error { return f.do("fill " + d + " " + s) }

func TestApply(t *testing.T) {
	ms := []bootcfg.Mount{
		{Type: bootcfg.MountExt4, Source: uuid, Target: "/var/lib/db", CopyUp: true},
		{Type: bootcfg.MountVirtioFS, Source: "v1", Target: "/data", ReadOnly: true},
		{Type: bootcfg.MountExt4, Source: uuid, Target: "/ro/vol", ReadOnly: true, CopyUp: true},
	}
	f := &fakeSystem{}
	if err := Apply(ms, f); err != nil {
		t.Fatal(err)
	}
	want := []string{
		// Depth 1 first; a read-only share is mounted read-only.
		"mkdir /data", `mount v1 /data virtiofs 0x1 ""`,
		// A read-only volume is never written to, not even to fill it.
		"find " + uuid, "mkdir /ro/vol", `mount /dev/vdc /ro/vol ext4 0x1 "noload"`,
		// A new volume is filled on a staging mount, then mounted.
		"find " + uuid, "mkdir /run/banger/volumes/2", `mount /dev/vdc /run/banger/volumes/2 ext4 0x0 ""`,
		"fill /var/lib/db /run/banger/volumes/2", "umount /run/banger/volumes/2",
		"mkdir /var/lib/db", `mount /dev/vdc /var/lib/db ext4 0x0 ""`,
	}
	if !slices.Equal(f.ops, want) {
		t.Fatalf("ops:\n%s\nwant:\n%s", strings.Join(f.ops, "\n"), strings.Join(want, "\n"))
	}
}

// The first failure stops Apply and names the mount; a fill that fails
// still unmounts the staging mount.
func TestApplyStopsAtAFailure(t *testing.T) {
	boom := errors.New("boom")
	f := &fakeSystem{fail: map[string]error{"fill /db /run/banger/volumes/0": boom}}
	err := Apply([]bootcfg.Mount{
		{Type: bootcfg.MountExt4, Source: uuid, Target: "/db", CopyUp: true},
		{Type: bootcfg.MountVirtioFS, Source: "v", Target: "/data/x"},
	}, f)
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "mount volume ext4 "+uuid+" on /db: fill from the image's /db") {
		t.Fatalf("Apply = %v", err)
	}
	if last := f.ops[len(f.ops)-1]; last != "umount /run/banger/volumes/0" {
		t.Fatalf("last op %q; the staging mount must go: %v", last, f.ops)
	}
}

// FindExt4 picks, among the vd* devices, the one with the UUID, and
// says which it looked at when none has it.
func TestFindExt4(t *testing.T) {
	mkfs := testutil.RequireBinary(t, "mkfs.ext4", "e2fsprogs")
	root := t.TempDir()
	l := Linux{SysBlock: filepath.Join(root, "sys"), Dev: filepath.Join(root, "dev")}
	for _, d := range []string{"loop0", "vda", "vdb", "vdc"} {
		if err := os.MkdirAll(filepath.Join(l.SysBlock, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(l.Dev, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(l.Dev, "vda"), make([]byte, 8192), 0o600); err != nil {
		t.Fatal(err)
	}
	for dev, u := range map[string]string{"vdb": "11111111-2222-3333-4444-555555555555", "vdc": uuid} {
		if out, err := exec.CommandContext(t.Context(), mkfs, "-q", "-F", "-U", u, filepath.Join(l.Dev, dev), "8M").CombinedOutput(); err != nil {
			t.Fatalf("mkfs: %v\n%s", err, out)
		}
	}
	got, err := l.FindExt4(uuid, time.Second)
	if err != nil || got != filepath.Join(l.Dev, "vdc") {
		t.Fatalf("FindExt4 = %q, %v", got, err)
	}
	_, err = l.FindExt4("99999999-2222-3333-4444-555555555555", 50*time.Millisecond)
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "looked at vda, vdb, vdc") {
		t.Fatalf("FindExt4 of a missing volume = %v", err)
	}
}

// Fill copies the image's directory into a fresh volume with its owners,
// modes, times and links, drops lost+found, and leaves a used volume
// alone.
func TestFill(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	write := func(p, content string, mode os.FileMode) {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(src, "conf", "app.conf"), "x=1\n", 0o640)
	if err := os.Symlink("conf/app.conf", filepath.Join(src, "link")); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(src, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(src, 0o750); err != nil {
		t.Fatal(err)
	}
	old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(src, "conf", "app.conf"), old, old); err != nil {
		t.Fatal(err)
	}
	uid := 0
	if os.Geteuid() == 0 {
		uid = 4242
		for _, p := range []string{src, filepath.Join(src, "conf"), filepath.Join(src, "conf", "app.conf")} {
			if err := os.Chown(p, uid, uid); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.Mkdir(filepath.Join(dst, "lost+found"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := Fill(src, dst); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dst, "lost+found")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lost+found kept: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(dst, "link"))
	fi, serr := os.Stat(filepath.Join(dst, "conf", "app.conf"))
	if err != nil || string(b) != "x=1\n" || serr != nil || fi.Mode().Perm() != 0o640 || !fi.ModTime().Equal(old) {
		t.Fatalf("copy: %q %v; %v %v", b, err, fi, serr)
	}
	if root, _ := os.Stat(dst); root.Mode().Perm() != 0o750 {
		t.Errorf("volume root mode %v, want the image's 0750", root.Mode().Perm())
	}
	if st := fi.Sys().(*syscall.Stat_t); os.Geteuid() == 0 && int(st.Uid) != uid {
		t.Errorf("owner %d, want %d", st.Uid, uid)
	}
	if _, err := os.Lstat(filepath.Join(dst, "fifo")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a fifo was copied: %v", err)
	}
	// A volume in use is not touched again.
	write(filepath.Join(src, "new"), "n", 0o600)
	if err := Fill(src, dst); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dst, "new")); !errors.Is(err, os.ErrNotExist) {
		t.Error("a used volume was filled again")
	}
	// An image without the directory leaves a fresh volume empty.
	empty := t.TempDir()
	if err := Fill(filepath.Join(src, "absent"), empty); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(empty); len(entries) != 0 {
		t.Errorf("fresh volume holds %v", entries)
	}
}
