package fsutil

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/bangerdev/banger/internal/units"
)

// NoSpace makes an error caused by a full file system say which one filled
// up: its mount point, type and size, and what to do. path is where the
// failed write went when err does not say (a tool's output does not); a
// *fs.PathError's own path wins. Other errors come back unchanged; the
// result still wraps err (errors.Is(err, syscall.ENOSPC) holds when it
// did).
func NoSpace(err error, path string) error {
	if !IsNoSpace(err) {
		return err
	}
	var pe *fs.PathError
	if errors.As(err, &pe) && filepath.IsAbs(pe.Path) {
		path = pe.Path
	}
	m, ok := mountOf(path)
	if !ok {
		return fmt.Errorf("%w (the file system holding %s is full: free space there and retry)", err, path)
	}
	return fmt.Errorf("%w (the file system at %s, %s of %s, is full: free space there, or move banger's state to a larger one, and retry)",
		err, m.dir, m.fstype, units.FormatSize(m.size))
}

// IsNoSpace reports whether err is a full file system or quota, as an
// errno or in a tool's words: the host's trouble, never the input's.
func IsNoSpace(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return true
	}
	s := strings.ToLower(err.Error())
	return strings.Contains(s, "no space left on device") || strings.Contains(s, "disk quota exceeded")
}

// mount is one entry of the mount table.
type mount struct {
	dir, fstype string
	size        int64
}

// parseMountinfo reads the mount point and type of a /proc/PID/mountinfo
// line: "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - TYPE
// SOURCE SUPEROPTIONS", with spaces in paths written as \040.
func parseMountinfo(line string) (mount, bool) {
	before, after, ok := strings.Cut(line, " - ")
	f, g := strings.Fields(before), strings.Fields(after)
	if !ok || len(f) < 5 || len(g) < 1 {
		return mount{}, false
	}
	return mount{dir: unescapeOctal(f[4]), fstype: g[0]}, true
}

func unescapeOctal(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, ok := octal(s[i+1 : i+4]); ok {
				b.WriteByte(n)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func octal(s string) (byte, bool) {
	if len(s) != 3 {
		return 0, false
	}
	var n int
	for _, c := range s {
		if c < '0' || c > '7' {
			return 0, false
		}
		n = n*8 + int(c-'0')
	}
	return byte(n), n < 256
}

// within reports whether path is dir or below it.
func within(path, dir string) bool {
	return dir == "/" || path == dir || strings.HasPrefix(path, dir+"/")
}
