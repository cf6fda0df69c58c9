package containershim

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	eventstypes "github.com/containerd/containerd/api/events"
	taskv3 "github.com/containerd/containerd/api/runtime/task/v3"
	taskapi "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/v2/core/events"
	"github.com/containerd/containerd/v2/core/mount"
	ptypes "github.com/containerd/containerd/v2/pkg/protobuf/types"
	"github.com/containerd/log"
	"github.com/containerd/ttrpc"

	"github.com/bangerdev/banger/pkg/api"
)

// Options are what a Service runs with.
type Options struct {
	Daemon    Daemon
	Mounter   Mounter
	Publisher events.Publisher
	// Namespace is the containerd namespace the shim serves.
	Namespace string
	// Shutdown ends the shim process (Shutdown's request once no task is
	// left).
	Shutdown func()
}

// Service is containerd's task API (v3) over banger VMs: one VM per
// container task outside CRI, one per CRI pod (its sandbox task) with
// the pod's containers inside.
type Service struct {
	daemon   Daemon
	mounter  Mounter
	events   *eventQueue
	ns       string
	shutdown func()

	mu    sync.Mutex
	tasks map[string]*task
}

var _ taskv3.TTRPCTaskService = (*Service)(nil)

// NewService returns the task service; ctx bounds its event publishing.
func NewService(ctx context.Context, o Options) *Service {
	return &Service{
		daemon: o.Daemon, mounter: o.Mounter, events: newEventQueue(ctx, o.Publisher),
		ns: o.Namespace, shutdown: o.Shutdown, tasks: map[string]*task{},
	}
}

// RegisterTTRPC serves the task API on srv.
func (s *Service) RegisterTTRPC(srv *ttrpc.Server) error {
	taskv3.RegisterTTRPCTaskService(srv, s)
	return nil
}

// Close publishes the events still queued.
func (s *Service) Close() { s.events.close() }

// get answers the task id, or the error containerd expects for none.
func (s *Service) get(id string) (*task, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.tasks[id]; ok {
		return t, nil
	}
	return nil, notFound("task %s", id)
}

// Create makes the container's image and records its VM (not started);
// a CRI pod's sandbox task is the pod's VM, and a container of the pod
// gets a root in that VM instead (pod.go).
func (s *Service) Create(ctx context.Context, r *taskv3.CreateTaskRequest) (*taskv3.CreateTaskResponse, error) {
	if r.Checkpoint != "" {
		return nil, unsupported("task %s: restoring a checkpoint", r.ID)
	}
	s.mu.Lock()
	_, exists := s.tasks[r.ID]
	s.mu.Unlock()
	if exists {
		return nil, toGRPC(fmt.Errorf("%w: task %s", errAlreadyExists, r.ID))
	}
	spec, err := readSpec(r.Bundle)
	if err != nil {
		return nil, toGRPC(err)
	}
	if podID := podOf(spec.Annotations); podID != "" {
		return s.createInPod(ctx, r, spec, podID)
	}
	network := vmNetwork(spec)
	var dns api.DNSConfig
	if isSandbox(spec.Annotations) && network != "" {
		if dns, err = podDNS(spec); err != nil {
			return nil, toGRPC(fmt.Errorf("pod sandbox %s: %w", r.ID, err))
		}
	}
	img, err := s.resolveImage(ctx, s.ns, r.ID, r.Bundle, mount.FromProto(r.Rootfs), spec.Annotations)
	if err != nil {
		return nil, toGRPC(err)
	}
	io := stdio{stdin: r.Stdin, stdout: r.Stdout, stderr: r.Stderr, terminal: r.Terminal}
	t := newTask(r.ID, r.Bundle, VMName(s.ns, r.ID), img, io)
	t.net = network
	labels := map[string]string{LabelNamespace: s.ns, LabelID: r.ID}
	vs := vmSpec(spec, img.Name, r.Stdin != "", r.Terminal, labels)
	vs.Network, vs.DNS = network, dns
	if isSandbox(spec.Annotations) {
		podVMSpec(&vs, spec)
	}
	if _, err := s.daemon.PutVM(ctx, t.vm, vs); err != nil {
		s.dropImage(ctx, img)
		return nil, toGRPC(fmt.Errorf("create VM %s for container %s: %w", t.vm, r.ID, err))
	}
	return s.created(r, t), nil
}

// created records task t that r created and publishes TaskCreate.
func (s *Service) created(r *taskv3.CreateTaskRequest, t *task) *taskv3.CreateTaskResponse {
	s.mu.Lock()
	s.tasks[r.ID] = t
	s.mu.Unlock()
	s.events.send(&eventstypes.TaskCreate{
		ContainerID: r.ID, Bundle: r.Bundle, Rootfs: r.Rootfs, Checkpoint: r.Checkpoint,
		IO: &eventstypes.TaskIO{Stdin: r.Stdin, Stdout: r.Stdout, Stderr: r.Stderr, Terminal: r.Terminal},
	})
	return &taskv3.CreateTaskResponse{}
}

// Start attaches to the VM's main process, boots the VM and copies its
// stdio until it exits.
func (s *Service) Start(ctx context.Context, r *taskv3.StartRequest) (*taskv3.StartResponse, error) {
	if r.ExecID != "" {
		return s.startExec(ctx, r.ID, r.ExecID)
	}
	t, err := s.get(r.ID)
	if err != nil {
		return nil, err
	}
	if t.pod != nil {
		return s.startInPod(ctx, t)
	}
	if st, _, _, _ := t.state(); st != taskapi.Status_CREATED {
		return nil, toGRPC(fmt.Errorf("%w: task %s is %s, not created", errFailedPrecondition, r.ID, st))
	}
	in, out, errw, err := openFIFOs(ctx, t.io)
	if err != nil {
		return nil, toGRPC(err)
	}
	conn, err := s.daemon.AttachVM(ctx, t.vm, in != nil)
	if err == nil {
		var vm api.VM
		if vm, err = s.daemon.StartVM(ctx, t.vm); err == nil {
			t.mu.Lock()
			t.status, t.pid, t.conn, t.frames = taskapi.Status_RUNNING, uint32(vm.Runtime.PID), conn, api.NewFrameWriter(conn) //nolint:gosec // a pid
			t.mu.Unlock()
		} else {
			_ = conn.Close()
		}
	}
	if err != nil {
		closeAll(in, out, errw)
		return nil, toGRPC(fmt.Errorf("start VM %s of task %s: %w%s", t.vm, r.ID, netnsStartError(t.net, err), s.consoleTail(ctx, t.vm)))
	}
	_, pid, _, _ := t.state()
	s.events.send(&eventstypes.TaskStart{ContainerID: r.ID, Pid: pid})
	if in != nil {
		go func() { copyInput(in, t.frames); _ = in.Close() }()
	}
	go s.watch(context.WithoutCancel(ctx), t, out, errw)
	return &taskv3.StartResponse{Pid: pid}, nil
}

// Wait answers once the main process has exited.
func (s *Service) Wait(ctx context.Context, r *taskv3.WaitRequest) (*taskv3.WaitResponse, error) {
	if r.ExecID != "" {
		return s.waitExecExit(ctx, r.ID, r.ExecID)
	}
	t, err := s.get(r.ID)
	if err != nil {
		return nil, err
	}
	return t.wait(ctx)
}

// Kill sends a signal to the main process. A task never started has no
// process: it is recorded as ended by that signal.
func (s *Service) Kill(ctx context.Context, r *taskv3.KillRequest) (*ptypes.Empty, error) {
	if r.ExecID != "" {
		return s.killExec(r.ID, r.ExecID, r.Signal)
	}
	t, err := s.get(r.ID)
	if err != nil {
		return nil, err
	}
	return t.kill(t.id, t.id, "task "+r.ID, r.Signal, s.events, func() error {
		if t.pod != nil {
			return t.signal(t.inPod(), r.Signal)
		}
		if err := s.daemon.KillVM(ctx, t.vm, int(r.Signal)); err != nil {
			return toGRPC(fmt.Errorf("signal %d to task %s (VM %s): %w", r.Signal, r.ID, t.vm, err))
		}
		return nil
	})
}

// deleteWait bounds how long Delete waits for a removed VM's exit to be
// recorded, so TaskExit goes out before TaskDelete.
const deleteWait = 10 * time.Second

// Delete removes the task's VM (an absent one is fine) — a pod
// container's root in its pod's VM — and its private image, and answers
// the exit.
func (s *Service) Delete(ctx context.Context, r *taskv3.DeleteRequest) (*taskv3.DeleteResponse, error) {
	if r.ExecID != "" {
		return s.deleteExec(r.ID, r.ExecID)
	}
	t, err := s.get(r.ID)
	if err != nil {
		return nil, err
	}
	if t.pod != nil {
		err = s.removeFromPod(ctx, t)
	} else {
		err = s.removeVM(ctx, t)
	}
	if err != nil {
		return nil, err
	}
	s.dropImage(ctx, t.image)
	s.mu.Lock()
	delete(s.tasks, r.ID)
	s.mu.Unlock()
	resp := t.deleteResponse()
	s.events.send(&eventstypes.TaskDelete{ContainerID: r.ID, ID: r.ID, Pid: resp.Pid, ExitStatus: resp.ExitStatus, ExitedAt: resp.ExitedAt})
	return resp, nil
}

// removeVM removes a task's VM (an absent one is fine) and waits a
// while for its exit to be recorded.
func (s *Service) removeVM(ctx context.Context, t *task) error {
	if err := s.daemon.RemoveVM(ctx, t.vm); err != nil {
		return toGRPC(fmt.Errorf("remove VM %s of task %s: %w", t.vm, t.id, err))
	}
	if st, _, _, _ := t.state(); st == taskapi.Status_RUNNING || st == taskapi.Status_PAUSED {
		select {
		case <-t.exited:
		case <-time.After(deleteWait):
			t.exit(t.id, t.id, exitUnknown, time.Now(), s.events)
		}
	}
	return nil
}

// dropImage removes a container's private image; a shared one stays for
// the next container of the image.
func (s *Service) dropImage(ctx context.Context, img rootfsImage) {
	if !img.Private {
		return
	}
	if err := s.daemon.RemoveImage(ctx, img.Name); err != nil {
		log.G(ctx).WithError(err).WithField("image", img.Name).Warn("remove the container's image")
	}
}

// State answers the task's status.
func (s *Service) State(_ context.Context, r *taskv3.StateRequest) (*taskv3.StateResponse, error) {
	if r.ExecID != "" {
		return s.execState(r.ID, r.ExecID)
	}
	t, err := s.get(r.ID)
	if err != nil {
		return nil, err
	}
	return t.stateResponse(r.ID, t.bundle, t.io), nil
}

// consoleTail is the last lines of a VM's console the daemon kept when its
// start failed, for the error containerd shows: the VM goes with the task,
// and its console with it.
func (s *Service) consoleTail(ctx context.Context, vm string) string {
	v, err := s.daemon.VM(ctx, vm)
	if err != nil || len(v.ConsoleTail) == 0 {
		return ""
	}
	return "\nthe VM's console, last lines:\n" + strings.Join(v.ConsoleTail, "\n")
}
