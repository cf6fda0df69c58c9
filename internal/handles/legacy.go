package handles

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/bangerdev/banger/internal/hostnet"
)

// legacyFile is the version 1 record: a list of untyped resources, kept in
// the VM's runtime directory by banger before the typed record. A daemon
// upgraded while VMs run reads it once (FromLegacy) so it can still adopt
// or release them.
type legacyFile struct {
	Version   int `json:"version"`
	VMID      string
	Resources []struct {
		Kind  string          `json:"kind"`
		Name  string          `json:"name"`
		State State           `json:"state"`
		Data  json.RawMessage `json:"data"`
	} `json:"resources"`
}

// FromLegacy converts the version 1 record at path into a Record saved at
// newPath (not yet written: the caller saves it, then removes the old
// file). It returns os.ErrNotExist when there is no old file.
func FromLegacy(path, newPath, vmID string) (*Record, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f legacyFile
	if err := json.Unmarshal(b, &f); err != nil || f.Version != 1 {
		return nil, fmt.Errorf("%w: %s is not a version 1 record", ErrCorrupt, path)
	}
	r := New(newPath, vmID)
	for _, res := range f.Resources {
		var err error
		switch res.Kind {
		case "vmm":
			v := VMM{State: res.State}
			err = unmarshalIf(res.Data, &v.Handles)
			r.VMM = &v
		case "disk":
			d := Disk{State: res.State}
			err = unmarshalIf(res.Data, &d.Disk)
			d.Disk.Path = orDefault(d.Disk.Path, res.Name)
			r.Disk = mergeDM(r.Disk, d)
		case "loop", "dm":
			r.Disk = mergeDM(r.Disk, Disk{DM: Created})
		case "lease", "nft":
			var rs hostnet.Resources
			err = unmarshalIf(res.Data, &rs)
			n := r.network()
			if res.Kind == "lease" {
				n.Lease, n.IP, n.MAC = res.State, rs.IP, rs.MAC
			} else {
				n.Attach = res.State
			}
			if rs.Marker != "" || n.Resources.Tap == "" {
				n.Resources = rs
			}
		case "tap":
			n := r.network()
			n.Attach, n.Resources.Tap = res.State, res.Name
		case "runtime-dir":
			r.RunDir = &RunDir{State: res.State, Path: res.Name}
		}
		if err != nil {
			r.Broken = append(r.Broken, res.Kind)
		}
	}
	return r, nil
}

func (r *Record) network() *Network {
	if r.Network == nil {
		r.Network = &Network{}
	}
	return r.Network
}

// mergeDM folds a version 1 loop or dm entry into the disk section.
func mergeDM(cur *Disk, add Disk) *Disk {
	if cur == nil {
		return &add
	}
	if add.Disk.Path != "" {
		dm := cur.DM
		*cur = add
		cur.DM = dm
	}
	if add.DM != "" {
		cur.DM = add.DM
	}
	return cur
}

func unmarshalIf(b json.RawMessage, v any) error {
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	return json.Unmarshal(b, v)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
