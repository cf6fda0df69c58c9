//go:build !linux

package cgroups

import (
	"errors"
	"os"

	"github.com/bangerdev/banger/pkg/errdefs"
)

var errOS = errors.Join(errdefs.ErrUnsupported, errors.New("cgroups need Linux"))

// Detect reports no usable cgroups off Linux.
func Detect() Host { return Host{Why: "cgroups need Linux"} }

// Check fails off Linux.
func Check(Plan) error { return errOS }

// Apply fails off Linux.
func Apply(Plan) (*os.File, error) { return nil, errOS }

// Join fails off Linux.
func Join(Plan, int) error { return errOS }

// Remove fails off Linux.
func Remove([]string) error { return errOS }

// Children fails off Linux.
func Children(Host, string) (map[string][]string, error) { return nil, errOS }

// Usage fails off Linux.
func Usage(int, map[string]string) (int64, int64, error) { return 0, 0, errOS }
