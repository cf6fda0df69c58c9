// Package handles owns a VM's handles.json: the crash-safe list of every
// host resource the VM holds.
//
// The rule (DESIGN.md, "State and recovery") is record, then create: before
// the daemon creates a tap, a disk clone, a loop device or a VMM process it
// appends a "creating" entry naming it, and after creating it marks the
// entry "created" with its final identity (a pid and start time, a loop
// device number). Every write replaces the file atomically (temp file,
// fsync, rename, fsync of the directory), so a daemon killed at any line
// leaves a file that names everything that might exist. Release removes an
// entry only after the resource is gone.
//
// The same list is mirrored onto VM.Runtime in the database through the
// Mirror callback, so cleanup still works when the runtime directory (a
// tmpfs) or the file itself is lost or corrupt.
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

// FileName is the name of the file in a VM's runtime directory.
const FileName = "handles.json"

// formatVersion is bumped when the file's meaning changes.
const formatVersion = 1

// Kind names a type of host resource.
type Kind string

// The kinds of resources a VM holds.
const (
	VMM        Kind = "vmm"         // the VMM process; Data holds vmm.Handles
	Disk       Kind = "disk"        // the writable disk; Name is its path
	Tap        Kind = "tap"         // Name is the interface name
	NftRules   Kind = "nft"         // rules and set elements tagged banger:<vm id>
	Lease      Kind = "lease"       // Name is the IP address
	Loop       Kind = "loop"        // Name is the backing file; Data the device
	DM         Kind = "dm"          // Name is the device-mapper name
	RuntimeDir Kind = "runtime-dir" // Name is the directory
)

// Scope says when a resource is released: at stop (Runtime) or only when the
// VM is removed (Persistent).
type Scope string

// The scopes.
const (
	Runtime    Scope = "runtime"
	Persistent Scope = "persistent"
)

// State is where a resource is in its creation.
type State string

// The states. A "creating" resource may or may not exist.
const (
	Creating State = "creating"
	Created  State = "created"
)

// Resource is one entry.
type Resource struct {
	Kind  Kind            `json:"kind"`
	Name  string          `json:"name"`
	Scope Scope           `json:"scope"`
	State State           `json:"state"`
	Data  json.RawMessage `json:"data,omitempty"`
}

// File is the content of handles.json.
type File struct {
	Version   int        `json:"version"`
	VMID      string     `json:"vm_id"`
	Resources []Resource `json:"resources"`
	Updated   time.Time  `json:"updated"`
}

// Find returns the resources of a kind.
func (f File) Find(k Kind) []Resource {
	var out []Resource
	for _, r := range f.Resources {
		if r.Kind == k {
			out = append(out, r)
		}
	}
	return out
}

// Recorder appends to and releases from one VM's handles.json. It is safe
// for concurrent use.
type Recorder struct {
	mu     sync.Mutex
	path   string
	file   File
	mirror func(File) error
}

// Open starts recording for vmID in path. An existing file is loaded, so a
// restarted daemon continues where the previous one stopped; a corrupt file
// is replaced by base (the copy mirrored in the database), and the error
// ErrCorrupt is returned alongside the usable Recorder so the caller can log
// it. mirror, when set, is called with every new state after the file is
// written.
func Open(path, vmID string, base File, mirror func(File) error) (*Recorder, error) {
	r := &Recorder{path: path, mirror: mirror}
	f, err := Load(path)
	switch {
	case err == nil && f.VMID == vmID:
		r.file = f
		return r, nil
	case err == nil:
		err = fmt.Errorf("%w: %s belongs to vm %q, not %q", ErrCorrupt, path, f.VMID, vmID)
	case errors.Is(err, os.ErrNotExist):
		err = nil
	}
	r.file = base
	r.file.Version, r.file.VMID = formatVersion, vmID
	return r, err
}

// ErrCorrupt reports a handles.json that could not be used.
var ErrCorrupt = errors.New("handles file corrupt")

// Load reads a handles.json.
func Load(path string) (File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return File{}, err
	}
	var f File
	if err := json.Unmarshal(b, &f); err != nil {
		return File{}, fmt.Errorf("%w: %s: %w", ErrCorrupt, path, err)
	}
	if f.Version != formatVersion {
		return File{}, fmt.Errorf("%w: %s: format version %d, want %d", ErrCorrupt, path, f.Version, formatVersion)
	}
	return f, nil
}

// Snapshot returns a copy of the current state.
func (r *Recorder) Snapshot() File {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.file
	f.Resources = slices.Clone(f.Resources)
	return f
}

// Creating records that a resource is about to be created. It must be
// called, and must succeed, before the resource is created.
func (r *Recorder) Creating(k Kind, name string, scope Scope, data any) error {
	return r.set(Resource{Kind: k, Name: name, Scope: scope, State: Creating}, data)
}

// Created records a resource's final identity after it was created.
func (r *Recorder) Created(k Kind, name string, scope Scope, data any) error {
	return r.set(Resource{Kind: k, Name: name, Scope: scope, State: Created}, data)
}

func (r *Recorder) set(res Resource, data any) error {
	if data != nil {
		raw, err := json.Marshal(data)
		if err != nil {
			return fmt.Errorf("record %s %s: %w", res.Kind, res.Name, err)
		}
		res.Data = raw
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	next := slices.Clone(r.file.Resources)
	i := slices.IndexFunc(next, func(x Resource) bool { return x.Kind == res.Kind && x.Name == res.Name })
	if i >= 0 {
		next[i] = res
	} else {
		next = append(next, res)
	}
	return r.commit(next)
}

// Released drops a resource after it is gone. Releasing an unknown
// resource is a no-op.
func (r *Recorder) Released(k Kind, name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	next := slices.DeleteFunc(slices.Clone(r.file.Resources), func(x Resource) bool { return x.Kind == k && x.Name == name })
	if len(next) == len(r.file.Resources) {
		return nil
	}
	return r.commit(next)
}

// commit writes the new list; the in-memory state changes only when the
// file (and mirror) accepted it.
func (r *Recorder) commit(next []Resource) error {
	f := r.file
	f.Resources = next
	f.Updated = time.Now().UTC()
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	if err := fsutil.WriteAtomic(r.path, b, 0o600); err != nil {
		return fmt.Errorf("record handles of vm %s: %w", f.VMID, err)
	}
	if r.mirror != nil {
		if err := r.mirror(f); err != nil {
			return fmt.Errorf("mirror handles of vm %s: %w", f.VMID, err)
		}
	}
	r.file = f
	return nil
}

// Remove deletes the file once every resource is released.
func (r *Recorder) Remove() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.file.Resources) > 0 {
		return fmt.Errorf("vm %s still holds %d resources", r.file.VMID, len(r.file.Resources))
	}
	if err := os.Remove(r.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
