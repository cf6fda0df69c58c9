//go:build !linux

package qemu

import (
	"errors"
	"os"
	"syscall"

	"github.com/bangerdev/banger/pkg/errdefs"
)

func openTap(string) (*os.File, error) {
	return nil, errors.Join(errdefs.ErrUnsupported, errors.New("taps need Linux"))
}

func startInCgroup(*syscall.SysProcAttr, *os.File) {}
