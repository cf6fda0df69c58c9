package vms

import (
	"cmp"

	"github.com/bangerdev/banger/internal/imagepull"
	"github.com/bangerdev/banger/internal/store"
)

// ImageUser returns the name of a VM in tx that was created from the image
// (its id), or whose spec names it (short or canonical name), or "". The
// image catalog asks it, inside its own transaction, before it removes or
// replaces an image.
func ImageUser(tx *store.Tx, imageID, imageName string) string {
	vms, _ := store.List[VM](tx, store.VMs)
	for _, vm := range vms {
		name, _ := imagepull.NormalizeName(vm.Spec.Image)
		if vm.ImageID == imageID || (vm.Spec.Image != "" && name == imageName) {
			return cmp.Or(vm.Name, vm.ID)
		}
	}
	return ""
}

// KernelUser returns the name of a VM in tx that boots the kernel: its
// spec names it, or names none while it is the default. The kernel
// catalog asks it before it removes a kernel.
func KernelUser(tx *store.Tx, kernel string, isDefault bool) string {
	vms, _ := store.List[VM](tx, store.VMs)
	for _, vm := range vms {
		if vm.Spec.Kernel == kernel || (vm.Spec.Kernel == "" && isDefault) {
			return cmp.Or(vm.Name, vm.ID)
		}
	}
	return ""
}
