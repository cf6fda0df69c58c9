package stage1

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/bootcfg"
	"github.com/bangerdev/banger/pkg/errdefs"
)

const manifest = `{"version":1,"kernel_release":"6.1.0-56-cloud-amd64","modules":[
 "/lib/modules/6.1.0-56-cloud-amd64/kernel/drivers/virtio/virtio.ko",
 "/lib/modules/6.1.0-56-cloud-amd64/kernel/drivers/virtio/virtio_ring.ko",
 "/lib/modules/6.1.0-56-cloud-amd64/kernel/drivers/block/virtio_blk.ko"],
 "on_demand":{"virtiofs":[
  "/lib/modules/6.1.0-56-cloud-amd64/kernel/fs/fuse/fuse.ko",
  "/lib/modules/6.1.0-56-cloud-amd64/kernel/fs/fuse/virtiofs.ko"]}}`

func TestParseManifest(t *testing.T) {
	m, err := ParseManifest([]byte(manifest))
	if err != nil || len(m.Modules) != 3 || m.KernelRelease != "6.1.0-56-cloud-amd64" {
		t.Fatalf("ParseManifest = %+v, %v", m, err)
	}
	bad := []struct{ json, want string }{
		{`{"version":2,"kernel_release":"r"}`, "version 2"},
		{`{"version":1,"kernel_release":"../x"}`, "kernel_release"},
		{`{"version":1,"kernel_release":"r","modules":["/lib/modules/r/../../../etc/shadow.ko"]}`, "not an uncompressed .ko"},
		{`{"version":1,"kernel_release":"r","modules":["/lib/modules/other/a.ko"]}`, "not an uncompressed .ko"},
		{`{"version":1,"kernel_release":"r","modules":["/lib/modules/r/a.ko.xz"]}`, "not an uncompressed .ko"},
		{`{"version":1,"kernel_release":"r","on_demand":{"g":["/etc/shadow.ko"]}}`, "not an uncompressed .ko"},
		{`{"version":1`, "initrd.json"},
	}
	for _, b := range bad {
		if _, err := ParseManifest([]byte(b.json)); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("ParseManifest(%s) = %v, want an error about %q", b.json, err, b.want)
		}
	}
}

func TestNewPlan(t *testing.T) {
	m, _ := ParseManifest([]byte(manifest))
	p, err := NewPlan(m, bootcfg.ParseCmdline("console=ttyS0 root=/dev/vda ro rootflags=noatime banger.cfg=/dev/vdb"))
	if err != nil {
		t.Fatal(err)
	}
	want := Plan{
		Modules: m.Modules, Root: "/dev/vda", FSType: "ext4", Flags: 1, Data: "noatime",
		Wait: DefaultWait, Moves: []string{"/dev", "/proc", "/sys"}, Init: bootcfg.DefaultStage2,
	}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("NewPlan =\n%+v\nwant\n%+v", p, want)
	}
	// A VM that shares directories loads the virtio-fs group after the
	// rest; a group the initramfs lacks (built in) loads nothing.
	p, err = NewPlan(m, bootcfg.ParseCmdline("root=/dev/vda banger.load=virtiofs,virtiofs,absent"))
	if err != nil {
		t.Fatal(err)
	}
	if want := append(slices.Clone(m.Modules), m.OnDemand["virtiofs"]...); !slices.Equal(p.Modules, want) {
		t.Fatalf("modules with banger.load=virtiofs: %v, want %v", p.Modules, want)
	}
	for cmdline, want := range map[string]error{
		"console=ttyS0":                errdefs.ErrInvalid,
		"root=UUID=1234":               errdefs.ErrUnsupported,
		"root=/dev/../etc/x":           errdefs.ErrUnsupported,
		"root=/dev/vda init=sbin/init": errdefs.ErrInvalid,
	} {
		if _, err := NewPlan(m, bootcfg.ParseCmdline(cmdline)); !errors.Is(err, want) {
			t.Errorf("NewPlan(%q) = %v, want %v", cmdline, err, want)
		}
	}
}

type fakeSystem struct {
	calls  []string
	exists map[string]bool
	fail   map[string]error
}

func (f *fakeSystem) rec(s string) error {
	f.calls = append(f.calls, s)
	return f.fail[s]
}
func (f *fakeSystem) LoadModule(p string) error { return f.rec("insmod " + p) }
func (f *fakeSystem) WaitDevice(p string, d time.Duration) error {
	return f.rec(fmt.Sprintf("wait %s %v", p, d))
}
func (f *fakeSystem) MkdirAll(p string) error { return f.rec("mkdir " + p) }
func (f *fakeSystem) Mount(s, t, fs string, fl uintptr, d string) error {
	return f.rec(fmt.Sprintf("mount %s %s %s %#x %s", s, t, fs, fl, d))
}
func (f *fakeSystem) Exists(p string) bool { return f.exists[p] }
func (f *fakeSystem) SwitchRoot(r, i string) error {
	return f.rec("switch_root " + r + " " + i)
}

func TestRun(t *testing.T) {
	m, _ := ParseManifest([]byte(manifest))
	p, _ := NewPlan(m, bootcfg.ParseCmdline("root=/dev/vda rw"))
	sys := &fakeSystem{
		exists: map[string]bool{"/newroot/.banger/agent": true, "/newroot/dev": true, "/newroot/proc": true},
		fail:   map[string]error{"switch_root /newroot /.banger/agent": errors.New("exec format error")},
	}
	err := Run(p, sys)
	want := []string{
		"insmod /lib/modules/6.1.0-56-cloud-amd64/kernel/drivers/virtio/virtio.ko",
		"insmod /lib/modules/6.1.0-56-cloud-amd64/kernel/drivers/virtio/virtio_ring.ko",
		"insmod /lib/modules/6.1.0-56-cloud-amd64/kernel/drivers/block/virtio_blk.ko",
		"wait /dev/vda 5s",
		"mkdir /newroot",
		"mount /dev/vda /newroot ext4 0x0 ",
		"mount /dev /newroot/dev  0x2000 ",
		"mount /proc /newroot/proc  0x2000 ",
		"mkdir /newroot/sys", // an image without /sys gets one
		"mount /sys /newroot/sys  0x2000 ",
		"switch_root /newroot /.banger/agent",
	}
	if !reflect.DeepEqual(sys.calls, want) {
		t.Fatalf("calls:\n%s\nwant:\n%s", strings.Join(sys.calls, "\n"), strings.Join(want, "\n"))
	}
	if err == nil || !strings.Contains(err.Error(), "exec format error") {
		t.Fatalf("a failed switch_root must be reported: %v", err)
	}

	failures := []struct {
		fail map[string]error
		miss bool
		want string
	}{
		{map[string]error{"insmod /lib/modules/6.1.0-56-cloud-amd64/kernel/drivers/virtio/virtio_ring.ko": errors.New("ENOEXEC")}, false, "load module"},
		{map[string]error{"wait /dev/vda 5s": errors.New("timeout")}, false, "did not appear within 5s"},
		{map[string]error{"mount /dev/vda /newroot ext4 0x0 ": errors.New("EINVAL")}, false, "mount /dev/vda (ext4)"},
		{nil, true, "not found on the root file system"},
	}
	for _, f := range failures {
		sys := &fakeSystem{fail: f.fail, exists: map[string]bool{"/newroot/.banger/agent": !f.miss}}
		if err := Run(p, sys); err == nil || !strings.Contains(err.Error(), f.want) {
			t.Errorf("Run with %v = %v, want %q", f.fail, err, f.want)
		}
		if last := sys.calls[len(sys.calls)-1]; strings.HasPrefix(last, "switch_root") {
			t.Errorf("switch_root after a failure")
		}
	}
}

func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(manifest))
	f.Add([]byte(`{"version":1,"kernel_release":"r","modules":["/lib/modules/r/a.ko"]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseManifest(b)
		if err != nil {
			return
		}
		for _, mod := range m.Modules {
			if strings.Contains(mod, "..") && strings.Contains(mod, "/../") {
				t.Fatalf("accepted a traversing module path %q", mod)
			}
		}
	})
}
