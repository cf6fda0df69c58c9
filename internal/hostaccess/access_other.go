//go:build !linux

package hostaccess

import (
	"fmt"
	"os"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// Check is Linux's (per-thread credentials); elsewhere only root's
// paths pass.
func Check(c Caller, path string, want Access, _ Kind) (string, error) {
	if !c.IsRoot() {
		return "", &DeniedError{Path: path, Caller: c, Want: want, Why: fmt.Sprintf("%v: checking as the caller needs Linux", errdefs.ErrUnsupported)}
	}
	return path, nil
}

// Open is Check's counterpart (see Check).
func Open(c Caller, resolved string, want Access, kind Kind) (*os.File, error) {
	if _, err := Check(c, resolved, want, kind); err != nil {
		return nil, err
	}
	return os.Open(resolved)
}

// OpenLocked is Open.
func OpenLocked(c Caller, resolved string, want Access, kind Kind) (*os.File, error) {
	return Open(c, resolved, want, kind)
}
