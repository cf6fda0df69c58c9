package bootcfg

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseCmdline(t *testing.T) {
	tests := []struct {
		in   string
		want Cmdline
	}{
		{
			in:   "console=ttyS0 root=/dev/vda rw init=/.banger/agent banger.cfg=/dev/vdb\n",
			want: Cmdline{Root: "/dev/vda", RootFSType: "ext4", Init: "/.banger/agent", Config: "/dev/vdb", Halt: "poweroff"},
		},
		{
			in:   "root=/dev/vda ro rootfstype=xfs rootflags=noatime banger.halt=reboot",
			want: Cmdline{Root: "/dev/vda", RootFSType: "xfs", RootFlags: "noatime", ReadOnly: true, Init: DefaultStage2, Halt: "reboot"},
		},
		{
			in:   "root=/dev/vda banger.load=virtiofs,,other",
			want: Cmdline{Root: "/dev/vda", RootFSType: "ext4", Init: DefaultStage2, Halt: "poweroff", Load: []string{"virtiofs", "other"}},
		},
		{
			in:   `ro rw root=/dev/vdb init="/sbin/my init" -- init=/evil banger.cfg=/dev/x`,
			want: Cmdline{Root: "/dev/vdb", RootFSType: "ext4", Init: "/sbin/my init", Halt: "poweroff"},
		},
		{
			in:   "",
			want: Cmdline{RootFSType: "ext4", Init: DefaultStage2, Halt: "poweroff"},
		},
		{
			in:   "banger.halt=shutdown root= quiet",
			want: Cmdline{RootFSType: "ext4", Init: DefaultStage2, Halt: "poweroff"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := ParseCmdline(tt.in)
			got.Args = nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseCmdline(%q)\n got %+v\nwant %+v", tt.in, got, tt.want)
			}
		})
	}
}

func FuzzParseCmdline(f *testing.F) {
	f.Add("console=ttyS0 root=/dev/vda rw init=/.banger/agent banger.cfg=/dev/vdb")
	f.Add(`a="b c" "d=e" -- x`)
	f.Add(`"""=`)
	f.Fuzz(func(t *testing.T, s string) {
		c := ParseCmdline(s)
		if c.Init == "" || c.RootFSType == "" {
			t.Fatalf("defaults lost: %+v", c)
		}
		if c.Halt != "poweroff" && c.Halt != "reboot" {
			t.Fatalf("halt %q", c.Halt)
		}
		for k := range c.Args {
			if strings.ContainsAny(k, " \t\n") && !strings.Contains(s, `"`) {
				t.Fatalf("key %q has a separator without quotes in input", k)
			}
		}
	})
}
