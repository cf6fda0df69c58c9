package vmm

import "testing"

func TestConfinementSummary(t *testing.T) {
	for _, tt := range []struct {
		c    *Confinement
		want string
	}{
		{nil, ""},
		{&Confinement{}, ""},
		{&Confinement{User: "banger-vmm", UID: 999, GID: 999, Sandbox: "on"}, "user banger-vmm (uid 999), seccomp sandbox"},
		{
			&Confinement{User: "banger-vmm", UID: 999, Cgroup: &Cgroup{Version: 1, MemoryMax: 704643072, PidsMax: 98}},
			"user banger-vmm (uid 999), cgroup v1 (memory 704643072 bytes, 98 tasks)",
		},
		{&Confinement{Sandbox: "on", Cgroup: &Cgroup{Version: 2, MemoryMax: 1, PidsMax: 2}}, "seccomp sandbox, cgroup v2 (memory 1 bytes, 2 tasks)"},
	} {
		if got := tt.c.Summary(); got != tt.want {
			t.Errorf("%+v: Summary() = %q; want %q", tt.c, got, tt.want)
		}
	}
}
