// Package kvm answers the first question every VMM asks of a host: is its
// KVM device one this process can use? Device.Check makes the calls QEMU
// and Firecracker make first — open the device, KVM_GET_API_VERSION,
// KVM_CREATE_VM — and says which one failed.
//
// Passing the check does not mean KVM can run a standard guest: a
// paravirtual KVM (the kvm_pvm module) passes all three and still fails on
// any standard guest kernel. Each backend answers that second question its
// own way (vmm/qemu boots a probe guest, vmm/firecracker looks for hardware
// virtualisation).
package kvm

import "fmt"

// Path is the KVM device node.
const Path = "/dev/kvm"

// APIVersion is the only KVM API version there has ever been
// (KVM_API_VERSION in linux/kvm.h).
const APIVersion = 12

// Device is a KVM device node and the calls Check makes on it; tests
// replace the calls with fixtures.
type Device struct {
	Path string
	// APIVersion opens the device and returns its KVM_GET_API_VERSION.
	// A failed open is returned as is (an *fs.PathError).
	APIVersion func(path string) (int, error)
	// CreateVM opens the device and creates, then closes, a VM.
	CreateVM func(path string) error
}

// Host is this host's /dev/kvm with the real calls.
func Host() Device {
	return Device{Path: Path, APIVersion: apiVersion, CreateVM: createVM}
}

// Check reports why d cannot run VMs at all, or nil. A missing node gives
// an error that matches fs.ErrNotExist; one that cannot be opened, the
// *fs.PathError of the open.
func (d Device) Check() error {
	v, err := d.APIVersion(d.Path)
	if err != nil {
		return err
	}
	if v != APIVersion {
		return fmt.Errorf("%s reports KVM API version %d, want %d", d.Path, v, APIVersion)
	}
	if err := d.CreateVM(d.Path); err != nil {
		return fmt.Errorf("%s cannot create a VM: %w", d.Path, err)
	}
	return nil
}
