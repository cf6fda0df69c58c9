//go:build !linux

package vmlogs

import (
	"context"
	"fmt"
	"os"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// openFIFO is Linux's: elsewhere a FIFO sink is refused.
func openFIFO(_ context.Context, path string, _ int) (*os.File, error) {
	return nil, fmt.Errorf("%s: %w: FIFO stdio paths work on Linux only", path, errdefs.ErrUnsupported)
}
