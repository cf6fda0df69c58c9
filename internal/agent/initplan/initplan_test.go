package initplan

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/bootcfg"
	"github.com/bangerdev/banger/internal/procfs"
)

func targets(p Plan) []string {
	var out []string
	for _, m := range p.Mounts {
		out = append(out, m.Target)
	}
	return out
}

func TestStage2MountsOnlyWhatIsMissing(t *testing.T) {
	tests := []struct {
		name    string
		mounted []string
		want    []string
	}{
		{"bare kernel root", []string{"/"}, []string{"/proc", "/sys", "/dev", "/dev/pts", "/dev/shm", "/run", "/sys/fs/cgroup"}},
		{"after stage 1 moved dev proc sys", []string{"/", "/dev", "/proc", "/sys"}, []string{"/dev/pts", "/dev/shm", "/run", "/sys/fs/cgroup"}},
		{"everything there", []string{"/", "/proc", "/sys", "/dev", "/dev/pts", "/dev/shm", "/run", "/sys/fs/cgroup"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := map[string]bool{}
			for _, p := range tt.mounted {
				m[p] = true
			}
			if got := targets(Stage2(m)); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Stage2 mounts %v, want %v", got, tt.want)
			}
		})
	}
	p := Stage2(nil)
	byTarget := map[string]Mount{}
	for _, m := range p.Mounts {
		byTarget[m.Target] = m
	}
	if m := byTarget["/dev/pts"]; m.FSType != "devpts" || !strings.Contains(m.Data, "ptmxmode=0666") {
		t.Errorf("devpts mount %+v", m)
	}
	if _, ok := byTarget["/tmp"]; ok {
		t.Error("/tmp is mounted over: it must stay on the VM's disk")
	}
	if len(p.Dirs) != 1 || p.Dirs[0] != (Dir{Path: "/tmp", Mode: os.ModeSticky | 0o777}) {
		t.Errorf("dirs %+v: want /tmp, 1777", p.Dirs)
	}
	tp := Tmpfs([]bootcfg.Tmpfs{{Path: "/scratch", Options: "size=64m"}})
	if len(tp.Mounts) != 1 || tp.Mounts[0].Target != "/scratch" || tp.Mounts[0].FSType != "tmpfs" || tp.Mounts[0].Data != "size=64m" {
		t.Errorf("tmpfs plan %+v", tp.Mounts)
	}
	if !byTarget["/sys/fs/cgroup"].Optional || byTarget["/proc"].Optional {
		t.Error("only cgroup2 is optional")
	}
	if got := targets(Initramfs()); !reflect.DeepEqual(got, []string{"/proc", "/sys", "/dev"}) {
		t.Errorf("Initramfs mounts %v", got)
	}
}

type recorder struct {
	calls []string
	fail  map[string]error
}

func (r *recorder) Mount(source, target, fstype string, flags uintptr, data string) error {
	r.calls = append(r.calls, fmt.Sprintf("mount %s %s %s %#x %s", source, target, fstype, flags, data))
	return r.fail["mount "+target]
}
func (r *recorder) MkdirAll(path string, mode os.FileMode) error {
	r.calls = append(r.calls, fmt.Sprintf("mkdir %s %v", path, mode))
	return r.fail["mkdir "+path]
}
func (r *recorder) Symlink(target, path string) error {
	r.calls = append(r.calls, "symlink "+path+" -> "+target)
	return r.fail["symlink "+path]
}

func TestApply(t *testing.T) {
	r := &recorder{fail: map[string]error{
		"mount /sys/fs/cgroup": errors.New("no cgroup2"),
		"symlink /dev/fd":      os.ErrExist,
		"mount /run":           errors.New("EBUSY"),
	}}
	err := Apply(Stage2(map[string]bool{"/": true, "/proc": true, "/sys": true, "/dev": true}), r)
	if err == nil || !strings.Contains(err.Error(), "mount tmpfs on /run: EBUSY") {
		t.Fatalf("Apply error = %v; want only the /run failure", err)
	}
	if strings.Contains(err.Error(), "cgroup") || strings.Contains(err.Error(), "/dev/fd") {
		t.Fatalf("optional mount or existing link reported: %v", err)
	}
	want := []string{
		"mkdir /dev/pts -rwxr-xr-x",
		"mount devpts /dev/pts devpts 0xa gid=5,mode=0620,ptmxmode=0666",
		"mkdir /dev/shm trwxrwxrwx",
		"mount shm /dev/shm tmpfs 0x6 mode=1777",
		"mkdir /run -rwxr-xr-x",
		"mount tmpfs /run tmpfs 0x6 mode=0755",
		"mkdir /sys/fs/cgroup -r-xr-xr-x",
		"mount cgroup2 /sys/fs/cgroup cgroup2 0xe ",
		"mkdir /tmp trwxrwxrwx",
		"symlink /dev/fd -> /proc/self/fd",
		"symlink /dev/stdin -> /proc/self/fd/0",
		"symlink /dev/stdout -> /proc/self/fd/1",
		"symlink /dev/stderr -> /proc/self/fd/2",
		"symlink /dev/core -> /proc/kcore",
	}
	if !reflect.DeepEqual(r.calls, want) {
		t.Fatalf("calls:\n%s\nwant:\n%s", strings.Join(r.calls, "\n"), strings.Join(want, "\n"))
	}
}

func TestMountPoints(t *testing.T) {
	infos := []procfs.MountInfo{{Point: "/"}, {Point: "/dev"}, {Point: "/mnt/with space"}}
	if mp := MountPoints(infos); !mp["/dev"] || !mp["/"] || !mp["/mnt/with space"] || mp["/sys"] || len(mp) != 3 {
		t.Errorf("MountPoints = %v", mp)
	}
}
