package kernelcat

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bangerdev/banger/internal/fsutil"
	"github.com/bangerdev/banger/internal/kernelcat/compress"
	"github.com/bangerdev/banger/internal/kernelcat/initrd"
	"github.com/bangerdev/banger/internal/kernelcat/kconfig"
	"github.com/bangerdev/banger/internal/kernelcat/kimage"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// The files of an entry.
const (
	fileVmlinux = "vmlinux"
	fileBzImage = "bzImage"
	fileConfig  = "config"
	fileInitrd  = "initrd.img"
	dirModules  = "modules"
)

// build makes the entry for in inside the new directory out.
func build(ctx context.Context, in input, out string, opts *Options) (Kernel, error) {
	if err := os.Mkdir(out, 0o755); err != nil {
		return Kernel{}, err
	}
	k := Kernel{Arch: "x86_64", Dir: out, Vmlinux: filepath.Join(out, fileVmlinux), Source: in.source, Created: time.Now().UTC()}
	if err := kernelFiles(in, &k, opts); err != nil {
		return k, err
	}
	v, err := kimage.InspectVmlinux(k.Vmlinux)
	if err != nil {
		return k, fmt.Errorf("%w: %s: %w", errdefs.ErrInvalid, in.name(), err)
	}
	k.PVH = v.PVH
	k.Version = v.Release
	if k.Version == "" {
		k.Version = in.release
	}
	if in.release != "" && v.Release != "" && in.release != v.Release {
		opts.message("note: %s says release %s, the kernel itself says %s; using %s", filepath.Base(in.name()), in.release, v.Release, v.Release)
	}
	if k.Name = opts.Name; k.Name == "" {
		k.Name = k.Version
	}
	if err := ValidName(k.Name); err != nil {
		return k, err
	}
	cfg, err := loadConfig(in, &k)
	if err != nil {
		return k, err
	}
	k.Checks = Classify(cfg)
	if err := MissingEssentials(k.Checks); err != nil {
		return k, fmt.Errorf("kernel %s: %w", k.Version, err)
	}
	if err := ctx.Err(); err != nil {
		return k, err
	}
	if err := buildInitrd(in, cfg, &k, opts); err != nil {
		return k, fmt.Errorf("kernel %s: %w", k.Version, err)
	}
	if k.VmlinuxSHA256, err = fsutil.SHA256(k.Vmlinux); err != nil {
		return k, err
	}
	k.SizeBytes = dirSize(out)
	return k, nil
}

// kernelFiles stores the kernel: an ELF as vmlinux; a bzImage as is plus
// the vmlinux extracted from it.
func kernelFiles(in input, k *Kernel, opts *Options) error {
	f, err := os.Open(in.kernel)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	switch kimage.Detect(f, fi.Size()) {
	case kimage.KindELF:
		if err := kimage.CheckELF(in.kernel); err != nil {
			return fmt.Errorf("%w: %s: %w", errdefs.ErrInvalid, in.name(), err)
		}
		return copyFile(in.kernel, k.Vmlinux)
	case kimage.KindBzImage:
		k.BzImage = filepath.Join(k.Dir, fileBzImage)
		if err := copyFile(in.kernel, k.BzImage); err != nil {
			return err
		}
		codec, err := kimage.Extract(k.BzImage, k.Vmlinux)
		if err != nil {
			if fsutil.IsNoSpace(err) {
				return err // the host's disk, not the kernel
			}
			return fmt.Errorf("%w: %w", errdefs.ErrInvalid, err)
		}
		k.PayloadCodec = string(codec)
		opts.message("extracted the ELF vmlinux from the bzImage (%s payload)", codec)
		return nil
	}
	return fmt.Errorf("%w: %s is neither an ELF vmlinux nor a bzImage", errdefs.ErrInvalid, in.name())
}

// loadConfig reads the config file found next to the kernel, else the
// copy embedded in it (CONFIG_IKCONFIG), and stores it in the entry.
func loadConfig(in input, k *Kernel) (kconfig.Config, error) {
	var raw []byte
	if in.config != "" {
		b, err := os.ReadFile(in.config)
		if err != nil {
			return nil, fmt.Errorf("kernel config: %w", err)
		}
		raw, k.ConfigSource = b, in.configSource
	} else {
		img, err := os.ReadFile(k.Vmlinux)
		if err != nil {
			return nil, err
		}
		cfg, err := kconfig.FromImage(img)
		if errors.Is(err, kconfig.ErrNoEmbedded) {
			return nil, fmt.Errorf("%w: no kernel config found for %s (no config-%s next to it, none embedded): pass --config with the .config it was built from", errdefs.ErrInvalid, in.name(), k.Version)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errdefs.ErrInvalid, err)
		}
		k.ConfigSource = "ikconfig"
		raw = []byte(cfg.String())
	}
	cfg, err := kconfig.Parse(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errdefs.ErrInvalid, err)
	}
	if len(cfg) == 0 {
		return nil, fmt.Errorf("%w: %s holds no CONFIG_ options", errdefs.ErrInvalid, k.ConfigSource)
	}
	k.Config = filepath.Join(k.Dir, fileConfig)
	return cfg, os.WriteFile(k.Config, raw, 0o644) //nolint:gosec // a kernel config is not secret
}

// buildInitrd gathers the needed modules and their closure into
// <entry>/modules and builds the initramfs, when any driver is a module.
func buildInitrd(in input, cfg kconfig.Config, k *Kernel, opts *Options) error {
	needed, groups := NeededModules(k.Checks), OnDemandModules(k.Checks)
	if len(needed) == 0 {
		return nil
	}
	mods, onDemand, err := resolveModules(in, k, needed, groups, opts)
	if err != nil {
		return err
	}
	if len(mods) == 0 {
		return nil
	}
	codec, err := initrd.Choose(cfg)
	if err != nil {
		return fmt.Errorf("%w: %w", errdefs.ErrInvalid, err)
	}
	if opts.Agent == "" {
		return fmt.Errorf("%w: its drivers are modules, so it needs an initramfs with banger-agent as /init, and no banger-agent was found (install it next to the banger binary or set BANGER_AGENT)", errdefs.ErrUnavailable)
	}
	k.InitrdCodec = string(codec)
	if err := writeInitrd(k, mods, onDemand, opts.Agent); err != nil {
		return err
	}
	opts.message("built the initramfs: %d modules, %s", k.Modules, codec)
	return nil
}

// writeInitrd builds <dir>/initrd.img from the modules stored in
// <dir>/modules (rel paths in load order: every VM's, and the on-demand
// groups') and agent, atomically, and records it in k.
func writeInitrd(k *Kernel, rels []string, onDemand map[string][]string, agent string) error {
	sum, err := fsutil.SHA256(agent)
	if err != nil {
		return fmt.Errorf("banger-agent: %w", err)
	}
	spec := initrd.Spec{Release: k.Version, Agent: agent, Codec: compress.Codec(k.InitrdCodec)}
	spec.Modules = storedModules(k, rels)
	for group, grels := range onDemand {
		if spec.OnDemand == nil {
			spec.OnDemand = map[string][]initrd.Module{}
		}
		spec.OnDemand[group] = storedModules(k, grels)
	}
	final := filepath.Join(k.Dir, fileInitrd)
	tmp, err := os.CreateTemp(k.Dir, ".initrd-*")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	m, err := initrd.Build(tmp, spec)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err != nil {
		return fmt.Errorf("build initramfs: %w", err)
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return err
	}
	k.Initrd, k.InitrdModules, k.InitrdOnDemand, k.AgentSHA256 = final, m.Modules, m.OnDemand, sum
	k.Modules = len(m.Modules)
	for _, g := range m.OnDemand {
		k.Modules += len(g)
	}
	return nil
}

// storedModules are the modules rels, stored in the entry's directory.
func storedModules(k *Kernel, rels []string) []initrd.Module {
	var mods []initrd.Module
	for _, rel := range rels {
		p := filepath.Join(k.Dir, dirModules, filepath.FromSlash(rel))
		mods = append(mods, initrd.Module{Rel: rel, Open: func() (io.ReadCloser, int64, error) {
			f, err := os.Open(p) //nolint:gosec // inside the entry
			if err != nil {
				return nil, 0, err
			}
			fi, err := f.Stat()
			if err != nil {
				_ = f.Close()
				return nil, 0, err
			}
			return f, fi.Size(), nil
		}})
	}
	return mods
}

// EnsureInitrd rebuilds the entry's initramfs when agent differs from the
// one it was built with, and reports whether it did (the caller then
// stores the updated record). Kernels without an initramfs need nothing.
func EnsureInitrd(k *Kernel, agent string) (bool, error) {
	if k.Initrd == "" {
		return false, nil
	}
	sum, err := fsutil.SHA256(agent)
	if err != nil {
		return false, fmt.Errorf("banger-agent: %w", err)
	}
	if sum == k.AgentSHA256 {
		return false, nil
	}
	prefix := "/lib/modules/" + k.Version + "/"
	relsOf := func(paths []string) ([]string, error) {
		var rels []string
		for _, p := range paths {
			rel, ok := strings.CutPrefix(p, prefix)
			if !ok {
				return nil, fmt.Errorf("kernel %s: initramfs module %s is outside %s", k.Name, p, prefix)
			}
			rels = append(rels, rel)
		}
		return rels, nil
	}
	rels, err := relsOf(k.InitrdModules)
	if err != nil {
		return false, err
	}
	onDemand := map[string][]string{}
	for group, paths := range k.InitrdOnDemand {
		if onDemand[group], err = relsOf(paths); err != nil {
			return false, err
		}
	}
	if err := writeInitrd(k, rels, onDemand, agent); err != nil {
		return false, fmt.Errorf("kernel %s: %w", k.Name, err)
	}
	return true, nil
}
