package firecracker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/bangerdev/banger/internal/config"
	"github.com/bangerdev/banger/internal/proc"
	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// Name is the backend's name.
const Name = vmm.Firecracker

// Compile-time checks of the interfaces the backend implements.
var (
	_ vmm.Backend     = (*Backend)(nil)
	_ vmm.Machine     = (*Machine)(nil)
	_ vmm.Pauser      = (*Machine)(nil)
	_ vmm.Snapshotter = (*Machine)(nil)
	_ vmm.Restorer    = (*Backend)(nil)
)

// Options configure a Backend; New fills them from the config.
type Options struct {
	// Binary is the firecracker executable, looked up in PATH unless it
	// is a path (config firecracker.binary).
	Binary string
	// Jail, when set, runs Firecracker under the jailer.
	Jail *JailConfig
	// KVMCheck is KVMCheckHardware or KVMCheckBasic (see checkKVM).
	KVMCheck string
	// TrackDirtyPages enables dirty page tracking, which diff snapshots
	// need (it costs some guest memory performance). Default off.
	TrackDirtyPages bool
	// StartTimeout bounds the wait for the API socket. Default 10s.
	StartTimeout time.Duration
}

// Option changes the Options New derives from the config.
type Option func(*Options)

// WithTrackDirtyPages enables dirty page tracking, for diff snapshots.
func WithTrackDirtyPages() Option { return func(o *Options) { o.TrackDirtyPages = true } }

// WithStartTimeout bounds the wait for Firecracker's API socket.
func WithStartTimeout(d time.Duration) Option { return func(o *Options) { o.StartTimeout = d } }

// WithNetNS makes the jailer join a network namespace (jailer only).
func WithNetNS(path string) Option {
	return func(o *Options) {
		if o.Jail != nil {
			o.Jail.NetNS = path
		}
	}
}

// WithCgroupRoot sets where cgroup v2 is mounted (default /sys/fs/cgroup).
func WithCgroupRoot(path string) Option {
	return func(o *Options) {
		if o.Jail != nil {
			o.Jail.CgroupRoot = path
		}
	}
}

// Backend starts and adopts Firecracker machines.
type Backend struct {
	opts Options
	kvm  kvmHost
	stat statFunc
}

// New returns the backend configured by the [firecracker] config section.
func New(cfg config.Firecracker, opts ...Option) *Backend {
	o := Options{Binary: cfg.Binary, KVMCheck: cfg.KVMCheck, StartTimeout: 10 * time.Second}
	if o.Binary == "" {
		o.Binary = "firecracker"
	}
	if jailer := jailerBinary(cfg.Jailer, exec.LookPath); jailer != "" {
		o.Jail = &JailConfig{
			Binary: jailer, ChrootBase: cfg.ChrootBase,
			CgroupParent: cfg.CgroupParent, CgroupRoot: "/sys/fs/cgroup",
		}
		o.Jail.UID, o.Jail.GID, o.Jail.IDsErr = jailIDs(cfg.User, cfg.UID, cfg.GID, user.Lookup)
	}
	for _, opt := range opts {
		opt(&o)
	}
	return &Backend{opts: o, kvm: realKVMHost(), stat: statPath}
}

// Name returns "firecracker".
func (b *Backend) Name() string { return Name }

// Start launches Firecracker for spec, configures the VM and boots it.
func (b *Backend) Start(ctx context.Context, spec vmm.Spec) (vmm.Machine, error) {
	m, err := b.launch(ctx, spec, nil)
	if err != nil {
		return nil, err
	}
	if err := m.apply(ctx, bootCalls(spec, m.paths, b.opts.TrackDirtyPages)); err != nil {
		m.abort()
		return nil, fmt.Errorf("start vm %s: %w", spec.ID, err)
	}
	return m, nil
}

// launch starts the Firecracker process and waits for its API socket.
// With restore set, the snapshot's files are brought into the jail.
func (b *Backend) launch(ctx context.Context, spec vmm.Spec, restore *vmm.RestoreSpec) (*Machine, error) {
	if err := validate(spec); err != nil {
		return nil, err
	}
	if err := checkFiles(spec); err != nil {
		return nil, err
	}
	if b.opts.Jail != nil && b.opts.Jail.IDsErr != nil {
		return nil, fmt.Errorf("start vm %s: %w", spec.ID, b.opts.Jail.IDsErr)
	}
	fc, err := exec.LookPath(b.opts.Binary)
	if err != nil {
		return nil, fmt.Errorf("start vm %s: %w: firecracker binary %q: %w", spec.ID, errdefs.ErrUnavailable, b.opts.Binary, err)
	}
	if fc, err = filepath.Abs(fc); err != nil {
		return nil, err
	}
	rt := runtimeFilesIn(spec.RuntimeDir)
	if len(rt.API) > maxSockPath {
		return nil, fmt.Errorf("vm %s: %w: runtime dir %s is too long for a unix socket path", spec.ID, errdefs.ErrInvalid, spec.RuntimeDir)
	}
	m := &Machine{
		id: spec.ID, rt: rt, api: NewClient(rt.API), jail: b.opts.Jail,
		agentPort: spec.AgentPort,
		h:         vmm.Handles{Backend: Name, Sockets: map[string]string{"api": rt.API, "vsock": rt.Vsock}},
	}
	if m.agentPort == 0 {
		m.agentPort = vmm.AgentVsockPort
	}
	argv, apiReal, logReal, ops, err := b.prepare(spec, fc, rt, restore, m)
	if err != nil {
		return nil, err
	}
	// Recorded before anything exists, so a crash from here on leaves a
	// record naming the sockets and jail to clean up.
	if err := record(spec, m.h); err != nil {
		return nil, fmt.Errorf("start vm %s: record handles: %w", spec.ID, err)
	}
	if err := b.spawn(ctx, spec, m, argv, apiReal, logReal, ops); err != nil {
		m.abort()
		return nil, fmt.Errorf("start vm %s: %w", spec.ID, err)
	}
	return m, nil
}

// prepare decides argv, the paths the VMM sees and the files to make.
func (b *Backend) prepare(spec vmm.Spec, fc string, rt runtimeFiles, restore *vmm.RestoreSpec, m *Machine) (argv []string, apiReal, logReal string, ops []FileOp, err error) {
	if b.opts.Jail == nil {
		m.paths = vmPaths{
			Kernel: spec.Kernel.Vmlinux, Initrd: spec.Kernel.Initrd,
			Log: rt.Log, Metrics: rt.Metrics, Vsock: rt.Vsock,
		}
		for _, d := range spec.Drives {
			m.paths.Drives = append(m.paths.Drives, d.Path)
		}
		if restore != nil {
			m.restoreState, m.restoreMem = restore.StatePath, restore.MemPath
		}
		ops = []FileOp{{Kind: OpCreate, Dst: rt.Log}, {Kind: OpCreate, Dst: rt.Metrics}}
		return []string{fc, "--api-sock", rt.API, "--id", spec.ID}, rt.API, rt.Log, ops, nil
	}
	plan, err := planJail(*b.opts.Jail, fc, spec, rt, b.stat)
	if err != nil {
		return nil, "", "", nil, err
	}
	if restore != nil {
		m.restoreState, m.restoreMem = "/restore.state", "/restore.mem"
		if err := plan.linkInto(b.stat, [2]string{restore.StatePath, m.restoreState}, [2]string{restore.MemPath, m.restoreMem}); err != nil {
			return nil, "", "", nil, err
		}
	}
	m.paths, m.h.JailDir, m.jailRoot, m.cgroup = plan.Paths, plan.Dir, plan.Root, plan.Cgroup
	return plan.Argv, plan.APISock, filepath.Join(plan.Root, jailLog), plan.Ops, nil
}

func record(spec vmm.Spec, h vmm.Handles) error {
	if spec.Record == nil {
		return nil
	}
	return spec.Record(h)
}

// spawn prepares the files, execs argv and waits for the API socket.
func (b *Backend) spawn(ctx context.Context, spec vmm.Spec, m *Machine, argv []string, apiReal, logReal string, ops []FileOp) error {
	// Leftovers of an earlier run of this VM would make Firecracker's bind
	// fail ("Address in use") or the jail's links collide.
	for _, p := range []string{m.rt.API, m.rt.Vsock, apiReal} {
		if err := removeIfExists(p); err != nil {
			return err
		}
	}
	if m.h.JailDir != "" {
		if err := os.RemoveAll(m.h.JailDir); err != nil {
			return fmt.Errorf("remove stale jail: %w", err)
		}
	}
	uid, gid := os.Geteuid(), os.Getegid()
	if b.opts.Jail != nil {
		uid, gid = b.opts.Jail.UID, b.opts.Jail.GID
	}
	if err := applyOps(ops, uid, gid); err != nil {
		return err
	}
	console, err := openAppend(spec.ConsoleLog)
	if err != nil {
		return fmt.Errorf("console log: %w", err)
	}
	defer func() { _ = console.Close() }()
	logf, err := openAppend(logReal)
	if err != nil {
		return fmt.Errorf("firecracker log: %w", err)
	}
	defer func() { _ = logf.Close() }()

	cmd := exec.Command(argv[0], argv[1:]...) //nolint:noctx // the VMM outlives the request that started it
	cmd.Env = vmm.MarkedEnv(os.Environ(), spec.ID)
	// Firecracker writes the guest's serial console to its stdout.
	cmd.Stdout, cmd.Stderr = console, logf
	// Its own process group: a signal to the daemon's group (Ctrl-C on a
	// foreground daemon) does not take the VMs down with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("exec %s: %w", argv[0], err)
	}
	c := &child{cmd: cmd, done: make(chan struct{})}
	m.child = c
	go c.reap()
	id, err := proc.Lookup(cmd.Process.Pid)
	if err != nil {
		_ = cmd.Process.Kill()
		return fmt.Errorf("identify firecracker process: %w", err)
	}
	m.h.Process = id
	if err := record(spec, m.h); err != nil {
		return fmt.Errorf("record handles: %w", err)
	}
	wctx, cancel := context.WithTimeout(ctx, b.opts.StartTimeout)
	defer cancel()
	if err := waitSocket(wctx, apiReal, c.done); err != nil {
		if errors.Is(err, errExited) {
			return fmt.Errorf("firecracker exited during startup (%s): %s", c.exit.describe(), tail(logReal, 5))
		}
		return fmt.Errorf("wait for firecracker's api socket: %w; log: %s", err, tail(logReal, 5))
	}
	return nil
}

// errExited is waitSocket's answer when the VMM died before listening.
var errExited = errors.New("process exited")

func openAppend(path string) (*os.File, error) {
	if path == "" {
		return os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	}
	return os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
}

// tail returns the last n lines of a log, for error messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	s := strings.Join(lines, " | ")
	if s == "" {
		return "(log empty)"
	}
	return s
}

// Attach adopts a machine from recorded handles: the API socket and the
// process identity. It wraps errdefs.ErrNotFound when the recorded
// process is gone (or its pid now belongs to another process).
func (b *Backend) Attach(ctx context.Context, h vmm.Handles) (vmm.Machine, error) {
	if h.Backend != Name {
		return nil, fmt.Errorf("attach: %w: handles are for backend %q", errdefs.ErrInvalid, h.Backend)
	}
	api := h.Sockets["api"]
	if api == "" {
		return nil, fmt.Errorf("attach: %w: no api socket recorded", errdefs.ErrInvalid)
	}
	if !h.Process.Alive() {
		return nil, fmt.Errorf("attach firecracker pid %d: %w: the process is gone", h.Process.PID, errdefs.ErrNotFound)
	}
	m := b.fromHandles(h)
	info, err := m.api.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("attach firecracker pid %d: %w: %w", h.Process.PID, errdefs.ErrUnavailable, err)
	}
	m.id = info.ID
	return m, nil
}

// fromHandles rebuilds a Machine (not our child) from recorded handles.
func (b *Backend) fromHandles(h vmm.Handles) *Machine {
	m := &Machine{h: h, api: NewClient(h.Sockets["api"]), jail: b.opts.Jail, agentPort: vmm.AgentVsockPort}
	if api := h.Sockets["api"]; api != "" {
		m.rt = runtimeFilesIn(filepath.Dir(api))
	}
	if h.JailDir != "" {
		m.jailRoot = filepath.Join(h.JailDir, "root")
		if b.opts.Jail != nil {
			parent := b.opts.Jail.CgroupParent
			if parent == "" {
				parent = filepath.Base(filepath.Dir(h.JailDir))
			}
			m.cgroup = filepath.Join(b.opts.Jail.CgroupRoot, parent, filepath.Base(h.JailDir))
		}
	}
	return m
}

// checkFiles names a missing kernel, initrd or drive before a process is
// started for nothing (Firecracker's own answer would not say which path).
func checkFiles(spec vmm.Spec) error {
	files := [][2]string{{"kernel", spec.Kernel.Vmlinux}, {"initrd", spec.Kernel.Initrd}}
	for _, d := range spec.Drives {
		files = append(files, [2]string{"drive " + d.ID, d.Path})
	}
	for _, f := range files {
		if f[1] == "" {
			continue
		}
		if _, err := os.Stat(f[1]); err != nil {
			return fmt.Errorf("start vm %s: %s %s: %w", spec.ID, f[0], f[1], err)
		}
	}
	return nil
}

// Capabilities implements vmm.Backend. Firecracker's guests halt by
// rebooting, its drives are raw, the agent is reached over hybrid vsock,
// and it can pause and snapshot; it runs jailed when a jailer is
// configured.
func (b *Backend) Capabilities() vmm.Capabilities {
	return vmm.Capabilities{
		Channel:     vmm.ChannelVsock,
		DiskFormats: []string{vmm.FormatRaw},
		ExtraDrives: true,
		Pause:       true,
		Snapshot:    true,
		MemoryFile:  true,
		Jailer:      b.opts.Jail != nil,
	}
}

// Release implements vmm.Backend: it kills the recorded Firecracker when
// it is still the recorded process, then removes its sockets, files, jail
// (only a path shaped like one: see safeJailDir) and cgroup.
func (b *Backend) Release(ctx context.Context, h vmm.Handles) error {
	m := b.fromHandles(h)
	if h.Process.Alive() {
		if err := m.Kill(ctx); err != nil {
			return err
		}
	}
	if h.Sockets["api"] == "" && h.JailDir == "" {
		return nil
	}
	return m.Cleanup()
}
