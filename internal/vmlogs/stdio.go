package vmlogs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// Stdio names host paths for a VM's main process's standard streams, as
// a containerd shim is given them: regular files (output appended, the
// file created when missing) or FIFOs. The daemon copies the output it
// receives to them besides keeping it in the log, and feeds stdin from
// its path. Empty is none.
type Stdio struct {
	Stdin  string `json:"stdin,omitempty"`
	Stdout string `json:"stdout,omitempty"`
	Stderr string `json:"stderr,omitempty"`
}

// IsZero says no stream has a path.
func (s Stdio) IsZero() bool { return s == Stdio{} }

// streams lists the paths given, with their names.
func (s Stdio) streams() [][2]string {
	var out [][2]string
	for _, p := range [][2]string{{"stdin", s.Stdin}, {"stdout", s.Stdout}, {"stderr", s.Stderr}} {
		if p[1] != "" {
			out = append(out, p)
		}
	}
	return out
}

// Check says what is wrong with the paths, each error naming its stream
// and path and wrapping errdefs.ErrInvalid: a path must be absolute and
// clean, not inside any of own (banger's state, runtime and cache
// directories: a caller could otherwise read or overwrite a VM's disk or
// keys through the daemon), a regular file or a FIFO when it exists, and
// stdin must exist.
func (s Stdio) Check(own ...string) error {
	var errs []error
	for _, p := range s.streams() {
		if _, err := resolve(p[0], p[1], own); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// resolve checks one stream's path and returns it with its symlinks
// resolved, and whether it is a FIFO.
func resolve(stream, path string, own []string) (resolved, error) {
	bad := func(format string, args ...any) (resolved, error) {
		return resolved{}, fmt.Errorf("%w: %s %q: "+format, append([]any{errdefs.ErrInvalid, stream, path}, args...)...)
	}
	if !filepath.IsAbs(path) || filepath.Clean(path) != path {
		return bad("want an absolute, clean path")
	}
	real, err := filepath.EvalSymlinks(path)
	if errors.Is(err, fs.ErrNotExist) && stream != "stdin" {
		if st, lerr := os.Lstat(path); lerr == nil && st.Mode()&fs.ModeSymlink != 0 {
			return bad("a symbolic link to nothing; name the file itself")
		}
		// A missing output file is created: its directory must exist.
		dir, derr := filepath.EvalSymlinks(filepath.Dir(path))
		if derr != nil {
			return bad("its directory: %v", derr)
		}
		real, err = filepath.Join(dir, filepath.Base(path)), nil
	}
	if err != nil {
		return bad("%v", err)
	}
	for _, dir := range own {
		if dir == "" {
			continue
		}
		if d, derr := filepath.EvalSymlinks(dir); derr == nil {
			dir = d
		}
		if real == dir || strings.HasPrefix(real, dir+string(filepath.Separator)) {
			return bad("it is inside banger's own directory %s; pick a path outside it", dir)
		}
	}
	r := resolved{stream: stream, path: real}
	st, err := os.Stat(real)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return r, nil
	case err != nil:
		return bad("%v", err)
	case st.Mode()&fs.ModeNamedPipe != 0:
		r.fifo = true
	case !st.Mode().IsRegular():
		return bad("it is a %s; want a regular file or a FIFO", describe(st.Mode()))
	}
	return r, nil
}

// resolved is one stream's checked path.
type resolved struct {
	stream, path string
	fifo         bool
}

func describe(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	}
	return "file of another kind (" + m.Type().String() + ")"
}
