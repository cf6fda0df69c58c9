//go:build !linux

package firecracker

import (
	"context"
	"fmt"
	"os"

	"github.com/bangerdev/banger/pkg/errdefs"
)

func deviceNumber(os.FileInfo) uint64 { return 0 }

func mknodBlock(string, uint64) error {
	return fmt.Errorf("mknod: %w on this OS", errdefs.ErrUnsupported)
}

func waitSocket(context.Context, string, <-chan struct{}) error {
	return fmt.Errorf("firecracker: %w: it runs on Linux only", errdefs.ErrUnsupported)
}
