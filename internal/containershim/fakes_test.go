package containershim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"

	"github.com/containerd/containerd/v2/core/events"
	"github.com/containerd/containerd/v2/core/mount"

	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/client"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// fakeDaemon is banger's daemon as the shim sees it: images, and VMs
// whose main process prints out, then exits with code — or, with block,
// runs until a signal or a removal. It keeps the API's contract: absent
// things are errdefs.ErrNotFound, a removed running VM's attachment
// breaks without an exit status and its wait answers 128+9.
type fakeDaemon struct {
	mu       sync.Mutex
	images   map[string][]byte // name → imported tar (nil: pulled)
	vms      map[string]*fakeVM
	out      string
	code     int
	block    bool
	startErr error
	// execOut, execCode and execBlock are what an exec's process does
	// (see Exec); execs are the configs execs were started with, procs
	// their processes.
	execOut   string
	execCode  int
	execBlock bool
	execs     []client.ExecConfig
	procs     []*fakeProcess
	// beforeImport runs as an import starts (another shim's import, say).
	beforeImport func()
	// calls are the pod container calls, in order ("add VM ID IMAGE",
	// "remove VM ID"); addErr fails the next AddContainer.
	calls  []string
	addErr error
}

type fakeVM struct {
	vm api.VM
	// received are the frames the client sent on the attachment.
	received chan api.Frame
	conn     net.Conn // the daemon's end of the attachment
	signal   chan int
	done     chan struct{}
	// containers are a pod VM's containers: id → image.
	containers map[string]string
}

func newFakeDaemon() *fakeDaemon {
	return &fakeDaemon{images: map[string][]byte{}, vms: map[string]*fakeVM{}}
}

func (d *fakeDaemon) Image(_ context.Context, name string) (api.Image, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.images[name]; !ok {
		return api.Image{}, fmt.Errorf("%w: image %s", errdefs.ErrNotFound, name)
	}
	return api.Image{Name: name}, nil
}

func (d *fakeDaemon) ImportImage(_ context.Context, name string, tarball io.Reader) (api.Image, error) {
	if d.beforeImport != nil {
		d.beforeImport()
	}
	b, err := io.ReadAll(tarball)
	if err != nil {
		return api.Image{}, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, v := range d.vms {
		if v.vm.Spec.Image == name {
			return api.Image{}, fmt.Errorf("%w: image %s is used by vm %s", errdefs.ErrConflict, name, v.vm.Name)
		}
	}
	d.images[name] = b
	return api.Image{Name: name}, nil
}

func (d *fakeDaemon) PullImage(_ context.Context, ref string) (api.Image, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.images["pulled/"+ref] = nil
	return api.Image{Name: "pulled/" + ref}, nil
}

func (d *fakeDaemon) RemoveImage(_ context.Context, name string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.images[name]; !ok {
		return fmt.Errorf("%w: image %s", errdefs.ErrNotFound, name)
	}
	delete(d.images, name)
	return nil
}

func (d *fakeDaemon) PutVM(_ context.Context, name string, spec api.VMSpec) (api.VM, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if v, ok := d.vms[name]; ok {
		if !reflect.DeepEqual(v.vm.Spec, spec) {
			return api.VM{}, fmt.Errorf("%w: vm %s exists with another spec", errdefs.ErrConflict, name)
		}
		return v.vm, nil
	}
	if _, ok := d.images[spec.Image]; !ok {
		return api.VM{}, fmt.Errorf("%w: image %s", errdefs.ErrNotFound, spec.Image)
	}
	v := &fakeVM{vm: api.VM{ID: "id-" + name, Name: name, State: api.VMCreated, Spec: spec}, signal: make(chan int, 1), done: make(chan struct{})}
	d.vms[name] = v
	return v.vm, nil
}

func (d *fakeDaemon) get(ref string) (*fakeVM, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	v, ok := d.vms[ref]
	if !ok {
		return nil, fmt.Errorf("%w: vm %s", errdefs.ErrNotFound, ref)
	}
	return v, nil
}

func (d *fakeDaemon) AttachVM(_ context.Context, ref string, _ bool) (io.ReadWriteCloser, error) {
	v, err := d.get(ref)
	if err != nil {
		return nil, err
	}
	client, server := net.Pipe()
	d.mu.Lock()
	v.conn = server
	d.mu.Unlock()
	v.received = make(chan api.Frame, 16)
	go func() {
		defer close(v.received)
		for {
			f, err := api.ReadFrame(server)
			if err != nil {
				return
			}
			v.received <- f
		}
	}()
	return client, nil
}

func (d *fakeDaemon) StartVM(_ context.Context, ref string) (api.VM, error) {
	v, err := d.get(ref)
	if err != nil {
		return api.VM{}, err
	}
	if d.startErr != nil {
		return api.VM{}, d.startErr
	}
	d.mu.Lock()
	v.vm.State, v.vm.Runtime.PID = api.VMRunning, 4242
	vm, conn, out, code, block := v.vm, v.conn, d.out, d.code, d.block
	d.mu.Unlock()
	go func() {
		_ = api.WriteFrame(conn, api.FrameStdout, []byte(out))
		if block {
			sig, ok := <-v.signal
			if !ok { // removed: the attachment breaks
				_ = conn.Close()
				d.exited(v, 128+9)
				return
			}
			code = 128 + sig
		}
		d.exited(v, code)
		_ = api.WriteFrame(conn, api.FrameExit, fmt.Appendf(nil, "%d", code))
		_ = conn.Close()
	}()
	return vm, nil
}

func (d *fakeDaemon) exited(v *fakeVM, code int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	v.vm.State, v.vm.ExitCode = api.VMExited, &code
	close(v.done)
}

func (d *fakeDaemon) KillVM(_ context.Context, ref string, signal int) error {
	v, err := d.get(ref)
	if err != nil {
		return err
	}
	select {
	case v.signal <- signal:
	default:
	}
	return nil
}

func (d *fakeDaemon) WaitVM(ctx context.Context, ref string) (api.VM, error) {
	v, err := d.get(ref)
	if err != nil {
		return api.VM{}, err
	}
	select {
	case <-v.done:
	case <-ctx.Done():
		return api.VM{}, ctx.Err()
	}
	return d.VM(ctx, ref)
}

func (d *fakeDaemon) VM(_ context.Context, ref string) (api.VM, error) {
	v, err := d.get(ref)
	if err != nil {
		return api.VM{}, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return v.vm, nil
}

func (d *fakeDaemon) RemoveVM(_ context.Context, ref string) error {
	v, err := d.get(ref)
	if errors.Is(err, errdefs.ErrNotFound) {
		return nil // missing_ok
	}
	if err != nil {
		return err
	}
	d.mu.Lock()
	running := v.vm.State == api.VMRunning
	delete(d.vms, ref)
	d.mu.Unlock()
	if running {
		close(v.signal)
	}
	return nil
}

func (d *fakeDaemon) PauseVM(_ context.Context, ref string) error {
	return d.setState(ref, api.VMRunning, api.VMPaused)
}

func (d *fakeDaemon) UnpauseVM(_ context.Context, ref string) error {
	return d.setState(ref, api.VMPaused, api.VMRunning)
}

// setState moves a VM from one state to another, refusing (as the
// daemon does) a VM in any other state.
func (d *fakeDaemon) setState(ref string, from, to api.VMState) error {
	v, err := d.get(ref)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if v.vm.State != from {
		return fmt.Errorf("%w: vm %s is %s", errdefs.ErrConflict, ref, v.vm.State)
	}
	v.vm.State = to
	return nil
}

func (d *fakeDaemon) Stats(_ context.Context, ref string) (api.VMStats, error) {
	if _, err := d.get(ref); err != nil {
		return api.VMStats{}, err
	}
	used, total := uint64(64<<20), uint64(256<<20)
	return api.VMStats{Name: ref, PIDs: 3, VMMRSSBytes: 100 << 20, GuestMemoryUsedBytes: &used, GuestMemoryTotalBytes: &total}, nil
}

// fakeMounter "mounts" by writing one file into the target.
type fakeMounter struct{ mounted, unmounted []string }

func (m *fakeMounter) Mount(_ []mount.Mount, target string) error {
	m.mounted = append(m.mounted, target)
	return os.WriteFile(filepath.Join(target, "hello"), []byte("from the snapshot\n"), 0o644)
}

func (m *fakeMounter) Unmount(target string) error {
	m.unmounted = append(m.unmounted, target)
	return nil
}

// recorder is a publisher that keeps the topics and events in order.
type recorder struct {
	mu     sync.Mutex
	topics []string
	events []events.Event
}

func (r *recorder) Publish(_ context.Context, topic string, e events.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.topics = append(r.topics, topic)
	r.events = append(r.events, e)
	return nil
}

// harness is a Service over the fakes, with a bundle of a config.json.
type harness struct {
	s      *Service
	d      *fakeDaemon
	m      *fakeMounter
	pub    *recorder
	bundle string
}

func newHarness(t *testing.T, config string) *harness {
	t.Helper()
	h := &harness{d: newFakeDaemon(), m: &fakeMounter{}, pub: &recorder{}, bundle: t.TempDir()}
	if err := os.WriteFile(filepath.Join(h.bundle, "config.json"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	h.s = NewService(t.Context(), Options{Daemon: h.d, Mounter: h.m, Publisher: h.pub, Namespace: "default"})
	return h
}

// closeEvents flushes the event queue and answers the topics published.
func (h *harness) closeEvents() []string {
	h.s.Close()
	h.pub.mu.Lock()
	defer h.pub.mu.Unlock()
	return append([]string(nil), h.pub.topics...)
}
