package vms

import (
	"testing"

	"github.com/bangerdev/banger/internal/handles"
	"github.com/bangerdev/banger/internal/vmm"
)

// inspect's confinement line comes from the record: the backend's own
// confinement, a jail, or none; nothing while no VMM is recorded.
func TestSummaryConfinement(t *testing.T) {
	confined := &vmm.Confinement{User: "banger-vmm", UID: 999, Sandbox: "on"}
	for _, tt := range []struct {
		name string
		vmm  *handles.VMM
		want string
	}{
		{"stopped", nil, ""},
		{"confined", &handles.VMM{Handles: vmm.Handles{Backend: "qemu", Confinement: confined}}, "user banger-vmm (uid 999), seccomp sandbox"},
		{"jailed", &handles.VMM{Handles: vmm.Handles{Backend: "firecracker", JailDir: "/srv/jailer/firecracker/x"}}, "jail /srv/jailer/firecracker/x"},
		{"as root", &handles.VMM{Handles: vmm.Handles{Backend: "qemu"}}, "none"},
	} {
		if got := summarize(&handles.Record{VMM: tt.vmm}, "tcg").Confinement; got != tt.want {
			t.Errorf("%s: confinement %q; want %q", tt.name, got, tt.want)
		}
	}
}
