// Package archive unpacks untrusted kernel packages: tarballs and Debian
// .debs (an ar archive whose data.tar.* holds the files).
//
// ExtractTar is hardened the same way as the image pipeline's Flatten: an
// entry name must be relative and free of "..", a symlink's or hard link's
// target must resolve inside the destination (absolute symlink targets are
// taken relative to the destination, as they would be in the guest), and
// every file system operation goes through an os.Root, so even a link the
// checks missed cannot make a write or a later read leave the destination.
// Device nodes and fifos are skipped and counted, ownership is ignored, and
// the total size is bounded against decompression bombs.
package archive

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/bangerdev/banger/internal/fsutil"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// Options tune ExtractTar.
type Options struct {
	// MaxBytes bounds the total size of regular files (default 16 GiB).
	MaxBytes int64
	// Include, when set, selects the entries to extract by their cleaned
	// name ("boot/vmlinuz-6.1.0"); directories leading to them are made
	// as needed.
	Include func(name string) bool
}

// Result says what an extraction did.
type Result struct {
	Files, Dirs, Links int
	Bytes              int64
	// Skipped counts device nodes, fifos and excluded entries.
	Skipped int
}

const defaultMaxBytes = 16 << 30

// ExtractTar unpacks the tar stream r into the existing directory dest.
// Errors wrap errdefs.ErrInvalid when the archive itself is at fault.
func ExtractTar(r io.Reader, dest string, opts Options) (Result, error) {
	var res Result
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = defaultMaxBytes
	}
	root, err := os.OpenRoot(dest)
	if err != nil {
		return res, err
	}
	defer func() { _ = root.Close() }()
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return res, nil
		}
		if err != nil {
			return res, fmt.Errorf("%w: read tar: %w", errdefs.ErrInvalid, err)
		}
		name, err := cleanName(h.Name)
		if err != nil {
			return res, err
		}
		if name == "." {
			continue
		}
		if opts.Include != nil && !opts.Include(name) {
			res.Skipped++
			continue
		}
		if err := extractEntry(root, tr, h, name, opts, &res); err != nil {
			return res, err
		}
	}
}

func extractEntry(root *os.Root, tr *tar.Reader, h *tar.Header, name string, opts Options, res *Result) error {
	if dir := path.Dir(name); dir != "." {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return entryErr(name, err)
		}
	}
	switch h.Typeflag {
	case tar.TypeDir:
		if err := root.Mkdir(name, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return entryErr(name, err)
		}
		res.Dirs++
	case tar.TypeReg:
		if h.Size < 0 || res.Bytes+h.Size > opts.MaxBytes {
			return fmt.Errorf("%w: %s: archive exceeds %d bytes", errdefs.ErrInvalid, name, opts.MaxBytes)
		}
		if err := writeFile(root, name, tr, h); err != nil {
			return err
		}
		res.Files++
		res.Bytes += h.Size
	case tar.TypeSymlink:
		if err := checkLink(name, h.Linkname); err != nil {
			return err
		}
		if err := replace(root, name); err != nil {
			return err
		}
		if err := root.Symlink(h.Linkname, name); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		res.Links++
	case tar.TypeLink:
		target, err := cleanName(h.Linkname)
		if err != nil || target == "." {
			return fmt.Errorf("%w: hard link %s -> %s: target outside the archive", errdefs.ErrInvalid, name, h.Linkname)
		}
		if err := replace(root, name); err != nil {
			return err
		}
		if err := root.Link(target, name); err != nil {
			return fmt.Errorf("%w: hard link %s -> %s: %w", errdefs.ErrInvalid, name, target, err)
		}
		res.Links++
	default: // char, block, fifo, and anything newer: not needed from a kernel package
		res.Skipped++
	}
	return nil
}

func writeFile(root *os.Root, name string, r io.Reader, h *tar.Header) error {
	if err := replace(root, name); err != nil {
		return err
	}
	mode := os.FileMode(0o644)
	if h.Mode&0o111 != 0 {
		mode = 0o755
	}
	f, err := root.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
	if err != nil {
		return entryErr(name, err)
	}
	n, err := io.Copy(f, io.LimitReader(r, h.Size))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && n != h.Size {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return entryErr(name, err)
	}
	return nil
}

// entryErr is the error of one entry: the archive's fault (ErrInvalid)
// unless the host's disk filled up, which is the host's.
func entryErr(name string, err error) error {
	if fsutil.IsNoSpace(err) {
		return fmt.Errorf("%s: %w", name, err)
	}
	return fmt.Errorf("%w: %s: %w", errdefs.ErrInvalid, name, err)
}

// replace removes a non-directory already at name, so a later entry never
// writes through an earlier symlink.
func replace(root *os.Root, name string) error {
	fi, err := root.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return entryErr(name, err)
	}
	if fi.IsDir() {
		return fmt.Errorf("%w: %s: a directory is already there", errdefs.ErrInvalid, name)
	}
	return root.Remove(name)
}

// cleanName validates an entry name: relative, no "..", no NUL.
func cleanName(name string) (string, error) {
	if strings.HasPrefix(name, "/") || strings.ContainsRune(name, 0) {
		return "", fmt.Errorf("%w: entry %q: absolute or invalid name", errdefs.ErrInvalid, name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", fmt.Errorf("%w: entry %q: \"..\" in name", errdefs.ErrInvalid, name)
		}
	}
	return path.Clean(name), nil
}

// checkLink refuses a symlink whose target, resolved lexically from the
// link's directory (or from the root when absolute), leaves the root.
// Links through other symlinks are caught by os.Root when followed.
func checkLink(name, target string) error {
	if target == "" || strings.ContainsRune(target, 0) {
		return fmt.Errorf("%w: link %s: empty or invalid target", errdefs.ErrInvalid, name)
	}
	depth := 0
	if d := path.Dir(name); !path.IsAbs(target) && d != "." {
		depth = strings.Count(d, "/") + 1
	}
	for _, part := range strings.Split(target, "/") {
		switch part {
		case "", ".":
		case "..":
			depth--
			if depth < 0 {
				return fmt.Errorf("%w: link %s -> %s: target escapes the archive root", errdefs.ErrInvalid, name, target)
			}
		default:
			depth++
		}
	}
	return nil
}
