package qemu

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/cgroups"
	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/pkg/errdefs"
)

func TestLimitsFor(t *testing.T) {
	for _, tt := range []struct {
		cpus, mem int
		want      cgroups.Limits
	}{
		{1, 512, cgroups.Limits{MemoryBytes: (512 + 384 + 64) << 20, Pids: 98}},
		{4, 4096, cgroups.Limits{MemoryBytes: (4096 + 384 + 512) << 20, Pids: 104}},
		{1, 64, cgroups.Limits{MemoryBytes: (64 + 384 + 8) << 20, Pids: 98}},
	} {
		if got := limitsFor(tt.cpus, tt.mem); got != tt.want {
			t.Errorf("limitsFor(%d, %d) = %+v; want %+v", tt.cpus, tt.mem, got, tt.want)
		}
	}
}

func TestSetprivArgv(t *testing.T) {
	got := setprivArgv("/usr/bin/setpriv", userIDs{UID: 999, GID: 995, Groups: []int{993}}, 65534)
	want := []string{"/usr/bin/setpriv", "--reuid=999", "--rgid=65534", "--egid=995", "--groups=993",
		"--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"}
	if !slices.Equal(got, want) {
		t.Errorf("argv %q; want %q", got, want)
	}
	if got := setprivArgv("setpriv", userIDs{UID: 5, GID: 6}, 65534); got[4] != "--clear-groups" {
		t.Errorf("a user without supplementary groups: %q; want --clear-groups", got)
	}
}

func TestPlanConfinement(t *testing.T) {
	v2 := cgroups.Host{Version: 2, Unified: "/sys/fs/cgroup"}
	full := confineFacts{User: &userIDs{UID: 999, GID: 995}, Setpriv: "/usr/bin/setpriv", Cgroups: v2, OverflowGID: 65534}
	conf := Confine{User: "banger-vmm", CgroupParent: "banger.slice"}
	allow := conf
	allow.AllowUnconfined = true
	group := "/sys/fs/cgroup/banger.slice/vm-abc"
	mem := int64(512+384+64) << 20

	tests := []struct {
		name     string
		conf     Confine
		edit     func(*confineFacts)
		record   *vmm.Confinement
		launcher bool
		summary  string
		missing  string
		refused  bool
	}{
		{
			name: "everything available", conf: conf,
			record: &vmm.Confinement{User: "banger-vmm", UID: 999, GID: 995, Sandbox: sandboxOpts,
				Cgroup: &vmm.Cgroup{Version: 2, Dirs: map[string]string{"memory": group, "pids": group}, MemoryMax: mem, PidsMax: 98}},
			launcher: true,
			summary:  "user banger-vmm (uid 999), no capabilities, not dumpable, seccomp sandbox, cgroup v2 memory+pids under banger.slice",
		},
		{
			name: "no user: refused", conf: conf,
			edit:    func(f *confineFacts) { f.User, f.UserErr = nil, "does not exist" },
			record:  &vmm.Confinement{Sandbox: sandboxOpts, Cgroup: &vmm.Cgroup{Version: 2, Dirs: map[string]string{"memory": group, "pids": group}, MemoryMax: mem, PidsMax: 98}},
			summary: "seccomp sandbox, cgroup v2 memory+pids under banger.slice",
			missing: "user banger-vmm: does not exist: run `sudo banger setup`",
			refused: true,
		},
		{
			name: "no setpriv, allowed: the rest still applies", conf: allow,
			edit:    func(f *confineFacts) { f.Setpriv = "" },
			record:  &vmm.Confinement{Sandbox: sandboxOpts, Cgroup: &vmm.Cgroup{Version: 2, Dirs: map[string]string{"memory": group, "pids": group}, MemoryMax: mem, PidsMax: 98}},
			summary: "seccomp sandbox, cgroup v2 memory+pids under banger.slice",
			missing: "setpriv not found in PATH: install util-linux",
		},
		{
			name: "no cgroup controllers, allowed", conf: allow,
			edit: func(f *confineFacts) {
				f.Cgroups = cgroups.Host{Why: "no cgroup hierarchy with the memory and pids controllers"}
			},
			record:   &vmm.Confinement{User: "banger-vmm", UID: 999, GID: 995, Sandbox: sandboxOpts},
			launcher: true,
			summary:  "user banger-vmm (uid 999), no capabilities, not dumpable, seccomp sandbox",
			missing:  "no cgroup limits: unavailable: no cgroup hierarchy with the memory and pids controllers",
		},
		{
			name: "cgroup not delegated: refused", conf: conf,
			edit:     func(f *confineFacts) { f.CgroupErr = errors.New("/sys/fs/cgroup is not writable") },
			record:   &vmm.Confinement{User: "banger-vmm", UID: 999, GID: 995, Sandbox: sandboxOpts},
			launcher: true,
			summary:  "user banger-vmm (uid 999), no capabilities, not dumpable, seccomp sandbox",
			missing:  "no cgroup limits: /sys/fs/cgroup is not writable",
			refused:  true,
		},
		{
			name: "nothing at all, allowed", conf: allow,
			edit: func(f *confineFacts) {
				f.User, f.UserErr, f.SandboxErr, f.Cgroups = nil, "does not exist", errors.New("built without seccomp"), cgroups.Host{Why: "none"}
			},
			summary: "none: qemu runs as root",
			missing: "qemu has no seccomp sandbox: built without seccomp",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := full
			if tt.edit != nil {
				tt.edit(&f)
			}
			c := planConfinement(tt.conf, f, "abc", 1, 512)
			if !reflect.DeepEqual(c.record, tt.record) {
				t.Errorf("record:\n got %+v\nwant %+v", c.record, tt.record)
				if c.record != nil && tt.record != nil {
					t.Errorf("cgroup: got %+v want %+v", c.record.Cgroup, tt.record.Cgroup)
				}
			}
			if (len(c.launcher) > 0) != tt.launcher {
				t.Errorf("launcher %q; want one: %v", c.launcher, tt.launcher)
			}
			if (c.sandbox != "") != (f.SandboxErr == nil) {
				t.Errorf("sandbox %q with sandbox support error %v", c.sandbox, f.SandboxErr)
			}
			if c.status.Summary != tt.summary {
				t.Errorf("summary %q; want %q", c.status.Summary, tt.summary)
			}
			if got := strings.Join(c.status.Missing, "; "); (tt.missing == "") != (got == "") || !strings.Contains(got, tt.missing) {
				t.Errorf("missing %q; want it to contain %q", got, tt.missing)
			}
			if c.status.Refused != tt.refused || (c.err() != nil) != tt.refused {
				t.Errorf("refused %v, err %v; want refused %v", c.status.Refused, c.err(), tt.refused)
			}
			if tt.refused && (!errors.Is(c.err(), errdefs.ErrUnavailable) || !strings.Contains(c.err().Error(), `unconfined = "allow"`)) {
				t.Errorf("refusal %v should be ErrUnavailable and name the setting that allows it", c.err())
			}
		})
	}
}
