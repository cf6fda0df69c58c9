package vms

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/bangerdev/banger/internal/hostaccess"
	"github.com/bangerdev/banger/internal/volumes"
)

// Authorize applies the host-path rule (package hostaccess) to every host
// path a client's spec names, as the client c: a shared directory (`-v
// SRC:DST`: read, and write unless :ro), a directory copied into an
// image (`--mount type=image`: read), the stdio paths (stdin read,
// stdout and stderr written). It returns the spec with each path as the
// kernel resolved it for c (no symlink left) and c recorded as the spec's
// Caller, whose access every start checks again (the volumes and output
// stages). Every server that takes a spec from a client calls it before
// Create or Put: the daemon's API and the Docker API alike. Named
// volumes and the pod share are banger's own, not host paths.
func Authorize(c hostaccess.Caller, spec Spec) (Spec, error) {
	var errs []error
	spec.Mounts = append([]volumes.Mount(nil), spec.Mounts...)
	host := false
	for i, m := range spec.Mounts {
		want, ok := mountAccess(m)
		if !ok {
			continue
		}
		host = true
		resolved, err := hostaccess.Check(c, m.Source, want, hostaccess.Tree)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", m.Flag(), err))
			continue
		}
		spec.Mounts[i].Source = resolved
	}
	for _, p := range []struct {
		name string
		path *string
		want hostaccess.Access
	}{{"stdin", &spec.Stdio.Stdin, hostaccess.Read}, {"stdout", &spec.Stdio.Stdout, hostaccess.Write}, {"stderr", &spec.Stdio.Stderr, hostaccess.Write}} {
		if *p.path == "" {
			continue
		}
		host = true
		resolved, err := hostaccess.Check(c, *p.path, p.want, hostaccess.File)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p.name, err))
			continue
		}
		*p.path = resolved
	}
	if err := errors.Join(errs...); err != nil {
		return Spec{}, err
	}
	if host {
		spec.Caller = &c
	}
	return spec, nil
}

// mountAccess is the access a mount asks of its host path, and whether it
// has one.
func mountAccess(m volumes.Mount) (hostaccess.Access, bool) {
	switch {
	case m.Type == volumes.TypeImage:
		return hostaccess.Read, true
	case m.Type == volumes.TypeBind && m.ReadOnly:
		return hostaccess.Read, true
	case m.Type == volumes.TypeBind:
		return hostaccess.Read | hostaccess.Write, true
	}
	return 0, false
}

// hostCaller is whose access the VM's host paths are opened with at a
// start: the spec's Caller; root for a spec without one (made by the
// daemon itself, or before the rule), whose paths are then resolved
// once more at each start (legacy).
func (vm VM) hostCaller() (c hostaccess.Caller, legacy bool) {
	if vm.Spec.Caller != nil {
		return *vm.Spec.Caller, false
	}
	return hostaccess.Root, true
}

// hostDir is whose access a mount's host directory is opened with at
// this start, and the path to open: the checked path of the spec's
// caller; for a spec without one (own directories, or a spec from before
// the rule), root's, the path resolved again now (Open follows no
// symlink).
func (st volumesStage) hostDir(rt *Runtime, m volumes.Mount, own bool) (hostaccess.Caller, string, error) {
	caller, legacy := rt.VM.hostCaller()
	if !own && !legacy {
		return caller, m.Source, nil
	}
	want, _ := mountAccess(m)
	dir, err := hostaccess.Check(hostaccess.Root, m.Source, want, hostaccess.Tree)
	if err != nil {
		return caller, "", fmt.Errorf("%s: %w", m.Flag(), err)
	}
	return hostaccess.Root, dir, nil
}

// buildImage copies a directory into an ext4 image at path: the directory
// opened as the spec's caller (checked again, no symlink followed), and
// copied through its open file, so what is copied is what was checked.
func (st volumesStage) buildImage(ctx context.Context, rt *Runtime, m volumes.Mount, path string) (string, error) {
	caller, dir, err := st.hostDir(rt, m, false)
	if err != nil {
		return "", err
	}
	f, err := hostaccess.Open(caller, dir, hostaccess.Read, hostaccess.Tree)
	if err != nil {
		return "", err
	}
	defer func() { _ = f.Close() }()
	// The trailing slash makes the walk and mke2fs follow the magic link
	// to the directory itself.
	return st.s.Shares.BuildImage(ctx, "/proc/"+strconv.Itoa(os.Getpid())+"/fd/"+strconv.Itoa(int(f.Fd()))+"/", path, m.SizeBytes)
}
