package testutil

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/vmm/kvm"
)

// detectKVM on fixture hosts: a device node (missing, a directory that
// cannot be opened read-write, a file standing in for a device whose
// ioctls are replaced), CPU flags and loaded modules.
func TestDetectKVM(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "kvm")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	dev := func(path string, checkErr error) kvm.Device {
		return kvm.Device{
			Path:       path,
			APIVersion: func(string) (int, error) { return kvm.APIVersion, checkErr },
			CreateVM:   func(string) error { return nil },
		}
	}
	host := func(flags string, mods ...string) (cpuinfo, modules string) {
		d := t.TempDir()
		cpuinfo, modules = filepath.Join(d, "cpuinfo"), filepath.Join(d, "module")
		if err := os.WriteFile(cpuinfo, []byte("processor\t: 0\nflags\t\t: "+flags+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, m := range append(mods, "kvm") {
			if err := os.MkdirAll(filepath.Join(modules, m), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		return cpuinfo, modules
	}
	notKVM := errors.New("kvm is not a KVM device (KVM_GET_API_VERSION: inappropriate ioctl for device)")
	tests := []struct {
		name    string
		dev     kvm.Device
		flags   string
		mods    []string
		want    KVMKind
		problem string
	}{
		{"kvm_pvm loaded, no node", dev(filepath.Join(dir, "none"), nil), "fpu hypervisor", []string{"kvm_pvm"}, KVMAbsent, ""},
		{"no KVM at all", dev(filepath.Join(dir, "none"), nil), "fpu", nil, KVMAbsent, ""},
		{"node cannot be opened", dev(dir, nil), "fpu hypervisor", []string{"kvm_pvm"}, KVMUnopenable, "is a directory"},
		{"node is not KVM", dev(file, notKVM), "fpu hypervisor", []string{"kvm_pvm"}, KVMBroken, notKVM.Error()},
		{"paravirtual", dev(file, nil), "fpu hypervisor", []string{"kvm_pvm"}, KVMParavirtual, ""},
		{"paravirtual on a vmx CPU", dev(file, nil), "fpu vmx hypervisor", []string{"kvm_pvm"}, KVMParavirtual, ""},
		{"intel", dev(file, nil), "fpu vmx", []string{"kvm_intel"}, KVMHardware, ""},
		{"amd", dev(file, nil), "fpu svm", []string{"kvm_amd"}, KVMHardware, ""},
		{"vmx, no vendor module", dev(file, nil), "fpu vmx", nil, KVMUnknown, ""},
		{"kvm_pvm next to kvm_intel", dev(file, nil), "fpu vmx", []string{"kvm_intel", "kvm_pvm"}, KVMUnknown, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cpuinfo, modules := host(tt.flags, tt.mods...)
			got := detectKVM(tt.dev, cpuinfo, modules)
			if got.Kind != tt.want || !strings.Contains(got.Problem, tt.problem) || (tt.problem == "") != (got.Problem == "") {
				t.Fatalf("detectKVM = %v (%d, %q); want %v with problem %q", got, got.Kind, got.Problem, tt.want, tt.problem)
			}
		})
	}
}
