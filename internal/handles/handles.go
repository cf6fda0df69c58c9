// Package handles owns a VM's runtime record, handles.json: one typed
// value naming every host resource the VM holds, with a section per
// lifecycle stage (docs/architecture.md, "The runtime record").
//
// The rule is record, then create: before a stage creates a tap, a disk
// clone, a device-mapper target or a VMM process it writes its section in
// the "creating" state, and after creating it marks the section "created"
// with its final identity (a pid and start time). Every Save replaces the
// file atomically (temp file, fsync, rename, fsync of the directory), so a
// daemon killed at any line leaves a file that names everything that might
// exist. A stage clears its section only after the resource is gone.
//
// The file lives in the VM's state directory, next to its disk, so it
// survives a host reboot with the persistent resources it names. It is the
// one source of truth: the VM's database row shows a summary derived from
// it and is never read back to decide what to release. A section that
// cannot be decoded is reported by name (Record.Broken) and the others
// still decode, so the release of everything else still runs.
package handles

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/bangerdev/banger/internal/fsutil"
)

// FileName is the record's name in a VM's state directory.
const FileName = "handles.json"

// formatVersion is bumped when the file's meaning changes. Version 1 was a
// list of untyped resources in the VM's runtime directory (see legacy.go).
const formatVersion = 2

// State is where a resource is in its creation. A "creating" resource may
// or may not exist; release treats it as existing.
type State string

// The states.
const (
	Creating State = "creating"
	Created  State = "created"
)

// Record is everything one VM holds on the host.
type Record struct {
	Version int       `json:"version"`
	VMID    string    `json:"vm_id"`
	Updated time.Time `json:"updated"`

	// Disk is the VM's writable disk: kept across stops, removed with the
	// VM; its device-mapper objects (dm-snapshot) only while it runs.
	Disk *Disk `json:"disk,omitempty"`
	// Network is the VM's address (kept) and its tap and nft rules (while
	// it runs).
	Network *Network `json:"network,omitempty"`
	// Netns is the VM's tap and tc filters in a network namespace it is
	// attached to instead of banger's bridge, while it runs.
	Netns *Netns `json:"netns,omitempty"`
	// RunDir is the VM's runtime directory (sockets), while it runs.
	RunDir *RunDir `json:"run_dir,omitempty"`
	// Volumes are the host side of the VM's mounts: virtiofsd processes
	// and named-volume holds while it runs, directory images until rm.
	Volumes *Volumes `json:"volumes,omitempty"`
	// VMM is the VMM process and what its backend made for it.
	VMM *VMM `json:"vmm,omitempty"`
	// Snapshot is a boot snapshot being saved from the VM, while it is.
	Snapshot *Snapshot `json:"snapshot,omitempty"`
	// Checkpoint is a checkpoint being taken of the running VM (its
	// temporary directory in the checkpoint store), while it is.
	Checkpoint *Snapshot `json:"checkpoint,omitempty"`

	// Broken names the sections the file holds but that could not be
	// decoded (all of them when the file itself is unreadable). Their
	// stages release by the VM id alone, then call Repaired.
	Broken []string `json:"-"`

	file *file
}

// Running reports whether the record names anything a running VM holds
// (and a stop releases).
func (r *Record) Running() bool {
	return r.RunDir != nil || r.VMM != nil || r.Snapshot != nil || r.Checkpoint != nil || (r.Disk != nil && r.Disk.DM != "") ||
		(r.Network != nil && r.Network.Attach != "") || r.Netns != nil || r.Volumes.running() || len(r.Broken) > 0
}

// Empty reports whether the record names nothing at all.
func (r *Record) Empty() bool {
	return r.Disk == nil && r.Network == nil && r.Netns == nil && r.RunDir == nil && r.VMM == nil && r.Volumes == nil && r.Snapshot == nil && r.Checkpoint == nil && len(r.Broken) == 0
}

// Sections are the names of the record's sections, as the file spells
// them.
var Sections = []string{"disk", "network", "netns", "run_dir", "volumes", "vmm", "snapshot", "checkpoint"}

// IsBroken reports whether section could not be decoded.
func (r *Record) IsBroken(section string) bool { return slices.Contains(r.Broken, section) }

// Repaired drops section from Broken once its stage released what it
// could have named; the next Save writes the record clean of it.
func (r *Record) Repaired(section string) {
	r.Broken = slices.DeleteFunc(r.Broken, func(s string) bool { return s == section })
}

// file is where a Record is saved.
type file struct {
	mu   sync.Mutex
	path string
}

// New returns an empty record for vmID, saved at path.
func New(path, vmID string) *Record {
	return &Record{Version: formatVersion, VMID: vmID, file: &file{path: path}}
}

// Open loads the record at path, or returns an empty one when there is
// none. A file that cannot be used at all (not JSON, another VM's) is
// reported with ErrCorrupt alongside a usable record whose Broken names
// every section; a section that cannot be decoded is listed in Broken and
// dropped, and the error is ErrCorrupt too. Either way the record can be
// saved and released from.
func Open(path, vmID string) (*Record, error) {
	r := New(path, vmID)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return r, nil
	}
	if err != nil {
		return r, fmt.Errorf("read %s: %w", path, err)
	}
	if err := r.decode(b); err != nil {
		return r, fmt.Errorf("%w: %s: %w", ErrCorrupt, path, err)
	}
	return r, nil
}

// ErrCorrupt reports a record that could not be fully decoded.
var ErrCorrupt = errors.New("runtime record corrupt")

// decode fills r from b section by section, so one bad section does not
// hide the others.
func (r *Record) decode(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		r.Broken = slices.Clone(Sections)
		return err
	}
	var head struct {
		Version int    `json:"version"`
		VMID    string `json:"vm_id"`
	}
	if err := json.Unmarshal(b, &head); err != nil || head.Version != formatVersion || head.VMID != r.VMID {
		r.Broken = slices.Clone(Sections)
		return fmt.Errorf("version %d of vm %q, want version %d of vm %q", head.Version, head.VMID, formatVersion, r.VMID)
	}
	return errors.Join(
		decodeSection(r, raw, "disk", &r.Disk),
		decodeSection(r, raw, "network", &r.Network),
		decodeSection(r, raw, "netns", &r.Netns),
		decodeSection(r, raw, "run_dir", &r.RunDir),
		decodeSection(r, raw, "volumes", &r.Volumes),
		decodeSection(r, raw, "vmm", &r.VMM),
		decodeSection(r, raw, "snapshot", &r.Snapshot),
		decodeSection(r, raw, "checkpoint", &r.Checkpoint),
	)
}

// decodeSection sets *dst to the section name of raw when the file holds
// it (null is none); one that does not decode is left nil and named in
// r.Broken.
func decodeSection[T any](r *Record, raw map[string]json.RawMessage, name string, dst **T) error {
	v, ok := raw[name]
	if !ok || string(v) == "null" {
		return nil
	}
	var sec T
	if err := json.Unmarshal(v, &sec); err != nil {
		r.Broken = append(r.Broken, name)
		return fmt.Errorf("section %s: %w", name, err)
	}
	*dst = &sec
	return nil
}

// Path is where the record is saved.
func (r *Record) Path() string { return r.file.path }

// Save writes the record atomically. A stage calls it after changing its
// section and before creating (or after releasing) what the section names.
// Once the file says it, a crash cannot lose it.
func (r *Record) Save() error {
	r.file.mu.Lock()
	defer r.file.mu.Unlock()
	r.Version = formatVersion
	r.Updated = time.Now().UTC()
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode runtime record of vm %s: %w", r.VMID, err)
	}
	if err := fsutil.WriteAtomic(r.file.path, b, 0o600); err != nil {
		return fmt.Errorf("save runtime record of vm %s: %w", r.VMID, err)
	}
	return nil
}

// Copy returns a deep copy, safe to read while the original changes.
func (r *Record) Copy() Record {
	c := *r
	c.file = nil
	c.Broken = slices.Clone(r.Broken)
	if r.Disk != nil {
		d := *r.Disk
		if d.Disk.DM != nil {
			dm := *d.Disk.DM
			d.Disk.DM = &dm
		}
		c.Disk = &d
	}
	if r.Network != nil {
		n := *r.Network
		n.Resources.Ports = slices.Clone(n.Resources.Ports)
		c.Network = &n
	}
	if r.Netns != nil {
		n := *r.Netns
		c.Netns = &n
	}
	if r.RunDir != nil {
		d := *r.RunDir
		c.RunDir = &d
	}
	if r.Volumes != nil {
		c.Volumes = &Volumes{Mounts: slices.Clone(r.Volumes.Mounts)}
	}
	if r.VMM != nil {
		v := *r.VMM
		v.Handles.Sockets = cloneMap(v.Handles.Sockets)
		v.Handles.Confinement = v.Handles.Confinement.Copy()
		c.VMM = &v
	}
	if r.Snapshot != nil {
		sn := *r.Snapshot
		c.Snapshot = &sn
	}
	if r.Checkpoint != nil {
		ck := *r.Checkpoint
		c.Checkpoint = &ck
	}
	return c
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Remove deletes the file; only a record that names nothing may go (rm
// calls it last).
func (r *Record) Remove() error {
	if !r.Empty() {
		return fmt.Errorf("runtime record of vm %s still names host resources", r.VMID)
	}
	if err := os.Remove(r.file.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove runtime record of vm %s: %w", r.VMID, err)
	}
	return nil
}
