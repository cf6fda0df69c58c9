package kernelcat

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

	"github.com/bangerdev/banger/internal/kernelcat/archive"
	"github.com/bangerdev/banger/internal/kernelcat/fetch"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// PullOptions tune Pull.
type PullOptions struct {
	Options
	// SHA256 verifies a URL pull (catalog entries carry their own).
	SHA256 string
	// Downloads keeps partial downloads between attempts, so an
	// interrupted pull resumes.
	Downloads string
	// Fetch tunes downloads (client, retries); its SHA256 is ignored.
	Fetch fetch.Options
	// Run executes a command in dir (apt-get); nil runs it for real.
	Run func(ctx context.Context, dir string, argv ...string) ([]byte, error)
	// OCI writes the flattened root file system of the OCI image ref to w
	// as one tar stream (the image pipeline's Pull + Flatten). Nil: OCI
	// references are not supported.
	OCI func(ctx context.Context, ref string, w io.Writer) error
}

// Pull fetches ref — a catalog entry name, an http(s) URL with a sha256,
// or (with opts.OCI) an OCI image holding /boot and /lib/modules — and
// imports it into dest. The entry's name defaults to the catalog name, the
// URL's file name, or the image's last path element.
func Pull(ctx context.Context, ref, dest string, opts PullOptions) (Kernel, error) {
	if e, ok := Lookup(ref); ok {
		if opts.Name == "" {
			opts.Name = e.Name
		}
		if e.AptPackage != "" {
			return pullApt(ctx, e, dest, opts)
		}
		opts.SHA256 = e.SHA256
		return pullURL(ctx, e.URL, e, dest, opts)
	}
	if u, err := url.Parse(ref); err == nil && (u.Scheme == "https" || u.Scheme == "http") {
		if opts.SHA256 == "" {
			return Kernel{}, fmt.Errorf("%w: pulling %s needs --sha256 (the expected digest of the file)", errdefs.ErrInvalid, ref)
		}
		if opts.Name == "" {
			opts.Name = sanitizeName(path.Base(u.Path))
		}
		return pullURL(ctx, ref, Entry{}, dest, opts)
	}
	// Catalog names are plain words; an OCI reference must say so with a
	// tag, a digest or a repository path, so a mistyped catalog name is
	// reported as such instead of being looked up on Docker Hub.
	if opts.OCI != nil && strings.ContainsAny(ref, ":/@") {
		return pullOCI(ctx, ref, dest, opts)
	}
	var names []string
	for _, e := range catalog {
		names = append(names, e.Name)
	}
	return Kernel{}, fmt.Errorf("%w: %q is not a catalog kernel (%s), an http(s) URL, or an OCI reference (registry/repository:tag)", errdefs.ErrNotFound, ref, strings.Join(names, ", "))
}

// pullOCI imports the kernel an OCI image holds in /boot and /lib/modules:
// the image's flattened tar stream is unpacked, keeping only those paths,
// through the same hardened extraction as a kernel tarball.
func pullOCI(ctx context.Context, ref, dest string, opts PullOptions) (Kernel, error) {
	stage, err := os.MkdirTemp(opts.Tmp, "kernel-oci-")
	if err != nil {
		return Kernel{}, err
	}
	defer func() { _ = os.RemoveAll(stage) }()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := opts.OCI(ctx, ref, pw)
		pw.CloseWithError(err)
		done <- err
	}()
	opts.message("unpacking /boot and /lib/modules of %s", ref)
	_, xerr := archive.ExtractTar(pr, stage, archive.Options{MaxBytes: opts.MaxBytes, Include: kernelPaths})
	if xerr != nil {
		cancel()
		_ = pr.CloseWithError(xerr)
	} else {
		_, _ = io.Copy(io.Discard, pr) // let the producer finish its stream
	}
	if err := <-done; err != nil {
		return Kernel{}, fmt.Errorf("pull %s: %w", ref, err)
	}
	if xerr != nil {
		return Kernel{}, fmt.Errorf("image %s: %w", ref, xerr)
	}
	if opts.Name == "" {
		opts.Name = sanitizeName(strings.NewReplacer(":", "-", "@", "-").Replace(path.Base(ref)))
	}
	opts.Source = "pull:" + ref
	return Import(ctx, stage, dest, opts.Options)
}

func pullURL(ctx context.Context, u string, e Entry, dest string, opts PullOptions) (Kernel, error) {
	if err := os.MkdirAll(opts.Downloads, 0o700); err != nil {
		return Kernel{}, err
	}
	file := filepath.Join(opts.Downloads, strings.ToLower(opts.SHA256)+"-"+sanitizeName(path.Base(u)))
	fo := opts.Fetch
	fo.SHA256, fo.Progress, fo.ID = opts.SHA256, opts.Progress, opts.Name
	opts.message("downloading %s", u)
	if err := fetch.File(ctx, u, file, fo); err != nil {
		return Kernel{}, err
	}
	defer func() { _ = os.Remove(file) }()
	if e.Config != "" && opts.Config == "" {
		cfg, err := entryConfig(e)
		if err != nil {
			return Kernel{}, err
		}
		p := file + ".config"
		if err := os.WriteFile(p, cfg, 0o600); err != nil {
			return Kernel{}, err
		}
		defer func() { _ = os.Remove(p) }()
		opts.Config = p
	}
	opts.Source = "pull:" + u
	k, err := Import(ctx, file, dest, opts.Options)
	if err == nil && e.Config != "" {
		k.ConfigSource = "catalog:" + e.Config
	}
	return k, err
}

// pullApt downloads the entry's metapackage and the linux-image package it
// depends on with apt-get, in a scratch dir, and imports the latter.
func pullApt(ctx context.Context, e Entry, dest string, opts PullOptions) (Kernel, error) {
	if opts.Run == nil {
		if _, err := exec.LookPath("apt-get"); err != nil {
			return Kernel{}, errNoApt(e)
		}
		opts.Run = run
	}
	dir, err := os.MkdirTemp(opts.Tmp, "kernel-apt-")
	if err != nil {
		return Kernel{}, err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	out, err := opts.Run(ctx, dir, "apt-cache", "depends", e.AptPackage)
	if err != nil {
		return Kernel{}, fmt.Errorf("%w: apt-cache depends %s: %w: %s", errdefs.ErrUnavailable, e.AptPackage, err, bytes.TrimSpace(out))
	}
	pkg := aptImageDependency(out)
	if pkg == "" {
		return Kernel{}, fmt.Errorf("%w: %s depends on no linux-image package (apt-cache depends said: %s)", errdefs.ErrUnavailable, e.AptPackage, bytes.TrimSpace(out))
	}
	opts.message("downloading %s with apt-get", pkg)
	if out, err := opts.Run(ctx, dir, "apt-get", "download", "-q", pkg); err != nil {
		return Kernel{}, fmt.Errorf("%w: apt-get download %s: %w: %s", errdefs.ErrUnavailable, pkg, err, bytes.TrimSpace(out))
	}
	debs, _ := filepath.Glob(filepath.Join(dir, pkg+"_*.deb"))
	if len(debs) != 1 {
		return Kernel{}, fmt.Errorf("%w: apt-get download %s left %d packages", errdefs.ErrUnavailable, pkg, len(debs))
	}
	opts.Source = "pull:" + e.Name + " (" + filepath.Base(debs[0]) + ")"
	return Import(ctx, debs[0], dest, opts.Options)
}

func errNoApt(e Entry) error {
	return fmt.Errorf("%w: apt-get not found: `banger kernel pull %s` works on Debian and Ubuntu hosts; elsewhere download a linux-image .deb and run `banger kernel import FILE.deb`", errdefs.ErrUnsupported, e.Name)
}

// aptImageDependency picks "linux-image-…" from apt-cache depends output.
func aptImageDependency(out []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		line = strings.TrimPrefix(line, "|")
		if dep, ok := strings.CutPrefix(line, "Depends: "); ok && strings.HasPrefix(dep, "linux-image-") && nameRE().MatchString(dep) {
			return dep
		}
	}
	return ""
}

func run(ctx context.Context, dir string, argv ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...) //nolint:gosec // fixed commands, names validated
	cmd.Dir = dir
	return cmd.CombinedOutput()
}

const nameChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-+"

// sanitizeName turns a file name into a valid kernel name.
func sanitizeName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !strings.ContainsRune(nameChars, rune(c)) {
			b[i] = '-'
		}
	}
	s = strings.TrimLeft(string(b), ".-_+")
	if s == "" {
		s = "kernel"
	}
	return s[:min(len(s), 128)]
}
