//go:build !linux

package firecracker

import (
	"fmt"

	"github.com/bangerdev/banger/internal/errdefs"
)

func kvmAPIVersion(string) (int, error) {
	return 0, fmt.Errorf("kvm: %w on this OS", errdefs.ErrUnsupported)
}

func kvmCreateVM(string) error {
	return fmt.Errorf("kvm: %w on this OS", errdefs.ErrUnsupported)
}
