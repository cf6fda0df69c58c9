package bootcfg

import (
	"fmt"
	"path"
	"regexp"
)

// The mount types of Mount.Type.
const (
	// MountVirtioFS mounts a virtio-fs tag: a host directory shared live.
	MountVirtioFS = "virtiofs"
	// MountExt4 mounts the block device holding the ext4 file system
	// whose UUID is Source: a named volume or a directory's image.
	MountExt4 = "ext4"
)

// Mount is a volume the agent mounts before anything of the image runs.
// A mount that fails stops the boot: a volume never silently goes
// missing.
type Mount struct {
	Type string `json:"type"`
	// Source is the virtio-fs tag, or the ext4 file system's UUID (the
	// agent finds its device; drive order differs between VMMs).
	Source string `json:"source"`
	// Target is an absolute, clean guest path other than /; it is created
	// when missing. Mounts are made parents first.
	Target   string `json:"target"`
	ReadOnly bool   `json:"read_only,omitempty"`
	// CopyUp fills a volume that is still empty from what the image has
	// at Target — its content, owner and mode — before it is mounted
	// there, as docker does for a new named volume.
	CopyUp bool `json:"copy_up,omitempty"`
}

// uuidRE is a file system UUID as banger writes it.
var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// validateMounts adds to bad what is wrong with ms.
func validateMounts(ms []Mount, bad func(format string, args ...any)) {
	targets := map[string]bool{}
	for i, m := range ms {
		switch m.Type {
		case MountVirtioFS:
			if m.Source == "" || len(m.Source) > 36 {
				bad("mounts[%d].source: a virtio-fs tag of 1..36 bytes, got %q", i, m.Source)
			}
		case MountExt4:
			if !uuidRE.MatchString(m.Source) {
				bad("mounts[%d].source %q is not a file system UUID", i, m.Source)
			}
		default:
			bad("mounts[%d].type %q: want %s or %s", i, m.Type, MountVirtioFS, MountExt4)
		}
		if !mountPoint(m.Target) {
			bad("mounts[%d].target %q: want an absolute, clean path other than /", i, m.Target)
		}
		if targets[m.Target] {
			bad("mounts[%d].target %s is mounted twice", i, m.Target)
		}
		targets[m.Target] = true
		if m.CopyUp && m.Type != MountExt4 {
			bad("mounts[%d].copy_up applies to ext4 volumes only", i)
		}
	}
}

// mountPoint says p is a guest path something may be mounted on: absolute,
// clean, and not /.
func mountPoint(p string) bool { return path.IsAbs(p) && path.Clean(p) == p && p != "/" }

// String is how the agent names a mount in errors.
func (m Mount) String() string { return fmt.Sprintf("%s %s on %s", m.Type, m.Source, m.Target) }
