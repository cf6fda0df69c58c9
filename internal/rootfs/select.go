package rootfs

import (
	"fmt"
	"os/exec"
	"path/filepath"

	"github.com/bangerdev/banger/internal/errdefs"
)

// choose returns the strategy for req and why. Auto prefers a reflink (an
// independent raw file at no cost), then for QEMU a qcow2 overlay (no
// kernel objects to leak, any file system), then a dm-snapshot (raw for
// Firecracker), then a copy.
func (m *Manager) choose(req Request) (Strategy, string, error) {
	// Capabilities belong to the file system, so they are detected once in
	// the directory holding every VM's directory (the data dir).
	parent := filepath.Dir(req.Dir)
	caps := m.Capabilities(parent)
	shared := sameFS(req.Image, existingAncestor(parent))
	avail := func(s Strategy) (bool, string) {
		switch s {
		case Reflink:
			if !caps.Reflink.OK {
				return false, caps.Reflink.Reason
			}
			if !shared {
				return false, "the image and the VM directory are on different file systems"
			}
			return true, caps.Reflink.Reason
		case QCOW2:
			if req.Backend != "qemu" {
				return false, fmt.Sprintf("qcow2 disks need the qemu backend, not %q", req.Backend)
			}
			return caps.QCOW2.OK, caps.QCOW2.Reason
		case DMSnapshot:
			if _, ok := m.providers[DMSnapshot]; !ok {
				return false, "this build has no dm-snapshot provider"
			}
			return caps.DMSnapshot.OK, caps.DMSnapshot.Reason
		case Copy:
			return true, "a sparse copy works everywhere"
		}
		return false, fmt.Sprintf("unknown strategy %q (want auto, reflink, qcow2, dm-snapshot or copy)", s)
	}
	if req.Strategy != "" && req.Strategy != Auto {
		ok, why := avail(req.Strategy)
		if !ok {
			return "", "", fmt.Errorf("%w: disk strategy %s: %s", errdefs.ErrUnsupported, req.Strategy, why)
		}
		return req.Strategy, "configured (vm.disk_strategy)", nil
	}
	var skipped string
	for _, s := range []Strategy{Reflink, QCOW2, DMSnapshot, Copy} {
		ok, why := avail(s)
		if ok {
			if skipped != "" {
				why += " (" + skipped + ")"
			}
			return s, why, nil
		}
		if skipped != "" {
			skipped += "; "
		}
		skipped += "no " + string(s) + ": " + why
	}
	return "", "", fmt.Errorf("%w: no disk strategy: %s", errdefs.ErrUnsupported, skipped)
}

// sameFS is sameFilesystem; tests replace it.
var sameFS = sameFilesystem

// qemuImg reports whether qemu-img is installed.
func qemuImg() Capability {
	if p, err := exec.LookPath("qemu-img"); err == nil {
		return Capability{OK: true, Reason: "qcow2 overlays with " + p}
	}
	return Capability{Reason: "qemu-img not found (install qemu-utils)"}
}
