package procfs

import (
	"reflect"
	"strings"
	"testing"
)

const mountinfo = `22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/root rw
23 22 0:5 / /dev rw,nosuid shared:2 - devtmpfs devtmpfs rw,size=4k,mode=755
24 22 0:21 / /proc rw,nosuid,nodev,noexec shared:3 - proc proc rw
25 22 0:30 / /mnt/with\040space rw - tmpfs my\134src rw
garbage line
26 22 x:y / /bad rw - tmpfs tmpfs rw
`

func TestParseMountinfo(t *testing.T) {
	infos, err := ParseMountinfo(strings.NewReader(mountinfo))
	if err != nil {
		t.Fatal(err)
	}
	want := []MountInfo{
		{254, 0, "/", "ext4", "/dev/root", []string{"rw"}},
		{0, 5, "/dev", "devtmpfs", "devtmpfs", []string{"rw", "size=4k", "mode=755"}},
		{0, 21, "/proc", "proc", "proc", []string{"rw"}},
		{0, 30, "/mnt/with space", "tmpfs", `my\src`, []string{"rw"}},
	}
	if !reflect.DeepEqual(infos, want) {
		t.Fatalf("ParseMountinfo =\n%+v\nwant\n%+v", infos, want)
	}
}

func FuzzParseMountinfo(f *testing.F) {
	f.Add(mountinfo)
	f.Add(`1 2 3:4 / \06 rw - a b`)
	f.Fuzz(func(t *testing.T, s string) {
		infos, _ := ParseMountinfo(strings.NewReader(s))
		for _, i := range infos {
			if i.FSType == "" {
				t.Fatalf("entry without fs type: %+v", i)
			}
		}
	})
}
