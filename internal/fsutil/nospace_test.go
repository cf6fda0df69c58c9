package fsutil

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

func TestNoSpaceNamesTheFileSystem(t *testing.T) {
	dir := t.TempDir()
	gone := filepath.Join(dir, "scratch", "rootfs.ext4") // removed after the failure
	tests := []struct {
		name     string
		err      error
		fallback string
		full     bool // the result must say which file system is full
	}{
		{name: "errno of a write", err: fmt.Errorf("ext4: %w", &fs.PathError{Op: "write", Path: gone, Err: syscall.ENOSPC}), fallback: "/nowhere", full: true},
		{name: "a tool's words", err: errors.New("qemu-img: Could not write qcow2 header: No space left on device"), fallback: gone, full: true},
		{name: "quota", err: &fs.PathError{Op: "write", Path: gone, Err: syscall.EDQUOT}, full: true},
		{name: "another error", err: &fs.PathError{Op: "write", Path: gone, Err: syscall.EIO}, fallback: gone},
		{name: "no error", err: nil, fallback: gone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := NoSpace(tt.err, tt.fallback)
			if !tt.full {
				if !errors.Is(got, tt.err) || (got != nil && got.Error() != tt.err.Error()) {
					t.Fatalf("NoSpace changed %v into %v", tt.err, got)
				}
				return
			}
			if !errors.Is(got, tt.err) {
				t.Errorf("%v does not wrap %v", got, tt.err)
			}
			if !strings.HasPrefix(got.Error(), tt.err.Error()) || !strings.Contains(got.Error(), "is full") {
				t.Errorf("message %q", got)
			}
			if runtime.GOOS == "linux" {
				m, ok := mountOf(dir)
				if !ok || !strings.Contains(got.Error(), "the file system at "+m.dir+", "+m.fstype) {
					t.Errorf("message %q does not name the mount of %s (%+v)", got, dir, m)
				}
			}
		})
	}
}

func TestMountFor(t *testing.T) {
	table := strings.Join([]string{
		"22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw",
		"36 22 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue",
		"24 22 0:22 / /tmp/with\\040space rw shared:5 - tmpfs tmpfs rw,size=1024k",
		"25 22 0:23 / /odd\\05 rw - tmpfs tmpfs rw",
		"",
		"37 22 98:1 / /mnt/parent/broken rw",
		"38 36 0:24 / /mnt/parent/deeper rw - xfs /dev/sdb rw",
	}, "\n")
	for _, tt := range []struct {
		path string
		want mount
	}{
		{"/mnt/parent/file", mount{dir: "/mnt/parent", fstype: "ext3"}},
		{"/mnt/parent", mount{dir: "/mnt/parent", fstype: "ext3"}},
		{"/mnt/parent/deeper/x", mount{dir: "/mnt/parent/deeper", fstype: "xfs"}},
		{"/mnt/parent/broken/x", mount{dir: "/mnt/parent", fstype: "ext3"}}, // a malformed line is no mount
		{"/mnt/parentless", mount{dir: "/", fstype: "ext4"}},
		{"/tmp/with space/f", mount{dir: "/tmp/with space", fstype: "tmpfs"}},
		{"/odd\\05/f", mount{dir: "/odd\\05", fstype: "tmpfs"}},
	} {
		if got, ok := mountFor(table, tt.path); !ok || got != tt.want {
			t.Errorf("mountFor(%q) = %+v, %v; want %+v", tt.path, got, ok, tt.want)
		}
	}
	if got, ok := mountFor("36 35 98:0 /mnt1 /mnt/parent rw", "/mnt/parent"); ok {
		t.Errorf("mountFor found %+v in a table without a valid line", got)
	}
	for path, dir := range map[string]bool{"/a/b": true, "/a": true, "/ab": false} {
		if within(path, "/a") != dir {
			t.Errorf("within(%q, /a) = %v", path, !dir)
		}
	}
}
