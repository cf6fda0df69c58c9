package qemu

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/bangerdev/banger/internal/cgroups"
	"github.com/bangerdev/banger/internal/proc"
	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/internal/vmm/kvm"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// Name is the backend's name in configs and handles.
const Name = vmm.QEMU

// readyTimeout bounds how long Start waits for a launched QEMU to answer on
// QMP (it does so in ~50–300 ms; the guest boots afterwards).
const readyTimeout = 30 * time.Second

// Backend starts and adopts QEMU microVMs.
type Backend struct {
	opts options
	kvm  kvm.Device // what the probe checks before booting a KVM guest

	sandboxOnce sync.Once
	sandboxErr  error
}

var (
	_ vmm.Backend  = (*Backend)(nil)
	_ vmm.Confiner = (*Backend)(nil)
	_ vmm.Restorer = (*Backend)(nil)
)

type options struct {
	binary  string
	accel   string
	scratch string
	confine *Confine
}

// Option configures a Backend.
type Option func(*options)

// WithBinary sets the QEMU binary, looked up in PATH unless absolute
// (default "qemu-system-x86_64"; config qemu.binary).
func WithBinary(path string) Option { return func(o *options) { o.binary = path } }

// WithAccel sets the accelerator: "auto" (default: KVM when the probe shows
// it can run a standard guest, else TCG), "kvm" or "tcg" (config
// qemu.accel).
func WithAccel(accel string) Option { return func(o *options) { o.accel = accel } }

// WithScratchDir sets where the KVM probe writes its payload (default: the
// system temp dir).
func WithScratchDir(dir string) Option { return func(o *options) { o.scratch = dir } }

// New returns a QEMU backend.
func New(opts ...Option) *Backend {
	o := options{binary: "qemu-system-x86_64", accel: "auto"}
	for _, f := range opts {
		f(&o)
	}
	return &Backend{opts: o, kvm: kvm.Host()}
}

// Name implements vmm.Backend.
func (b *Backend) Name() string { return Name }

// Start implements vmm.Backend: it decides the confinement, records the
// handles, makes the VM's cgroup, opens the files QEMU inherits, launches
// QEMU in its own session and returns once QEMU answers on QMP (the guest
// is booting).
func (b *Backend) Start(ctx context.Context, spec vmm.Spec) (vmm.Machine, error) {
	m, err := b.start(ctx, spec, nil)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// start is Start, or with r set the first half of Restore: QEMU started
// waiting for the state file r names.
func (b *Backend) start(ctx context.Context, spec vmm.Spec, r *vmm.RestoreSpec) (*Machine, error) {
	fail := func(phase string, err error) error { return fmt.Errorf("vm %s: %s: %w", spec.ID, phase, err) }
	accel, bin, err := b.resolve(ctx, spec)
	if err != nil {
		return nil, fail("probe", err)
	}
	if err := checkFiles(spec, r); err != nil {
		return nil, fail("configure", err)
	}
	l := launch{spec: spec, accel: accel, kernel: kernelImage(spec.Kernel)}
	if accel == AccelTCG {
		l.tscKHz = HostTSC().KHz
	}
	if r != nil {
		l.incoming, l.memFile = r.StatePath, r.MemPath
	} else if spec.MemoryFile != "" {
		l.memFile, l.memShare = spec.MemoryFile, true
	}
	if l.backing, err = backingFiles(spec.Drives); err != nil {
		return nil, fail("configure", err)
	}
	var conf confinement
	if b.opts.confine != nil && l.memFile != "" {
		return nil, fail("configure", errConfinedMemFile)
	}
	if b.opts.confine != nil {
		conf = planConfinement(*b.opts.confine, b.gatherFacts(ctx, bin), spec.ID, spec.CPUs, spec.MemoryMiB)
		if err := conf.err(); err != nil {
			return nil, fail("confine", err)
		}
		l.sandbox = conf.sandbox
	}
	args, files, err := commandLine(l)
	if err != nil {
		return nil, fail("configure", err)
	}
	h := vmm.Handles{
		Backend:     Name,
		Sockets:     map[string]string{"qmp": l.qmpPath(), "agent": l.agentPath()},
		Accel:       accel,
		Confinement: conf.record,
		SharedDirs:  vmm.SharedDirNames(spec.SharedDirs),
	}
	if l.memShare {
		h.MemoryFile = l.memFile
	}
	if err := record(spec, h); err != nil {
		return nil, fail("record handles", err)
	}
	m := &Machine{id: spec.ID, h: h, dir: spec.RuntimeDir, console: spec.ConsoleLog}
	if err := m.spawn(spec, append(append(conf.launcher, bin), args...), files, conf.cgroup); err != nil {
		m.abort()
		return nil, fail("start qemu", err)
	}
	cpSpawned.Hit()
	h.Process, err = proc.Lookup(m.child.Process.Pid)
	phase := "identify qemu process"
	if err == nil {
		m.h = h
		phase, err = "record handles", cpRecorded.After(record(spec, h))
	}
	if err == nil {
		phase, err = "start qemu", m.waitReady(ctx)
	}
	if err != nil {
		m.abort()
		return nil, fail(phase, err)
	}
	return m, nil
}

// errConfinedMemFile: QEMU 7.2 opens a memory-backend-file by path,
// read-write (readonly=on makes guest RAM read-only too), and a confined
// QEMU may not open banger's files so; handing it a snapshot's RAM file
// writable would let one VM change what its siblings restore.
var errConfinedMemFile = fmt.Errorf("%w: guest RAM in a file (a memory file, or a snapshot's memory) needs an unconfined qemu; with confinement, save RAM in the state file", errdefs.ErrUnsupported)

// resolve returns the accelerator and binary for spec: the spec's, the
// configured one, or the probe's choice.
func (b *Backend) resolve(ctx context.Context, spec vmm.Spec) (accel, bin string, err error) {
	accel = spec.Accel
	if accel == "" && b.opts.accel != "auto" && b.opts.accel != "" {
		accel = b.opts.accel
	}
	if accel != "" {
		bin, err = exec.LookPath(b.opts.binary)
		if err != nil {
			return "", "", fmt.Errorf("%w: %s not found: install qemu-system-x86 or set qemu.binary", errdefs.ErrUnavailable, b.opts.binary)
		}
		return accel, bin, nil
	}
	p := b.Probe(ctx)
	if !p.Available {
		return "", "", fmt.Errorf("%w: qemu cannot run here: %s", errdefs.ErrUnavailable, strings.Join(p.Notes, "; "))
	}
	return p.Accel, p.Binary, nil
}

func record(spec vmm.Spec, h vmm.Handles) error {
	if spec.Record == nil {
		return nil
	}
	return spec.Record(h)
}

// spawn starts argv (QEMU, behind its launcher when confined) as the
// daemon's child in a session of its own (a signal to the daemon's process
// group does not reach it, and nothing ties its life to the daemon's),
// with the files it inherits, its output in a file in the runtime dir (a
// pipe would break when the daemon dies) and EnvVMID in its environment.
// With a cgroup plan the group is made first: on cgroup v2 the process
// starts inside it, on v1 it joins right after exec.
func (m *Machine) spawn(spec vmm.Spec, argv []string, files []inherited, cg *cgroups.Plan) error {
	var attr syscall.SysProcAttr
	attr.Setsid = true
	if cg != nil {
		dir, err := cgroups.Apply(*cg)
		if err != nil {
			return err
		}
		if dir != nil {
			defer func() { _ = dir.Close() }()
			startInCgroup(&attr, dir)
		}
	}
	logPath := filepath.Join(spec.RuntimeDir, stderrLog)
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer func() { _ = logf.Close() }()
	// Which descriptor is which file, for whoever reads the log (QEMU's
	// own messages name only /dev/fdset/N and /proc/self/fd/N).
	_, _ = io.WriteString(logf, fdLegend(files))
	extra, err := openInherited(files)
	if err != nil {
		return err
	}
	defer closeAll(extra)
	cmd := exec.Command(argv[0], argv[1:]...) //nolint:noctx,gosec // the VMM outlives the request that starts it; argv is built by commandLine
	cmd.Env = vmm.MarkedEnv(os.Environ(), spec.ID)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = extra
	cmd.SysProcAttr = &attr
	if err := cmd.Start(); err != nil {
		return err
	}
	m.child, m.exited = cmd, make(chan struct{})
	go m.reap()
	if cg != nil {
		return cgroups.Join(*cg, cmd.Process.Pid)
	}
	return nil
}

// Attach implements vmm.Backend: it adopts a QEMU started earlier, once the
// recorded process identity is still live and QMP answers.
func (b *Backend) Attach(ctx context.Context, h vmm.Handles) (vmm.Machine, error) {
	if h.Backend != Name {
		return nil, fmt.Errorf("attach: handles are for backend %q, not %s: %w", h.Backend, Name, errdefs.ErrInvalid)
	}
	if !h.Process.Alive() {
		return nil, fmt.Errorf("attach: qemu process %d is gone: %w", h.Process.PID, errdefs.ErrNotFound)
	}
	id := ""
	env, _ := proc.Environ(h.Process.PID)
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, vmm.EnvVMID+"="); ok {
			id = v
		}
	}
	if id == "" {
		return nil, fmt.Errorf("attach: process %d has no %s: not a banger VMM: %w", h.Process.PID, vmm.EnvVMID, errdefs.ErrNotFound)
	}
	qmp := h.Sockets["qmp"]
	if qmp == "" {
		return nil, fmt.Errorf("vm %s: attach: handles have no qmp socket: %w", id, errdefs.ErrInvalid)
	}
	m := &Machine{id: id, h: h, dir: filepath.Dir(qmp)}
	if _, err := m.Status(ctx); err != nil {
		return nil, fmt.Errorf("vm %s: attach: qemu %d does not answer on QMP: %w", id, h.Process.PID, err)
	}
	return m, nil
}

// Capabilities implements vmm.Backend. QEMU's guests power off through
// ACPI, its drives may be qcow2 overlays, the agent is reached on a
// virtio-serial port, machines are saved and restored (snapshot.go), host
// directories are shared with virtio-fs, and
// with WithConfinement the backend confines QEMU itself (vmm.Confiner).
func (b *Backend) Capabilities() vmm.Capabilities {
	return vmm.Capabilities{
		Channel:     vmm.ChannelSerial,
		PowerOff:    true,
		DiskFormats: []string{vmm.FormatRaw, vmm.FormatQCOW2},
		ExtraDrives: true,
		Pause:       true,
		Snapshot:    true,
		MemoryFile:  b.opts.confine == nil,
		SharedDirs:  true,
		Netns:       true,
		Confined:    b.opts.confine != nil,
	}
}

// Release implements vmm.Backend: it ends the recorded QEMU when it is
// still the recorded process (QMP quit first, so a qcow2 overlay is
// flushed; SIGKILL when that does not end it) and removes its sockets,
// stderr log and cgroup. Handles recorded before QEMU was spawned name only sockets;
// a zero process identity is never signalled.
func (b *Backend) Release(ctx context.Context, h vmm.Handles) error {
	dir := filepath.Dir(h.Sockets["qmp"])
	if h.Sockets["qmp"] == "" {
		dir = ""
	}
	m := &Machine{id: fmt.Sprint("pid ", h.Process.PID), h: h, dir: dir}
	if h.Process.Alive() {
		if err := m.Kill(ctx); err != nil {
			return err
		}
	}
	if dir == "" {
		return m.removeCgroup()
	}
	return m.Cleanup()
}
