package vms

import (
	"path/filepath"
	"testing"

	"github.com/bangerdev/banger/internal/store"
)

// ImageUser finds a VM by the image id it was created from or by the image
// name its spec gives, short or canonical.
func TestImageUser(t *testing.T) {
	const id, name = "0123456789abcdef", "docker.io/library/debian:bookworm"
	for _, tc := range []struct {
		name string
		vm   VM
		want string
	}{
		{"by id", VM{ID: "v1", Name: "web", ImageID: id}, "web"},
		{"by short name", VM{ID: "v1", Name: "db", Spec: Spec{Image: "debian:bookworm"}}, "db"},
		{"by canonical name", VM{ID: "v1", Name: "db", Spec: Spec{Image: name}}, "db"},
		{"unnamed VM", VM{ID: "v1", ImageID: id}, "v1"},
		{"another image", VM{ID: "v1", Name: "web", ImageID: "ffff", Spec: Spec{Image: "debian:trixie"}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := withVM(t, tc.vm, func(tx *store.Tx) string { return ImageUser(tx, id, name) }); got != tc.want {
				t.Fatalf("ImageUser = %q, want %q", got, tc.want)
			}
		})
	}
}

// KernelUser finds a VM that names the kernel in its spec, or names none
// while the kernel is the default.
func TestKernelUser(t *testing.T) {
	for _, tc := range []struct {
		name      string
		kernel    string
		isDefault bool
		vm        VM
		want      string
	}{
		{"by name", "fc", false, VM{ID: "v1", Name: "web", Spec: Spec{Kernel: "fc"}}, "web"},
		{"as the default", "deb", true, VM{ID: "v1", Name: "db"}, "db"},
		{"unnamed VM", "fc", false, VM{ID: "v1", Spec: Spec{Kernel: "fc"}}, "v1"},
		{"not the default", "deb", false, VM{ID: "v1", Name: "db"}, ""},
		{"another kernel", "deb", true, VM{ID: "v1", Name: "web", Spec: Spec{Kernel: "fc"}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := withVM(t, tc.vm, func(tx *store.Tx) string { return KernelUser(tx, tc.kernel, tc.isDefault) }); got != tc.want {
				t.Fatalf("KernelUser = %q, want %q", got, tc.want)
			}
		})
	}
}

// withVM answers query in a store holding only vm.
func withVM(t *testing.T, vm VM, query func(*store.Tx) string) string {
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
	_ = st.View(func(tx *store.Tx) error { got = query(tx); return nil })
	return got
}

// A record written when banger called an exited VM "stopped" reads as
// exited.
func TestLegacyStoppedStateReadsAsExited(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	if err := st.Put(store.VMs, "v1", map[string]any{"id": "v1", "name": "old", "state": "stopped"}); err != nil {
		t.Fatal(err)
	}
	vm, err := store.Get[VM](st, store.VMs, "v1")
	if err != nil || vm.State != Exited {
		t.Fatalf("state %q, %v; want exited", vm.State, err)
	}
}
