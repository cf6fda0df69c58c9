//go:build !linux

package rootfs

import (
	"fmt"

	"github.com/bangerdev/banger/pkg/errdefs"
)

func reflink(string, string) error {
	return fmt.Errorf("reflink: %w on this OS", errdefs.ErrUnsupported)
}

func sparseCopy(string, string) error {
	return fmt.Errorf("sparse copy: %w on this OS", errdefs.ErrUnsupported)
}
