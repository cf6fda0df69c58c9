//go:build !linux

package qemu

import (
	"errors"
	"io"
	"os"
	"syscall"

	"github.com/bangerdev/banger/internal/errdefs"
)

func openTap(string) (*os.File, error) {
	return nil, errors.Join(errdefs.ErrUnsupported, errors.New("taps need Linux"))
}

func startInCgroup(*syscall.SysProcAttr, *os.File) {}

func copySparse(src string, dst *os.File) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer func() { _ = in.Close() }()
	_, err = io.Copy(dst, in)
	return err
}
