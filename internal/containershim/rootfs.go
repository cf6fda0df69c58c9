package containershim

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/pkg/archive"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// Mounter mounts the snapshotter's mounts of a container's root file
// system; tests replace it.
type Mounter interface {
	Mount(mounts []mount.Mount, target string) error
	Unmount(target string) error
}

// HostMounter mounts on this host, with containerd's mount package.
type HostMounter struct{}

// Mount mounts every mount on target, in order.
func (HostMounter) Mount(ms []mount.Mount, target string) error { return mount.All(ms, target) }

// Unmount unmounts everything mounted on target.
func (HostMounter) Unmount(target string) error { return mount.UnmountAll(target, 0) }

// imageRepo is the repository of the images the shim imports.
const imageRepo = "containerd/rootfs"

// privateImage is the name of the image imported for the container whose
// VM is vm alone: the delete action of a dead shim removes it by this name.
func privateImage(vm string) string { return imageRepo + ":" + vm }

// rootfsImage is the banger image a container runs: Name is what its VM
// is created of; Private says it is the container's alone (removed with
// it).
type rootfsImage struct {
	Name    string
	Private bool
}

// resolveImage makes the banger image of a container's root file system:
// the image CRI named (a container's, or a sandbox's pause image), pulled
// by name; else the snapshot's tree, imported
// as a tar. An overlay of image layers with an empty upper directory is
// the image's own tree, so it is named by a digest of its layers and
// reused by the next container of that image.
func (s *Service) resolveImage(ctx context.Context, ns, id, bundle string, mounts []mount.Mount, annotations map[string]string) (rootfsImage, error) {
	if ref := imageRef(annotations); ref != "" {
		img, err := s.daemon.PullImage(ctx, ref)
		if err != nil {
			return rootfsImage{}, fmt.Errorf("pull image %s for container %s: %w", ref, id, err)
		}
		return rootfsImage{Name: img.Name}, nil
	}
	img := rootfsImage{Name: privateImage(VMName(ns, id)), Private: true}
	if key, ok := sharedKey(mounts); ok {
		img = rootfsImage{Name: imageRepo + ":" + key}
		if _, err := s.daemon.Image(ctx, img.Name); err == nil {
			return img, nil
		} else if !errors.Is(err, errdefs.ErrNotFound) {
			return rootfsImage{}, fmt.Errorf("look up image %s: %w", img.Name, err)
		}
	}
	target := filepath.Join(bundle, "rootfs")
	if len(mounts) > 0 {
		if err := os.MkdirAll(target, 0o711); err != nil {
			return rootfsImage{}, fmt.Errorf("container %s: %w", id, err)
		}
		if err := s.mounter.Mount(mounts, target); err != nil {
			return rootfsImage{}, fmt.Errorf("mount the root file system of container %s: %w", id, err)
		}
		defer func() { _ = s.mounter.Unmount(target) }()
	}
	if err := s.importTree(ctx, img.Name, target); err != nil {
		// Another container of the image may have imported it meanwhile
		// (and its VM now uses it, so this import cannot replace it).
		if _, lookErr := s.daemon.Image(ctx, img.Name); !img.Private && lookErr == nil {
			return img, nil
		}
		return rootfsImage{}, fmt.Errorf("import the root file system of container %s: %w", id, err)
	}
	return img, nil
}

// importTree streams the tree at dir as a tar to the daemon's import.
func (s *Service) importTree(ctx context.Context, name, dir string) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(archive.WriteDiff(ctx, pw, "", dir)) }()
	_, err := s.daemon.ImportImage(ctx, name, pr)
	_ = pr.CloseWithError(errors.New("import ended"))
	return err
}

// sharedKey is the digest that names an image made of mounts when they
// hold only image layers: one overlay (or a read-only bind of one layer)
// whose upper directory, if any, is empty.
func sharedKey(mounts []mount.Mount) (string, bool) {
	if len(mounts) != 1 {
		return "", false
	}
	m := mounts[0]
	var layers []string
	switch m.Type {
	case "overlay":
		for _, o := range m.Options {
			k, v, _ := strings.Cut(o, "=")
			switch k {
			case "lowerdir":
				layers = append(layers, v)
			case "upperdir":
				if !emptyDir(v) {
					return "", false
				}
			}
		}
	case "bind":
		if !slices.Contains(m.Options, "ro") {
			return "", false
		}
		layers = append(layers, m.Source)
	}
	if len(layers) == 0 {
		return "", false
	}
	sum := sha256.Sum256([]byte(m.Type + "\x00" + strings.Join(layers, "\x00")))
	return hex.EncodeToString(sum[:12]), true
}

// emptyDir says whether dir is an empty directory.
func emptyDir(dir string) bool {
	f, err := os.Open(dir) //nolint:gosec // the snapshotter's directory
	if err != nil {
		return false
	}
	defer func() { _ = f.Close() }()
	_, err = f.Readdirnames(1)
	return errors.Is(err, io.EOF)
}
