package main

import (
	"slices"
	"testing"
)

func TestPlainArgv(t *testing.T) {
	argv := []string{"/usr/bin/setpriv", "--reuid=999", "--", "/usr/bin/qemu-system-x86_64",
		"-sandbox", "on,spawn=deny", "-kernel", "/proc/self/fd/3",
		"-add-fd", "fd=5,set=1", "-chardev", "file,id=console,path=/dev/fdset/1,append=on",
		"-chardev", "socket,id=qmp,fd=6,server=on,wait=off",
		"-add-fd", "fd=8,set=2", "-add-fd", "fd=9,set=2", "-add-fd", "fd=10,set=3",
		"-drive", "id=disk0,if=none,file=/dev/fdset/2,format=qcow2,backing.file.filename=/dev/fdset/3,backing.driver=raw,discard=unmap",
	}
	files := map[string]string{"3": "/k/vmlinux", "5": "/vm/console.log", "8": "/vm/disk.qcow2", "9": "/vm/disk.qcow2", "10": "/img/rootfs.ext4"}
	got := plainArgv(argv, func(fd string) string { return files[fd] })
	want := []string{"/usr/bin/qemu-system-x86_64", "-kernel", "/k/vmlinux",
		"-chardev", "file,id=console,path=/vm/console.log,append=on",
		"-chardev", "socket,id=qmp,fd=6,server=on,wait=off",
		"-drive", "id=disk0,if=none,file=/vm/disk.qcow2,format=qcow2,backing.file.filename=/img/rootfs.ext4,backing.driver=raw,discard=unmap",
	}
	if !slices.Equal(got, want) {
		t.Errorf("argv:\n got %q\nwant %q", got, want)
	}
}
