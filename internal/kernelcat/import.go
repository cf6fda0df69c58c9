package kernelcat

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sync"

	"github.com/bangerdev/banger/pkg/errdefs"
	"github.com/bangerdev/banger/pkg/progress"
)

// Options tune Import.
type Options struct {
	// Name of the entry; it becomes the directory name and the record key.
	Name string
	// Agent is the banger-agent binary that becomes the initramfs's /init.
	// It is needed only when the kernel's drivers are modules.
	Agent string
	// Config and Modules override where a bare kernel file's config and
	// lib/modules/<release> directory are looked for.
	Config, Modules string
	// Tmp is a scratch directory on the same file system as the entry's
	// destination, so the finished entry is renamed into place.
	Tmp string
	// MaxBytes bounds what a package or tarball may unpack to.
	MaxBytes int64
	// Source overrides the record's Source ("pull:debian-cloud").
	Source string
	// Label is how messages and the record name the file imported when it
	// is not the path given: an upload's file name on the client, not the
	// daemon's copy.
	Label string
	// DestFor names the entry's directory once its name is known, when
	// Import is called without a dest; it may refuse the name.
	DestFor func(name string) (string, error)
	// Commit records the installed entry; an error removes it again. It
	// may update the record (the default flag).
	Commit func(k *Kernel) error
	// Progress receives progress events; Message lines of text.
	Progress progress.Reporter
	Message  func(string)
}

func (o *Options) message(format string, args ...any) {
	if o.Message != nil {
		o.Message(fmt.Sprintf(format, args...))
	}
}

// Compiled on first use: a counted repetition compiles to a program the
// size of its count, which every CLI start would pay at init.
var nameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$`) })

// ValidName checks a catalog name: it names a directory, so letters,
// digits and . _ + - only, starting with a letter or digit.
func ValidName(name string) error {
	if !nameRE().MatchString(name) {
		return fmt.Errorf("%w: kernel name %q: use letters, digits, '.', '_', '+' and '-' (up to 128), starting with a letter or digit", errdefs.ErrInvalid, name)
	}
	return nil
}

// Import builds a catalog entry from src (an ELF vmlinux, a bzImage, a
// linux-image .deb, a tarball or a directory) into the directory dest
// (or opts.DestFor(name) when dest is ""), which must not exist, and
// returns its record. Nothing is left behind on failure; dest appears only
// complete (built in opts.Tmp, then renamed) and opts.Commit runs after.
// When opts.Name is empty the record's name is the kernel release.
func Import(ctx context.Context, src, dest string, opts Options) (Kernel, error) {
	work, err := os.MkdirTemp(opts.Tmp, "kernel-import-")
	if err != nil {
		return Kernel{}, fmt.Errorf("scratch dir: %w", err)
	}
	defer func() { _ = os.RemoveAll(work) }()
	cpScratchMade.Hit()
	in, err := locate(src, filepath.Join(work, "stage"), &opts)
	if err != nil {
		return Kernel{}, err
	}
	if opts.Source != "" {
		in.source = opts.Source
	}
	if err := ctx.Err(); err != nil {
		return Kernel{}, err
	}
	out := filepath.Join(work, "entry")
	k, err := build(ctx, in, out, &opts)
	if err != nil {
		return Kernel{}, err
	}
	cpBuilt.Hit()
	if dest == "" {
		if dest, err = opts.DestFor(k.Name); err != nil {
			return Kernel{}, err
		}
	}
	if err := install(out, dest); err != nil {
		return Kernel{}, err
	}
	rebase(&k, out, dest)
	cpInstalled.Hit()
	if opts.Commit != nil {
		if err := opts.Commit(&k); err != nil {
			_ = os.RemoveAll(dest)
			return Kernel{}, err
		}
	}
	return k, nil
}

// install renames the finished entry to dest.
func install(out, dest string) error {
	if err := os.Chmod(out, 0o755); err != nil {
		return err
	}
	if _, err := os.Lstat(dest); err == nil {
		return fmt.Errorf("%w: %s already exists", errdefs.ErrExists, dest)
	}
	if err := os.Rename(out, dest); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: %s already exists", errdefs.ErrExists, dest)
		}
		return fmt.Errorf("install kernel: %w", err)
	}
	return nil
}

// rebase rewrites the record's paths from the scratch dir to dest.
func rebase(k *Kernel, from, to string) {
	for _, p := range []*string{&k.Dir, &k.Vmlinux, &k.BzImage, &k.Config, &k.Initrd} {
		if *p == "" {
			continue
		}
		if rel, err := filepath.Rel(from, *p); err == nil {
			*p = filepath.Join(to, rel)
		}
	}
}
