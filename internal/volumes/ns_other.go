//go:build !linux

package volumes

import (
	"fmt"
	"os/exec"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// startServed needs Linux mount namespaces.
func startServed(Share, string, *exec.Cmd) error {
	return fmt.Errorf("shared directories: %w on this OS", errdefs.ErrUnsupported)
}
