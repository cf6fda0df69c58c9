package layerdiff

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"

	"github.com/bangerdev/banger/internal/guestpaths"
)

// Options tune Diff.
type Options struct {
	// Exclude are more guest paths (absolute, "/var/cache/apt") left out
	// of the layer with everything below them, on top of
	// guestpaths.Owned.
	Exclude []string
	// TmpDir holds the private mount points (default os.TempDir()).
	TmpDir string

	run    runner   // nil: run the commands
	attach attacher // nil: attachLoop
}

// Stats counts what a layer holds.
type Stats struct {
	// Added are paths upper has and lower has not (or of another type);
	// Changed are paths of the same type whose content or metadata
	// changed (a file's link count included: every link of an inode with
	// a changed link is written); Deleted are whiteouts, an opaque directory counting once.
	Added, Changed, Deleted int
	// Hardlinks are entries written as links to an earlier entry.
	Hardlinks int
	// Parents are unchanged directories written because something below
	// them is in the layer.
	Parents int
	// Skipped are sockets, which a tar cannot carry.
	Skipped int
	// Bytes is the regular files' content written.
	Bytes int64
}

// Entries is how many tar entries the layer has.
func (s Stats) Entries() int {
	return s.Added + s.Changed + s.Deleted + s.Parents
}

// Diff writes to w the OCI layer tar (uncompressed) that turns the tree of
// the ext4 image lower into upper's; see the package documentation. Both
// files are mounted read-only for the walk (root is needed) and released
// before Diff returns. Nothing is written to w before both are mounted;
// on error w may hold part of a tar, which the caller discards.
func Diff(ctx context.Context, lower, upper string, w io.Writer, opts Options) (st Stats, err error) {
	r, attach := opts.run, opts.attach
	if r == nil {
		r = execRunner{}
	}
	if attach == nil {
		attach = attachLoop
	}
	dir, err := os.MkdirTemp(opts.TmpDir, mountDirPrefix)
	if err != nil {
		return Stats{}, fmt.Errorf("layer diff: %w", err)
	}
	defer func() { err = errors.Join(err, os.RemoveAll(dir)) }()
	roots := [2]string{filepath.Join(dir, "lower"), filepath.Join(dir, "upper")}
	for i, file := range [2]string{lower, upper} {
		if err := os.Mkdir(roots[i], 0o700); err != nil {
			return Stats{}, fmt.Errorf("layer diff: %w", err)
		}
		release, err := mountRO(ctx, r, attach, file, roots[i])
		if err != nil {
			return Stats{}, fmt.Errorf("layer diff: %w", err)
		}
		defer func() { err = errors.Join(err, release()) }()
	}
	return DiffTrees(ctx, roots[0], roots[1], w, opts)
}

// DiffTrees is Diff over two directory trees already on the host (Diff's
// mounts, or any two directories): it writes the layer that turns the
// tree at lower into the tree at upper. Neither tree may change while it
// runs.
func DiffTrees(ctx context.Context, lower, upper string, w io.Writer, opts Options) (Stats, error) {
	d := &differ{
		ctx:     ctx,
		lower:   lower,
		upper:   upper,
		exclude: append(guestpaths.Owned(), opts.Exclude...),
		links:   map[inode][]string{},
	}
	for i, p := range d.exclude {
		d.exclude[i] = path.Clean("/" + p)
	}
	d.files = resolvTargets(lower, upper)
	if err := d.dir(""); err != nil {
		return Stats{}, err
	}
	return d.emit(w)
}

// resolvTargets are the files the agent writes DNS servers to when the
// image's /etc/resolv.conf is a link (guestpaths.ResolvTarget): the link's
// target in either tree. They are left out as files only, never with what
// is below them, so a link to "/" or "/etc" hides nothing else.
func resolvTargets(roots ...string) map[string]bool {
	out := map[string]bool{}
	for _, root := range roots {
		link, err := os.Readlink(filepath.Join(root, guestpaths.ResolvConf))
		if err != nil {
			continue
		}
		if t, _ := guestpaths.ResolvTarget(link, true); t != "/" {
			out[t] = true
		}
	}
	return out
}
