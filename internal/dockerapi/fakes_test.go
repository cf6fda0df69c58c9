package dockerapi

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bangerdev/banger/internal/imagepull"
	"github.com/bangerdev/banger/internal/images"
	"github.com/bangerdev/banger/internal/vmlogs"
	"github.com/bangerdev/banger/internal/vms"
	"github.com/bangerdev/banger/internal/volumes"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// fakeVMs is the VM service as the Engine API sees it: records in a
// map, the calls it got in order.
type fakeVMs struct {
	mu      sync.Mutex
	vms     map[string]vms.VM
	calls   []string
	created []vms.Spec
	// createErr, startErr, when set, are what Create and Start answer.
	createErr, startErr error
}

func newFakeVMs(list ...vms.VM) *fakeVMs {
	f := &fakeVMs{vms: map[string]vms.VM{}}
	for _, vm := range list {
		f.vms[vm.ID] = vm
	}
	return f
}

func (f *fakeVMs) call(format string, args ...any) {
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

// Get resolves as vms.Service does: id, name, or an id prefix of at
// least 3 digits.
func (f *fakeVMs) Get(ref string) (vms.VM, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if vm, ok := f.vms[ref]; ok {
		return vm, nil
	}
	var found []vms.VM
	for _, vm := range f.vms {
		if vm.Name == ref {
			return vm, nil
		}
		if len(ref) >= 3 && strings.HasPrefix(vm.ID, ref) {
			found = append(found, vm)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return vms.VM{}, fmt.Errorf("vm %q: %w", ref, errdefs.ErrNotFound)
	}
	return vms.VM{}, fmt.Errorf("%w: vm id prefix %q is ambiguous", errdefs.ErrInvalid, ref)
}

func (f *fakeVMs) List(all bool, _ ...string) ([]vms.VM, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []vms.VM
	for _, vm := range f.vms {
		if all || vm.State.Live() || vm.State == vms.Restarting {
			out = append(out, vm)
		}
	}
	slices.SortFunc(out, func(a, b vms.VM) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func (f *fakeVMs) Create(_ context.Context, name string, spec vms.Spec) (vms.VM, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("create %s", name)
	f.created = append(f.created, spec)
	if f.createErr != nil {
		return vms.VM{}, f.createErr
	}
	id := fmt.Sprintf("%012x", len(f.vms)+0xabc000)
	if name == "" {
		name = "vm_" + id[:4]
	}
	vm := vms.VM{ID: id, Name: name, State: vms.Created, Spec: spec, Created: time.Unix(1700000000, 0)}
	f.vms[id] = vm
	return vm, nil
}

func (f *fakeVMs) set(ref string, fn func(*vms.VM)) (vms.VM, error) {
	vm, err := f.Get(ref)
	if err != nil {
		return vm, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(&vm)
	f.vms[vm.ID] = vm
	return vm, nil
}

func (f *fakeVMs) Start(_ context.Context, ref string) (vms.StartResult, error) {
	f.call("start %s", ref)
	if f.startErr != nil {
		return vms.StartResult{}, f.startErr
	}
	vm, err := f.set(ref, func(v *vms.VM) { v.State = vms.Running; v.Started = time.Unix(1700000100, 0) })
	return vms.StartResult{VM: vm}, err
}

func (f *fakeVMs) StopWith(_ context.Context, ref string, o vms.StopOptions) (vms.VM, error) {
	f.call("stop %s %s %s", ref, o.Signal, o.Timeout)
	return f.set(ref, func(v *vms.VM) { v.State = vms.Exited })
}

func (f *fakeVMs) Kill(_ context.Context, ref, sig string) (vms.VM, error) {
	f.call("kill %s %s", ref, sig)
	return f.set(ref, func(v *vms.VM) { v.State = vms.Exited })
}

func (f *fakeVMs) Wait(_ context.Context, ref string) (vms.VM, error) {
	f.call("wait %s", ref)
	return f.Get(ref)
}

func (f *fakeVMs) RemoveWith(_ context.Context, ref string, o vms.RemoveOptions) error {
	vm, err := f.Get(ref)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("rm %s force=%v", ref, o.Force)
	if vm.State.Live() && !o.Force {
		return fmt.Errorf("vm %s: %w: it is running", vm.Name, errdefs.ErrConflict)
	}
	delete(f.vms, vm.ID)
	return nil
}

// fakeImages is a catalog of named images.
type fakeImages struct{ list []images.Image }

// Find resolves names as the catalog does (normalized: "alpine" is
// docker.io/library/alpine:latest) and ids.
func (f fakeImages) Find(ref string) (images.Image, error) {
	name, _ := imagepull.NormalizeName(ref)
	for _, img := range f.list {
		if img.Name == name || img.ID == ref {
			return img, nil
		}
	}
	return images.Image{}, fmt.Errorf("image %q: %w", ref, errdefs.ErrNotFound)
}

func (f fakeImages) List() ([]images.Image, error) { return f.list, nil }

type fakeVolumes struct{}

func (fakeVolumes) List() ([]volumes.Volume, error) { return nil, nil }

// newTestServer is a Server over fakes and a real output service whose
// logs live in dir.
func newTestServer(f *fakeVMs, dir string) (*Server, *vmlogs.Service) {
	out := &vmlogs.Service{Path: func(id string) string { return dir + "/" + id + ".log" }, Limits: vmlogs.Limits{MaxSize: 1 << 20, MaxFiles: 2}}
	s := New(Options{VMs: f, Outputs: out, Images: fakeImages{list: []images.Image{{ID: "img1", Name: "docker.io/library/alpine:latest"}}},
		Volumes: fakeVolumes{}, Version: "test", StateDir: "/var/lib/banger", StopTimeout: 10 * time.Second})
	return s, out
}

func (f *fakeVMs) RestartWith(_ context.Context, ref string, o vms.StopOptions) (vms.StartResult, error) {
	f.call("restart %s %s", ref, o.Timeout)
	vm, err := f.set(ref, func(v *vms.VM) { v.State = vms.Running })
	return vms.StartResult{VM: vm}, err
}

// fakeMain is a VM's main process as the output service attaches to
// it: it writes its lines, copies its stdin to stdout when it has one,
// and exits with code once release is closed.
type fakeMain struct {
	stdout, stderr []string
	code           int
	release        chan struct{}
	// sizes gets the terminal sizes the process is given.
	sizes chan vmlogs.Size
}

func (m *fakeMain) AttachMain(ctx context.Context, s vmlogs.Streams) (int, error) {
	if s.Accepted != nil {
		s.Accepted()
	}
	for _, l := range m.stdout {
		_, _ = io.WriteString(s.Stdout, l)
	}
	for _, l := range m.stderr {
		_, _ = io.WriteString(s.Stderr, l)
	}
	if s.Stdin != nil {
		_, _ = io.Copy(s.Stdout, s.Stdin)
	}
	for m.release != nil {
		select {
		case <-m.release:
			return m.code, nil
		case sz := <-s.Resize:
			if m.sizes != nil {
				m.sizes <- sz
			}
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	return m.code, nil
}

var errExists = fmt.Errorf("vm name: %w", errdefs.ErrExists)
