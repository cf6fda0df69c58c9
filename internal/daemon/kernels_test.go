package daemon

import (
	"path/filepath"
	"testing"

	"github.com/bangerdev/banger/internal/api"
	"github.com/bangerdev/banger/internal/kernelcat"
	"github.com/bangerdev/banger/internal/store"
)

// kernelUser, the kernel catalog's InUse, finds a VM that names the kernel
// in its spec, or names none while the kernel is the default.
func TestKernelUser(t *testing.T) {
	for _, tc := range []struct {
		name string
		k    kernelcat.Kernel
		vm   api.VM
		want string
	}{
		{"by name", kernelcat.Kernel{Name: "fc"}, api.VM{ID: "v1", Name: "web", Spec: api.VMSpec{Kernel: "fc"}}, "web"},
		{"as the default", kernelcat.Kernel{Name: "deb", Default: true}, api.VM{ID: "v1", Name: "db"}, "db"},
		{"unnamed VM", kernelcat.Kernel{Name: "fc"}, api.VM{ID: "v1", Spec: api.VMSpec{Kernel: "fc"}}, "v1"},
		{"not the default", kernelcat.Kernel{Name: "deb"}, api.VM{ID: "v1", Name: "db"}, ""},
		{"another kernel", kernelcat.Kernel{Name: "deb", Default: true}, api.VM{ID: "v1", Name: "web", Spec: api.VMSpec{Kernel: "fc"}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := withVM(t, tc.vm, func(tx *store.Tx) string { return kernelUser(tx, tc.k) }); got != tc.want {
				t.Fatalf("kernelUser = %q, want %q", got, tc.want)
			}
		})
	}
}

// withVM answers query in a store holding only vm.
func withVM(t *testing.T, vm api.VM, query func(*store.Tx) string) string {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	if err := st.Put(store.VMs, vm.ID, vm); err != nil {
		t.Fatal(err)
	}
	var got string
	if err := st.View(func(tx *store.Tx) error { got = query(tx); return nil }); err != nil {
		t.Fatal(err)
	}
	return got
}
