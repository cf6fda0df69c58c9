//go:build !linux

package nsrun

import (
	"fmt"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// NS is an open network namespace (Linux only).
type NS struct{ Inode uint64 }

// Open fails: network namespaces are Linux's.
func Open(path string) (*NS, error) {
	return nil, fmt.Errorf("network namespace %s: %w: only on Linux", path, errdefs.ErrUnsupported)
}

// Close does nothing.
func (*NS) Close() error { return nil }

// Do fails: network namespaces are Linux's.
func (*NS) Do(func() error) error {
	return fmt.Errorf("network namespaces: %w: only on Linux", errdefs.ErrUnsupported)
}

// Net fails: network namespaces are Linux's.
func Net(path string, _ func() error) error { _, err := Open(path); return err }
