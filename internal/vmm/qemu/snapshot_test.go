package qemu

import (
	"os"
	"reflect"
	"slices"
	"strconv"
	"testing"

	"github.com/bangerdev/banger/internal/vmm"
)

// Guest RAM is the backend "mem" whatever holds it, so a snapshot of any
// machine loads into any other; a restore inherits the state file last and
// waits for it (-incoming defer).
func TestCommandLineMemoryAndIncoming(t *testing.T) {
	cmdline := "root=/dev/vda rw console=ttyS0 reboot=t panic=-1"
	base := common("kvm", "host", cmdline)
	memObj := len(base) - 1
	with := func(obj string, tail ...string) []string {
		w := slices.Clone(base)
		w[memObj] = obj
		return append(w, tail...)
	}
	tests := []struct {
		name  string
		l     launch
		want  []string
		files []inherited
	}{
		{"anonymous RAM", launch{}, base, commonFiles()},
		{"RAM in a shared file", launch{memFile: "/run/banger/vms/vm1/mem", memShare: true},
			with("memory-backend-file,id=mem,size=512M,mem-path=/proc/self/fd/8,share=on"),
			append(commonFiles(), inherited{Path: "/run/banger/vms/vm1/mem", Flag: os.O_RDWR | os.O_CREATE})},
		{"restore, RAM in the state file", launch{incoming: "/s/state"},
			with("memory-backend-ram,id=mem,size=512M", "-incoming", "defer"),
			append(commonFiles(), inherited{Path: "/s/state", Flag: os.O_RDONLY})},
		{"restore, RAM file copy-on-write", launch{incoming: "/s/state", memFile: "/s/mem"},
			with("memory-backend-file,id=mem,size=512M,mem-path=/proc/self/fd/8,share=off", "-incoming", "defer"),
			append(commonFiles(), inherited{Path: "/s/mem", Flag: os.O_RDWR}, inherited{Path: "/s/state", Flag: os.O_RDONLY})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.l.spec, tt.l.accel = baseSpec(), AccelKVM
			got, files, err := commandLine(tt.l)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("args:\n got %q\nwant %q", got, tt.want)
			}
			if !reflect.DeepEqual(files, tt.files) {
				t.Errorf("files:\n got %+v\nwant %+v", files, tt.files)
			}
			if tt.l.incoming != "" {
				// The state file is the last inherited: descriptor 2+n.
				if fd := stateFD(make([]*os.File, len(files))); fd != strconv.Itoa(2+len(files)) || files[len(files)-1].Path != tt.l.incoming {
					t.Errorf("state fd %s of %d files", fd, len(files))
				}
			}
		})
	}
	l := launch{spec: baseSpec(), accel: AccelKVM, memFile: "/m"}
	l.spec.SharedDirs = []vmm.SharedDir{{Tag: "v0", Socket: "/s.sock"}}
	if _, _, err := commandLine(l); err == nil {
		t.Error("a memory file and shared dirs together were accepted")
	}
}
