package rootfs

import (
	"os"
	"path/filepath"
)

// Capability is whether one mechanism works here, and why (not).
type Capability struct {
	OK     bool   `json:"ok"`
	Reason string `json:"reason"`
}

// Capabilities are the disk mechanisms a directory's host offers; `banger
// doctor` prints them for the VM directory.
type Capabilities struct {
	Dir        string     `json:"dir"`
	Reflink    Capability `json:"reflink"`
	DMSnapshot Capability `json:"dm_snapshot"`
	QCOW2      Capability `json:"qcow2"`
}

// Detect finds out what dir offers: reflink by cloning a small file in it
// (the only reliable test: support depends on the file system and how it
// was made, e.g. XFS with reflink=1), dm-snapshot by the device-mapper
// control node and dmsetup, qcow2 by qemu-img. It creates and removes two
// small temporary files in dir.
func Detect(dir string) Capabilities {
	return Capabilities{
		Dir:        dir,
		Reflink:    detectReflink(dir),
		DMSnapshot: detectDM(),
		QCOW2:      qemuImg(),
	}
}

// Capabilities returns Detect(dir), computed once per directory. A
// directory that does not exist yet is represented by its nearest existing
// ancestor (it will be on that file system).
func (m *Manager) Capabilities(dir string) Capabilities {
	dir = existingAncestor(dir)
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := m.caps[dir]; ok {
		return c
	}
	c := Detect(dir)
	m.caps[dir] = c
	return c
}

// mapperControl is device-mapper's control node.
const mapperControl = "/dev/mapper/control"

func detectDM() Capability {
	if _, err := os.Stat(mapperControl); err != nil {
		return Capability{Reason: "no " + mapperControl + " (device-mapper not available in this kernel or container)"}
	}
	return Capability{OK: true, Reason: "device-mapper available (" + mapperControl + ")"}
}

func existingAncestor(dir string) string {
	for {
		if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return dir
		}
		dir = parent
	}
}
