package vmm

import (
	"slices"
	"testing"
)

func TestMarkedEnv(t *testing.T) {
	for _, tt := range []struct {
		env   []string
		marks []string
		want  []string
	}{
		{[]string{"PATH=/bin", "BANGER_VM=stale", "HOME=/root"}, nil, []string{"PATH=/bin", "HOME=/root", "BANGER_VM=vm1"}},
		{
			[]string{"BANGER_ROLE=old", "PATH=/bin", "BANGER_VMX=kept"},
			[]string{"BANGER_ROLE=virtiofsd"},
			[]string{"PATH=/bin", "BANGER_VMX=kept", "BANGER_VM=vm1", "BANGER_ROLE=virtiofsd"},
		},
	} {
		if got := MarkedEnv(tt.env, "vm1", tt.marks...); !slices.Equal(got, tt.want) {
			t.Errorf("MarkedEnv(%q, vm1, %q) = %q; want %q", tt.env, tt.marks, got, tt.want)
		}
	}
}
