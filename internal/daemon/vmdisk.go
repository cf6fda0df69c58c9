package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	"github.com/bangerdev/banger/internal/api"
	"github.com/bangerdev/banger/internal/handles"
	"github.com/bangerdev/banger/internal/paths"
)

// disk is a VM's writable root disk as the VMM sees it.
type disk struct {
	Path     string
	Format   string // "raw" or "qcow2"
	Strategy string
	// GrowInGuest asks the agent to grow the file system online (the
	// host only enlarged the disk file).
	GrowInGuest bool
}

// diskData is what handles.json records about a disk.
type diskData struct {
	Strategy    string `json:"strategy"`
	Format      string `json:"format,omitempty"`
	GrowInGuest bool   `json:"grow_in_guest,omitempty"`
}

// vmDisks prepares and removes VMs' writable disks.
type vmDisks struct {
	layout   paths.Layout
	strategy string
}

func newVMDisks(l paths.Layout, strategy string) *vmDisks {
	return &vmDisks{layout: l, strategy: strategy}
}

// prepare returns the VM's disk, creating it from the image on the first
// start (recorded before it is created). Later starts reuse it, so files
// written in the guest survive stop and start.
func (v *vmDisks) prepare(ctx context.Context, vm api.VM, img api.Image, backend string, rec *handles.Recorder) (disk, error) {
	if res := rec.Snapshot().Find(handles.Disk); len(res) > 0 && res[0].State == handles.Created {
		var dd diskData
		_ = json.Unmarshal(res[0].Data, &dd)
		if _, err := os.Stat(res[0].Name); err == nil {
			return disk{Path: res[0].Name, Format: dd.Format, Strategy: dd.Strategy}, nil
		}
	}
	path := filepath.Join(v.layout.VM(vm.ID), "disk.qcow2")
	dd := diskData{Strategy: "qcow2", Format: "qcow2", GrowInGuest: vm.Spec.DiskBytes > 0}
	if err := rec.Creating(handles.Disk, path, handles.Persistent, dd); err != nil {
		return disk{}, err
	}
	args := []string{"create", "-q", "-f", "qcow2", "-F", "raw", "-b", img.Rootfs, path}
	if vm.Spec.DiskBytes > img.SizeBytes {
		args = append(args, strconv.FormatInt(vm.Spec.DiskBytes, 10))
	}
	if out, err := exec.CommandContext(ctx, "qemu-img", args...).CombinedOutput(); err != nil {
		_ = os.Remove(path)
		return disk{}, fmt.Errorf("qemu-img create: %w: %s", err, out)
	}
	if err := rec.Created(handles.Disk, path, handles.Persistent, dd); err != nil {
		return disk{}, err
	}
	return disk{Path: path, Format: dd.Format, Strategy: dd.Strategy, GrowInGuest: dd.GrowInGuest}, nil
}

// remove deletes a VM's disk (the VM directory goes with the VM).
func (v *vmDisks) remove(_ context.Context, id string) error {
	matches, _ := filepath.Glob(filepath.Join(v.layout.VM(id), "disk.*"))
	var errs []error
	for _, m := range matches {
		if err := os.Remove(m); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// releaseRuntime releases what a disk holds only while the VM runs
// (device-mapper targets and loop devices).
func (v *vmDisks) releaseRuntime(context.Context, string) error { return nil }

// diskObject is a disk-related host object a VM holds while it runs
// (device-mapper targets, loop devices).
type diskObject struct {
	kind, name, owner string
	remove            func() error
}

func (v *vmDisks) owned(context.Context) []diskObject { return nil }

// diskCaps is what the disk strategies found on this host.
type diskCaps struct {
	checks []api.DoctorCheck
	uses   string
}

func (v *vmDisks) capabilities(context.Context) diskCaps {
	return diskCaps{uses: "qcow2"}
}
