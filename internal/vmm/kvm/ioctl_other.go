//go:build !linux

package kvm

import (
	"fmt"

	"github.com/bangerdev/banger/pkg/errdefs"
)

func apiVersion(string) (int, error) {
	return 0, fmt.Errorf("kvm: %w on this OS", errdefs.ErrUnsupported)
}

func createVM(string) error {
	return fmt.Errorf("kvm: %w on this OS", errdefs.ErrUnsupported)
}
