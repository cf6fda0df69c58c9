//go:build !linux

package volumes

import (
	"fmt"
	"os/exec"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// startReadOnly needs Linux mount namespaces.
func startReadOnly(string, *exec.Cmd) error {
	return fmt.Errorf("read-only shared directories: %w on this OS", errdefs.ErrUnsupported)
}
