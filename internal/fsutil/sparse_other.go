//go:build !linux

package fsutil

import (
	"io"
	"os"
)

// CopyExtents copies src into dst (without hole detection off Linux).
func CopyExtents(dst, src *os.File) error {
	_, err := io.Copy(dst, src)
	return err
}

// CopySparse makes dst a copy of the file at src.
func CopySparse(dst *os.File, src string) error {
	in, err := os.Open(src) //nolint:gosec // the caller's own paths
	if err != nil {
		return err
	}
	defer func() { _ = in.Close() }()
	return CopyExtents(dst, in)
}
