//go:build !linux

package proc

import (
	"context"
	"fmt"
	"syscall"
	"time"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// Wait is not supported off Linux.
func (id Identity) Wait(context.Context) error {
	return fmt.Errorf("wait for process: %w on this OS", errdefs.ErrUnsupported)
}

// Kill is not supported off Linux.
func (id Identity) Kill(time.Duration) error {
	return fmt.Errorf("kill process: %w on this OS", errdefs.ErrUnsupported)
}

// Signal is not supported off Linux.
func (id Identity) Signal(syscall.Signal) error {
	return fmt.Errorf("signal process: %w on this OS", errdefs.ErrUnsupported)
}
