package initrd

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/bangerdev/banger/internal/kernelcat/compress"
	"github.com/bangerdev/banger/internal/kernelcat/cpio"
	"github.com/bangerdev/banger/internal/kernelcat/kconfig"
)

// Module is one module to put in the initramfs.
type Module struct {
	// Rel is its path relative to lib/modules/<release>, ending in .ko.
	Rel string
	// Open returns its decompressed content.
	Open func() (io.ReadCloser, int64, error)
}

// Spec is what goes into an initramfs.
type Spec struct {
	Release string
	// Agent is the path of the banger-agent binary that becomes /init.
	Agent string
	// Modules in load order.
	Modules []Module
	// OnDemand are module groups loaded only by the VMs that ask (see
	// Manifest.OnDemand), each in load order after Modules.
	OnDemand map[string][]Module
	Codec    compress.Codec
}

// preference orders the codecs by how fast the kernel decompresses them:
// the initramfs is unpacked on the boot's critical path, and under TCG
// every instruction of the decompressor is emulated. Measured here (Debian
// 6.1 cloud kernel, QEMU TCG microvm, a 14 MiB archive: 15 modules and an
// 11 MiB Go binary; "Trying to unpack" to "Freeing initrd memory", three
// boots each): lz4 0.12–0.16 s (8.7 MiB), zstd 0.19–0.23 s (6.6 MiB), gzip
// 0.20–0.24 s (7.8 MiB), xz 0.82–0.87 s (6.9 MiB); uncompressed 0.09 s.
var preference = []struct {
	option string
	codec  compress.Codec
}{
	{"RD_LZ4", compress.LZ4},
	{"RD_ZSTD", compress.Zstd},
	{"RD_GZIP", compress.Gzip},
	{"RD_XZ", compress.XZ},
}

// Choose picks the fastest codec to decompress that cfg supports, and
// fails when the kernel supports no initramfs or none of them.
func Choose(cfg kconfig.Config) (compress.Codec, error) {
	if cfg.State("BLK_DEV_INITRD") != kconfig.Builtin {
		return "", fmt.Errorf("the kernel's drivers are modules but it has no initramfs support (CONFIG_BLK_DEV_INITRD)")
	}
	for _, p := range preference {
		if cfg.State(p.option) == kconfig.Builtin {
			return p.codec, nil
		}
	}
	return compress.None, nil // an uncompressed cpio is always understood
}

// Build writes the initramfs described by spec to w and returns its
// manifest.
func Build(w io.Writer, spec Spec) (Manifest, error) {
	m := Manifest{Version: ManifestVersion, KernelRelease: spec.Release, Modules: []string{}}
	zw, err := compress.NewWriter(spec.Codec, w)
	if err != nil {
		return m, err
	}
	bw := bufio.NewWriterSize(zw, 1<<20)
	cw := cpio.NewWriter(bw)
	dirs := map[string]bool{}
	mkdirs := func(p string) error {
		var parts []string
		for d := path.Dir(p); d != "/" && d != "."; d = path.Dir(d) {
			parts = append(parts, d)
		}
		for i := len(parts) - 1; i >= 0; i-- {
			if dirs[parts[i]] {
				continue
			}
			dirs[parts[i]] = true
			if err := cw.WriteHeader(&cpio.Header{Name: parts[i], Mode: cpio.TypeDir | 0o755}); err != nil {
				return err
			}
		}
		return nil
	}
	for _, d := range []string{"/dev/x", "/proc/x", "/sys/x", "/run/x", "/tmp/x"} {
		if err := mkdirs(d); err != nil {
			return m, err
		}
	}
	if err := cw.WriteHeader(&cpio.Header{Name: "/dev/console", Mode: cpio.TypeChar | 0o600, DevMajor: 5, DevMinor: 1}); err != nil {
		return m, err
	}
	agent, err := os.Open(spec.Agent)
	if err != nil {
		return m, fmt.Errorf("open agent: %w", err)
	}
	defer func() { _ = agent.Close() }()
	fi, err := agent.Stat()
	if err != nil {
		return m, err
	}
	if err := writeFile(cw, "/init", 0o755, agent, fi.Size()); err != nil {
		return m, fmt.Errorf("write /init: %w", err)
	}
	add := func(mod Module) (string, error) {
		if !strings.HasSuffix(mod.Rel, ".ko") || strings.Contains(mod.Rel, "..") {
			return "", fmt.Errorf("module path %q: want a relative .ko path", mod.Rel)
		}
		p := ModulePath(spec.Release, mod.Rel)
		if err := mkdirs(p); err != nil {
			return "", err
		}
		rc, size, err := mod.Open()
		if err != nil {
			return "", fmt.Errorf("module %s: %w", mod.Rel, err)
		}
		err = writeFile(cw, p, 0o644, rc, size)
		_ = rc.Close()
		if err != nil {
			return "", fmt.Errorf("module %s: %w", mod.Rel, err)
		}
		return p, nil
	}
	for _, mod := range spec.Modules {
		p, err := add(mod)
		if err != nil {
			return m, err
		}
		m.Modules = append(m.Modules, p)
	}
	for _, group := range slices.Sorted(maps.Keys(spec.OnDemand)) {
		if m.OnDemand == nil {
			m.OnDemand = map[string][]string{}
		}
		for _, mod := range spec.OnDemand[group] {
			p, err := add(mod)
			if err != nil {
				return m, err
			}
			m.OnDemand[group] = append(m.OnDemand[group], p)
		}
	}
	manifest, err := json.Marshal(m)
	if err != nil {
		return m, err
	}
	if err := mkdirs(ManifestPath); err != nil {
		return m, err
	}
	if err := writeFile(cw, ManifestPath, 0o644, strings.NewReader(string(manifest)+"\n"), int64(len(manifest)+1)); err != nil {
		return m, err
	}
	if err := cw.Close(); err != nil {
		return m, err
	}
	if err := bw.Flush(); err != nil {
		return m, err
	}
	return m, zw.Close()
}

func writeFile(cw *cpio.Writer, name string, perm uint32, r io.Reader, size int64) error {
	if err := cw.WriteHeader(&cpio.Header{Name: name, Mode: cpio.TypeReg | perm, Size: size}); err != nil {
		return err
	}
	n, err := io.Copy(cw, r)
	if err == nil && n != size {
		err = fmt.Errorf("wrote %d of %d bytes", n, size)
	}
	return err
}
