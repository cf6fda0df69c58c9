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
