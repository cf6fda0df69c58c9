package kernelcat

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bangerdev/banger/internal/kernelcat/archive"
	"github.com/bangerdev/banger/internal/kernelcat/compress"
	"github.com/bangerdev/banger/internal/kernelcat/kimage"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// input is a kernel found on disk: what an entry is built from.
type input struct {
	kernel       string // a vmlinux or bzImage
	label        string // how messages name kernel: the user's file, or where in it
	release      string // from the file name or header; may be refined from the banner
	config       string // a .config file, or "" to look inside the kernel
	configSource string
	modules      string // lib/modules/<release>, or ""
	source       string
}

// name is how messages call the kernel file.
func (in input) name() string { return cmp.Or(in.label, in.kernel) }

// kernelPaths selects what extraction keeps from packages and tarballs.
func kernelPaths(name string) bool {
	for _, p := range []string{"boot/", "lib/modules/", "usr/lib/modules/"} {
		if strings.HasPrefix(name+"/", p) || strings.HasPrefix(p, name+"/") {
			return true
		}
	}
	return false
}

// locate identifies src (a vmlinux, bzImage, .deb, tarball or directory),
// unpacking packages into stage, and finds the kernel, its config and its
// modules.
func locate(src, stage string, opts *Options) (input, error) {
	label := cmp.Or(opts.Label, src)
	fi, err := os.Stat(src)
	if err != nil {
		return input{}, fmt.Errorf("%w: %w", errdefs.ErrNotFound, err)
	}
	if fi.IsDir() {
		in, err := locateTree(src, opts)
		in.source = "import:" + label
		return in, err
	}
	f, err := os.Open(src) //nolint:gosec // the caller chose the file
	if err != nil {
		return input{}, err
	}
	defer func() { _ = f.Close() }()
	head := make([]byte, 512)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	switch {
	case kimage.Detect(f, fi.Size()) != kimage.KindOther:
		return locateFile(src, label, f, fi.Size(), opts)
	case archive.IsDeb(head):
		opts.message("unpacking %s", filepath.Base(label))
		if err := unpack(f, stage, true, opts); err != nil {
			return input{}, fmt.Errorf("%s: %w", label, err)
		}
	case compress.Detect(head) != compress.None || isTar(head):
		opts.message("unpacking %s", filepath.Base(label))
		if err := unpack(f, stage, false, opts); err != nil {
			return input{}, fmt.Errorf("%s: %w", label, err)
		}
	default:
		return input{}, fmt.Errorf("%w: %s is not a kernel: want an ELF vmlinux, a bzImage, a linux-image .deb, a tarball or a directory holding boot/ and lib/modules/", errdefs.ErrInvalid, label)
	}
	in, err := locateTree(stage, opts)
	in.source = "import:" + label
	if rel, rerr := filepath.Rel(stage, in.kernel); rerr == nil && in.kernel != "" {
		in.label = label + ": " + rel
	}
	return in, err
}

func isTar(head []byte) bool { return len(head) >= 262 && bytes.Equal(head[257:262], []byte("ustar")) }

func unpack(f *os.File, stage string, deb bool, opts *Options) error {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	var (
		rc  io.ReadCloser
		err error
	)
	if deb {
		rc, err = archive.DebData(f)
	} else {
		rc, err = archive.OpenTar(f)
	}
	if err != nil {
		return err
	}
	defer func() { _ = rc.Close() }()
	if err := os.MkdirAll(stage, 0o700); err != nil {
		return err
	}
	_, err = archive.ExtractTar(rc, stage, archive.Options{MaxBytes: opts.MaxBytes, Include: kernelPaths})
	return err
}

// locateTree finds boot/vmlinu[xz]-<release> (or boot/vmlinu[xz], or the
// merged-usr usr/lib/modules/<release>/vmlinuz), its config and module
// tree inside root. Every path must resolve inside root: a package's
// symlink cannot point the import at the host's files.
func locateTree(root string, opts *Options) (input, error) {
	type cand struct{ path, release string }
	var cands []cand
	for _, pat := range []string{"boot/vmlinuz-*", "boot/vmlinux-*", "usr/lib/modules/*/vmlinuz", "lib/modules/*/vmlinuz", "boot/vmlinuz", "boot/vmlinux"} {
		matches, _ := filepath.Glob(filepath.Join(root, pat))
		for _, m := range matches {
			base := filepath.Base(m)
			rel := strings.TrimPrefix(strings.TrimPrefix(base, "vmlinuz-"), "vmlinux-")
			switch {
			case base == "vmlinuz" && strings.Contains(pat, "modules"):
				rel = filepath.Base(filepath.Dir(m))
			case base == "vmlinuz" || base == "vmlinux":
				rel = ""
			}
			real, ok := regularInside(root, m)
			if strings.HasSuffix(rel, ".old") || !ok {
				continue
			}
			if rel == "" {
				rel = fileRelease(real)
			}
			if !slices.ContainsFunc(cands, func(c cand) bool { return c.release == rel || c.path == real }) {
				cands = append(cands, cand{real, rel})
			}
		}
	}
	switch len(cands) {
	case 0:
		return input{}, fmt.Errorf("%w: no kernel found: want boot/vmlinuz-<release> or boot/vmlinux-<release> (and lib/modules/<release>/)", errdefs.ErrInvalid)
	case 1:
	default:
		var names []string
		for _, c := range cands {
			names = append(names, c.release)
		}
		return input{}, fmt.Errorf("%w: several kernels (%s): import one kernel file with --config and --modules", errdefs.ErrInvalid, strings.Join(names, ", "))
	}
	in := input{kernel: cands[0].path, release: cands[0].release}
	for _, dir := range []string{"lib/modules/", "usr/lib/modules/"} {
		if p, ok := dirInside(root, filepath.Join(root, dir, in.release)); ok && in.release != "" {
			in.modules = p
			break
		}
	}
	for _, c := range []string{"boot/config-" + in.release, "usr/lib/modules/" + in.release + "/config", "lib/modules/" + in.release + "/config", "boot/config"} {
		if p, ok := regularInside(root, filepath.Join(root, c)); ok && (in.release != "" || c == "boot/config") {
			in.config, in.configSource = p, c
			break
		}
	}
	applyOverrides(&in, opts)
	return in, nil
}

// fileRelease reads the release from a kernel file's own header or banner.
func fileRelease(p string) string {
	f, err := os.Open(p) //nolint:gosec // resolved inside the tree
	if err != nil {
		return ""
	}
	defer func() { _ = f.Close() }()
	fi, err := f.Stat()
	if err != nil {
		return ""
	}
	switch kimage.Detect(f, fi.Size()) {
	case kimage.KindBzImage:
		if bz, err := kimage.ParseBzImage(f, fi.Size()); err == nil {
			return bz.Release
		}
	case kimage.KindELF:
		if v, err := kimage.InspectVmlinux(p); err == nil {
			return v.Release
		}
	}
	return ""
}

// locateFile takes a bare kernel file; its config and modules come from
// the options or sit next to it (/boot/config-<release> beside
// /boot/vmlinuz-<release>, /lib/modules/<release> for a host's kernel).
func locateFile(src, label string, f *os.File, size int64, opts *Options) (input, error) {
	in := input{kernel: src, label: label, source: "import:" + label}
	if kimage.Detect(f, size) == kimage.KindBzImage {
		bz, err := kimage.ParseBzImage(f, size)
		if err != nil {
			return in, err
		}
		in.release = bz.Release
	} else {
		v, err := kimage.InspectVmlinux(src)
		if err != nil {
			return in, fmt.Errorf("%w: %s: %w", errdefs.ErrInvalid, label, err)
		}
		in.release = v.Release
	}
	dir := filepath.Dir(src)
	sidecars := []string{src + ".config", filepath.Join(dir, "config")}
	if in.release != "" {
		sidecars = append([]string{filepath.Join(dir, "config-"+in.release)}, sidecars...)
		for _, m := range []string{filepath.Join(dir, "..", "lib", "modules", in.release), filepath.Join(dir, "lib", "modules", in.release)} {
			if st, err := os.Stat(m); err == nil && st.IsDir() {
				in.modules = filepath.Clean(m)
				break
			}
		}
	}
	for _, c := range sidecars {
		if st, err := os.Stat(c); err == nil && st.Mode().IsRegular() {
			in.config, in.configSource = c, c
			break
		}
	}
	applyOverrides(&in, opts)
	return in, nil
}

func applyOverrides(in *input, opts *Options) {
	if opts.Config != "" {
		in.config, in.configSource = opts.Config, opts.Config
	}
	if opts.Modules != "" {
		in.modules = opts.Modules
	}
}

// resolveInside reports whether p, with every symlink resolved, is root
// or below it.
func resolveInside(root, p string) (string, bool) {
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return "", false
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", false
	}
	rel, err := filepath.Rel(realRoot, real)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", false
	}
	return real, true
}

func regularInside(root, p string) (string, bool) {
	real, ok := resolveInside(root, p)
	if !ok {
		return "", false
	}
	st, err := os.Stat(real)
	return real, err == nil && st.Mode().IsRegular()
}

func dirInside(root, p string) (string, bool) {
	real, ok := resolveInside(root, p)
	if !ok {
		return "", false
	}
	st, err := os.Stat(real)
	return real, err == nil && st.IsDir()
}
