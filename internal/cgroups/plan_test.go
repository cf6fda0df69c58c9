package cgroups

import (
	"errors"
	"reflect"
	"testing"

	"github.com/bangerdev/banger/pkg/errdefs"
)

const hybridMountinfo = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`

const unifiedMountinfo = `22 1 0:21 / /proc rw,nosuid - proc proc rw
27 22 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`

func TestParseMounts(t *testing.T) {
	got := ParseMounts(hybridMountinfo + "garbage line\n99 1 0:1 / /odd\\040dir rw - cgroup2 cgroup2 rw\n")
	want := []Mount{
		{Point: "/sys/fs/cgroup/cpu", Options: []string{"rw", "cpu"}},
		{Point: "/sys/fs/cgroup/memory", Options: []string{"rw", "memory"}},
		{Point: "/sys/fs/cgroup/pids", Options: []string{"rw", "pids"}},
		{Point: "/sys/fs/cgroup/systemd", Options: []string{"rw", "name=systemd"}},
		{Point: "/sys/fs/cgroup/unified", V2: true},
		{Point: "/odd dir", V2: true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("mounts:\n got %+v\nwant %+v", got, want)
	}
}

func TestChoose(t *testing.T) {
	ctrl := func(m map[string][]string) func(string) ([]string, error) {
		return func(p string) ([]string, error) { return m[p], nil }
	}
	tests := []struct {
		name      string
		mountinfo string
		ctrl      map[string][]string
		want      Host
		why       string
	}{
		{
			name: "unified with both controllers", mountinfo: unifiedMountinfo,
			ctrl: map[string][]string{"/sys/fs/cgroup": {"cpuset", "cpu", "io", "memory", "pids"}},
			want: Host{Version: 2, Unified: "/sys/fs/cgroup"},
		},
		{
			name: "hybrid: v2 has only hugetlb, v1 has both", mountinfo: hybridMountinfo,
			ctrl: map[string][]string{"/sys/fs/cgroup/unified": {"hugetlb"}},
			want: Host{Version: 1, V1: map[string]string{"memory": "/sys/fs/cgroup/memory", "pids": "/sys/fs/cgroup/pids"}},
		},
		{
			name: "v2 without pids, no v1", mountinfo: unifiedMountinfo,
			ctrl: map[string][]string{"/sys/fs/cgroup": {"cpu", "memory"}},
			why:  "no cgroup hierarchy with the memory and pids controllers: cgroup v2 at /sys/fs/cgroup offers cpu+memory, not pids",
		},
		{
			name: "nothing mounted", mountinfo: "22 1 0:21 / /proc rw - proc proc rw\n",
			why: "no cgroup hierarchy with the memory and pids controllers: no cgroup file system is mounted",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Choose(ParseMounts(tt.mountinfo), ctrl(tt.ctrl))
			tt.want.Why = tt.why
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("host:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestPlanFor(t *testing.T) {
	l := Limits{MemoryBytes: 1 << 30, Pids: 130}
	v2 := Host{Version: 2, Unified: "/sys/fs/cgroup"}
	got, err := PlanFor(v2, "banger.slice", "vm-abc", l)
	if err != nil {
		t.Fatal(err)
	}
	want := Plan{
		Version: 2,
		Parents: []string{"/sys/fs/cgroup/banger.slice"},
		Enable: []Write{
			{"/sys/fs/cgroup/cgroup.subtree_control", "+memory +pids"},
			{"/sys/fs/cgroup/banger.slice/cgroup.subtree_control", "+memory +pids"},
		},
		Groups: []string{"/sys/fs/cgroup/banger.slice/vm-abc"},
		Limits: []Write{
			{"/sys/fs/cgroup/banger.slice/vm-abc/memory.max", "1073741824"},
			{"/sys/fs/cgroup/banger.slice/vm-abc/pids.max", "130"},
		},
		Dirs: map[string]string{"memory": "/sys/fs/cgroup/banger.slice/vm-abc", "pids": "/sys/fs/cgroup/banger.slice/vm-abc"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("v2 plan:\n got %+v\nwant %+v", got, want)
	}

	v1 := Host{Version: 1, V1: map[string]string{"memory": "/sys/fs/cgroup/memory", "pids": "/sys/fs/cgroup/pids"}}
	got, err = PlanFor(v1, "banger.slice/x", "vm-abc", l)
	if err != nil {
		t.Fatal(err)
	}
	want = Plan{
		Version: 1,
		Parents: []string{"/sys/fs/cgroup/memory/banger.slice/x", "/sys/fs/cgroup/pids/banger.slice/x"},
		Groups:  []string{"/sys/fs/cgroup/memory/banger.slice/x/vm-abc", "/sys/fs/cgroup/pids/banger.slice/x/vm-abc"},
		Limits: []Write{
			{"/sys/fs/cgroup/memory/banger.slice/x/vm-abc/memory.limit_in_bytes", "1073741824"},
			{"/sys/fs/cgroup/pids/banger.slice/x/vm-abc/pids.max", "130"},
		},
		Dirs: map[string]string{"memory": "/sys/fs/cgroup/memory/banger.slice/x/vm-abc", "pids": "/sys/fs/cgroup/pids/banger.slice/x/vm-abc"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("v1 plan:\n got %+v\nwant %+v", got, want)
	}
}

func TestPlanForRefuses(t *testing.T) {
	v2 := Host{Version: 2, Unified: "/sys/fs/cgroup"}
	l := Limits{MemoryBytes: 1, Pids: 1}
	for _, tt := range []struct {
		name          string
		host          Host
		parent, group string
		limits        Limits
		want          error
	}{
		{"absolute parent", v2, "/etc", "vm", l, errdefs.ErrInvalid},
		{"parent escapes", v2, "a/../../etc", "vm", l, errdefs.ErrInvalid},
		{"dotdot parent", v2, "..", "vm", l, errdefs.ErrInvalid},
		{"name with slash", v2, "banger.slice", "a/b", l, errdefs.ErrInvalid},
		{"name dotdot", v2, "banger.slice", "..", l, errdefs.ErrInvalid},
		{"no limits", v2, "banger.slice", "vm", Limits{}, errdefs.ErrInvalid},
		{"no cgroups", Host{Why: "none here"}, "banger.slice", "vm", l, errdefs.ErrUnavailable},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := PlanFor(tt.host, tt.parent, tt.group, tt.limits); !errors.Is(err, tt.want) {
				t.Errorf("PlanFor: %v; want %v", err, tt.want)
			}
		})
	}
}

func FuzzParseMounts(f *testing.F) {
	f.Add(hybridMountinfo)
	f.Add(unifiedMountinfo)
	f.Add("1 2 3 4 \\\\0 - cgroup x y\n")
	f.Fuzz(func(t *testing.T, s string) {
		for _, m := range ParseMounts(s) {
			if m.Point == "" {
				t.Fatalf("mount with no point from %q", s)
			}
		}
		_ = Choose(ParseMounts(s), func(string) ([]string, error) { return Controllers, nil })
	})
}
