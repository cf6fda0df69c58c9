package containershim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	bootapi "github.com/containerd/containerd/api/runtime/bootstrap/v1"
	"github.com/containerd/containerd/api/types"
	"github.com/containerd/containerd/v2/defaults"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/shim"
	"github.com/containerd/log"

	"github.com/bangerdev/banger/internal/version"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// RuntimeName is the runtime type containerd is configured with
// (`ctr run --runtime io.containerd.banger.v2`); containerd runs the
// binary containerd-shim-banger-v2 for it.
const RuntimeName = "io.containerd.banger.v2"

// Manager is the shim binary's life as containerd's shim package drives
// it (shim.Shim): start, the delete action, info.
type Manager struct {
	// Dial connects to banger's daemon.
	Dial func() (Daemon, error)
	// Mounter unmounts what a dead shim left mounted.
	Mounter Mounter
}

var _ shim.Shim = Manager{}

// Name is the runtime's name.
func (Manager) Name() string { return RuntimeName }

// Start spawns the long-running shim server for the task (this binary
// again, without an action) on a new socket, and answers its address.
// One server serves one task outside CRI; containerd sends a CRI pod's
// containers to the server of the pod's sandbox task.
func (Manager) Start(ctx context.Context, p *bootapi.BootstrapParams) (*bootapi.BootstrapResult, error) {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return nil, err
	}
	dir := p.GetSocketDir()
	if dir == "" {
		dir = filepath.Join(defaults.DefaultStateDir, "s")
	}
	addr, err := shim.CreateSocketAddress(ctx, dir, p.GetContainerdGrpcAddress(), p.GetInstanceID(), false)
	if err != nil {
		return nil, fmt.Errorf("shim socket address: %w", err)
	}
	l, err := shim.NewSocket(addr)
	if err != nil {
		return nil, fmt.Errorf("shim socket %s: %w", addr, err)
	}
	// The server keeps serving the socket after this process exits: only
	// a failed start removes it.
	l.SetUnlinkOnClose(false)
	defer func() { _ = l.Close() }()
	f, err := l.File()
	if err != nil {
		_ = shim.RemoveSocket(addr)
		return nil, fmt.Errorf("shim socket %s: %w", addr, err)
	}
	defer func() { _ = f.Close() }()
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := []string{"-namespace", ns, "-id", p.GetInstanceID(), "-address", p.GetContainerdGrpcAddress()}
	if p.GetLogLevel() <= bootapi.LogLevel_LOG_LEVEL_DEBUG {
		args = append(args, "-debug")
	}
	cmd := exec.Command(self, args...) //nolint:gosec,noctx // this binary; the server outlives the start action
	cmd.Dir, _ = os.Getwd()
	cmd.Env = os.Environ()
	cmd.ExtraFiles = []*os.File{f} // fd 3: the shim package serves it
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = shim.RemoveSocket(addr)
		return nil, fmt.Errorf("start the shim server: %w", err)
	}
	go func() { _ = cmd.Wait() }()
	if err := shim.AdjustOOMScore(cmd.Process.Pid); err != nil {
		log.G(ctx).WithError(err).Warn("adjust the shim server's OOM score")
	}
	return &bootapi.BootstrapResult{Version: 3, Protocol: "ttrpc", Address: addr}, nil
}

// Stop is the delete action containerd runs when a shim died: it removes
// the task's VM and private image (both may be gone already) — for a
// container of a CRI pod, its root and image mount in the pod's VM —
// unmounts the bundle's root file system, and answers the exit the VM
// recorded. The working directory is the task's bundle.
func (m Manager) Stop(ctx context.Context, id string) (shim.StopStatus, error) {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return shim.StopStatus{}, err
	}
	d, err := m.Dial()
	if err != nil {
		return shim.StopStatus{}, err
	}
	st := shim.StopStatus{ExitStatus: exitUnknown, ExitedAt: time.Now()}
	bundle, err := os.Getwd()
	if err != nil {
		bundle = ""
	}
	if pod := bundlePod(bundle); pod != "" {
		// A container of a CRI pod is a root in its pod's VM: it goes,
		// the VM stays (the sandbox task's delete removes it).
		if err := removeContainer(ctx, d, VMName(ns, pod), id); err != nil {
			return shim.StopStatus{}, err
		}
		m.cleanBundle(ctx, bundle)
		return st, nil
	}
	name := VMName(ns, id)
	vm, err := d.VM(ctx, name)
	switch {
	case err == nil:
		st.Pid, st.ExitStatus = vm.Runtime.PID, vmExitCode(vm)
		if !vm.Stopped.IsZero() {
			st.ExitedAt = vm.Stopped
		}
	case !errors.Is(err, errdefs.ErrNotFound):
		return shim.StopStatus{}, fmt.Errorf("look up VM %s of task %s: %w", name, id, err)
	}
	if err := d.RemoveVM(ctx, name); err != nil {
		return shim.StopStatus{}, fmt.Errorf("remove VM %s of task %s: %w", name, id, err)
	}
	if err := d.RemoveImage(ctx, privateImage(name)); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		log.G(ctx).WithError(err).Warn("remove the task's image")
	}
	m.cleanBundle(ctx, bundle)
	return st, nil
}

// bundlePod is the sandbox id of the pod whose container's bundle is
// bundle; "" for any other task's, or a bundle it cannot read ("" too).
func bundlePod(bundle string) string {
	if bundle == "" {
		return ""
	}
	spec, err := readSpec(bundle)
	if err != nil {
		return ""
	}
	return podOf(spec.Annotations)
}

// cleanBundle unmounts the bundle's root file system and removes its
// dead shim's socket; nothing for "" (a bundle unknown).
func (m Manager) cleanBundle(ctx context.Context, bundle string) {
	if bundle == "" {
		return
	}
	if m.Mounter != nil {
		_ = m.Mounter.Unmount(filepath.Join(bundle, "rootfs"))
	}
	removeDeadSocket(ctx, bundle)
}

// removeDeadSocket removes the socket of the bundle's shim when nothing
// serves it any more: a killed shim could not remove it itself. The
// address is the one containerd recorded in the bundle's bootstrap.json.
func removeDeadSocket(ctx context.Context, bundle string) {
	data, err := os.ReadFile(filepath.Join(bundle, "bootstrap.json")) //nolint:gosec // containerd's bundle
	if err != nil {
		return
	}
	var res struct {
		Address string `json:"address"`
	}
	if json.Unmarshal(data, &res) != nil || res.Address == "" || shim.CanConnect(res.Address) {
		return
	}
	if err := shim.RemoveSocket(res.Address); err != nil && !errors.Is(err, os.ErrNotExist) {
		log.G(ctx).WithError(err).Warn("remove the dead shim's socket")
	}
}

// Info answers the runtime's name and version.
func (Manager) Info(context.Context, io.Reader) (*types.RuntimeInfo, error) {
	return &types.RuntimeInfo{Name: RuntimeName, Version: &types.RuntimeVersion{Version: version.Version}}, nil
}
