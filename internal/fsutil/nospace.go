package fsutil

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/bangerdev/banger/internal/procfs"
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

// mountFor picks, from a mountinfo text (proc(5)), the deepest mount
// holding path (a clean path without symlinks).
func mountFor(mountinfo, path string) (mount, bool) {
	infos, _ := procfs.ParseMountinfo(strings.NewReader(mountinfo))
	best, ok := mount{}, false
	for _, mi := range infos {
		if within(path, mi.Point) && (!ok || len(mi.Point) >= len(best.dir)) {
			best, ok = mount{dir: mi.Point, fstype: mi.FSType}, true
		}
	}
	return best, ok
}

// within reports whether path is dir or below it.
func within(path, dir string) bool {
	return dir == "/" || path == dir || strings.HasPrefix(path, dir+"/")
}
