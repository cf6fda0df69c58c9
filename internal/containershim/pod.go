package containershim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"syscall"
	"time"

	"github.com/containerd/cgroups/v3/cgroup2/stats"
	eventstypes "github.com/containerd/containerd/api/events"
	taskv3 "github.com/containerd/containerd/api/runtime/task/v3"
	taskapi "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/v2/core/mount"
	ptypes "github.com/containerd/containerd/v2/pkg/protobuf/types"
	"github.com/containerd/log"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/client"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// A CRI pod is one VM (issue 14): its sandbox task is the VM (podVMSpec,
// the pause image's process as its main process), and each container of
// the pod is a root in that VM's guest — its image mounted under the
// pod share by the daemon (AddContainer), an overlay over it made by the
// guest agent — whose process runs chrooted there over a session
// (client.ExecConfig.Container). The containers share the VM's network
// (localhost between them, the pod's address) and kernel; they have no
// PID namespace or cgroup of their own in the guest.

// createInPod records container r.ID of pod podID: its image (pulled by
// the name CRI gave) gets a root in the pod's VM. Nothing runs yet.
func (s *Service) createInPod(ctx context.Context, r *taskv3.CreateTaskRequest, spec *specs.Spec, podID string) (*taskv3.CreateTaskResponse, error) {
	s.mu.Lock()
	pod, ok := s.tasks[podID]
	s.mu.Unlock()
	if !ok || pod.pod != nil {
		return nil, toGRPC(fmt.Errorf("%w: container %s of %s: its pod's sandbox task is not served by this shim, so its VM is unknown; remove the pod and run it again", errFailedPrecondition, r.ID, podName(spec.Annotations)))
	}
	if st, _, _, _ := pod.state(); st != taskapi.Status_RUNNING {
		return nil, toGRPC(fmt.Errorf("%w: container %s of %s: the pod's VM %s is %s, not running", errFailedPrecondition, r.ID, podName(spec.Annotations), pod.vm, st))
	}
	img, err := s.resolveImage(ctx, s.ns, r.ID, r.Bundle, mount.FromProto(r.Rootfs), spec.Annotations)
	if err != nil {
		return nil, toGRPC(err)
	}
	if _, err := s.daemon.AddContainer(ctx, pod.vm, r.ID, img.Name); err != nil {
		s.dropImage(ctx, img)
		return nil, toGRPC(fmt.Errorf("container %s of %s: add it to the pod's VM %s: %w", r.ID, podName(spec.Annotations), pod.vm, err))
	}
	t := newTask(r.ID, r.Bundle, pod.vm, img, stdio{stdin: r.Stdin, stdout: r.Stdout, stderr: r.Stderr, terminal: r.Terminal || spec.Process.Terminal})
	t.pod, t.process = pod, spec.Process
	s.mu.Lock()
	s.tasks[r.ID] = t
	s.mu.Unlock()
	s.events.send(&eventstypes.TaskCreate{
		ContainerID: r.ID, Bundle: r.Bundle, Rootfs: r.Rootfs,
		IO: &eventstypes.TaskIO{Stdin: r.Stdin, Stdout: r.Stdout, Stderr: r.Stderr, Terminal: r.Terminal},
	})
	return &taskv3.CreateTaskResponse{}, nil
}

// startInPod starts a pod container's process in its root in the pod's
// VM, with the task's FIFOs as its stdio; its exit is the task's
// (TaskExit once it ends, exitUnknown when its session broke first: the
// pod's VM went, or the shim lost the daemon). Its pid is the pod's: the
// agent reports no guest pid.
func (s *Service) startInPod(ctx context.Context, t *task) (*taskv3.StartResponse, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.status != taskapi.Status_CREATED {
		return nil, toGRPC(fmt.Errorf("%w: task %s is %s, not created", errFailedPrecondition, t.id, t.status))
	}
	p, err := s.startProcess(ctx, t.vm, t.id, t.process, t.io)
	if err != nil {
		return nil, toGRPC(fmt.Errorf("start container %s in the pod's VM %s: %w", t.id, t.vm, err))
	}
	_, pid, _, _ := t.pod.state()
	t.status, t.pid, t.proc, t.stdin = taskapi.Status_RUNNING, pid, p.proc, p.stdin
	s.events.send(&eventstypes.TaskStart{ContainerID: t.id, Pid: pid})
	go s.waitProcess(context.WithoutCancel(ctx), t.id, t.id, &t.procState, p)
	return &taskv3.StartResponse{Pid: pid}, nil
}

// running answers a pod container's process, or an error when it never
// started.
func (t *task) running() (Process, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.proc == nil {
		return nil, toGRPC(fmt.Errorf("%w: task %s is %s, not running", errFailedPrecondition, t.id, t.status))
	}
	return t.proc, nil
}

// signalInPod signals a running pod container's process.
func (t *task) signalInPod(sig uint32) error {
	p, err := t.running()
	if err != nil {
		return err
	}
	if err := p.Signal(syscall.Signal(sig)); err != nil {
		return toGRPC(fmt.Errorf("signal %d to container %s (pod VM %s): %w", sig, t.id, t.vm, err))
	}
	return nil
}

// resizeInPod gives a pod container's terminal its new size.
func (t *task) resizeInPod(rows, cols uint32) (*ptypes.Empty, error) {
	p, err := t.running()
	if err != nil {
		return nil, err
	}
	if err := p.Resize(int(rows), int(cols)); err != nil {
		return nil, toGRPC(fmt.Errorf("resize the terminal of container %s: %w", t.id, err))
	}
	return &ptypes.Empty{}, nil
}

// closeStdinInPod ends a pod container's stdin.
func (t *task) closeStdinInPod() {
	t.mu.Lock()
	c := t.stdin
	t.mu.Unlock()
	if c != nil {
		_ = c.Close()
	}
}

// removeFromPod ends a pod container's process if it still runs (SIGKILL,
// then a while for its exit) and removes its root and image mount from
// the pod's VM. A pod VM that is gone or stopped took them already.
func (s *Service) removeFromPod(ctx context.Context, t *task) error {
	if st, _, _, _ := t.state(); st == taskapi.Status_RUNNING {
		if err := t.signalInPod(uint32(syscall.SIGKILL)); err != nil {
			log.G(ctx).WithError(err).WithField("id", t.id).Warn("kill the container before its removal")
		}
		select {
		case <-t.exited:
		case <-time.After(deleteWait):
			t.exit(t.id, t.id, exitUnknown, time.Now(), s.events)
		}
	}
	return removeContainer(ctx, s.daemon, t.vm, t.id)
}

// removeContainer removes container id from pod VM vm; a VM absent or
// not running holds none (its pod share's release unmounted them all).
func removeContainer(ctx context.Context, d Daemon, vm, id string) error {
	_, err := d.RemoveContainer(ctx, vm, id)
	if err == nil || errors.Is(err, errdefs.ErrNotFound) {
		return nil
	}
	if v, verr := d.VM(ctx, vm); errors.Is(verr, errdefs.ErrNotFound) || (verr == nil && v.State != api.VMRunning && v.State != api.VMPaused) {
		return nil
	}
	return toGRPC(fmt.Errorf("remove container %s from the pod's VM %s: %w", id, vm, err))
}

// inPodStats are a pod container's metrics: none of its own (the guest
// gives a container no cgroup); the pod's VM's are the sandbox task's.
func inPodStats() (*taskv3.StatsResponse, error) {
	data, err := typeurl.MarshalAnyToProto(&stats.Metrics{})
	if err != nil {
		return nil, toGRPC(err)
	}
	return &taskv3.StatsResponse{Stats: data}, nil
}

// process is a process started in a VM over a session, with the FIFOs
// its output goes to.
type process struct {
	proc      Process
	stdin     io.Closer // the write end of its stdin; nil for none
	out, errw io.Closer
}

// startProcess starts p in VM vm (in its container's root when
// container is not "") with the FIFOs of fifos as its stdio.
func (s *Service) startProcess(ctx context.Context, vm, container string, p *specs.Process, fifos stdio) (process, error) {
	in, out, errw, err := openFIFOs(ctx, fifos)
	if err != nil {
		return process{}, err
	}
	// A FIFO not given is a nil writer: its output is dropped.
	cfg := client.ExecConfig{Cmd: p.Args, Env: p.Env, WorkingDir: p.Cwd, User: processUser(p.User), Container: container, Stdout: out, Stderr: errw}
	var stdinW *io.PipeWriter
	if in != nil {
		var stdinR *io.PipeReader
		stdinR, stdinW = io.Pipe()
		cfg.Stdin = stdinR
		go func() { _, _ = io.Copy(stdinW, in); _ = stdinW.Close(); _ = in.Close() }()
	}
	if fifos.terminal {
		cfg.TTY = &client.TTY{}
		if cs := p.ConsoleSize; cs != nil {
			cfg.TTY.Rows, cfg.TTY.Cols = int(cs.Height), int(cs.Width) //nolint:gosec // terminal sizes
		}
	}
	proc, err := s.daemon.Exec(context.WithoutCancel(ctx), vm, cfg)
	if err != nil {
		closeAll(in, out, errw)
		return process{}, err
	}
	res := process{proc: proc, out: out, errw: errw}
	if stdinW != nil {
		res.stdin = stdinW
	}
	return res, nil
}

// waitProcess records a process's exit once it ends (exitUnknown when
// its session broke first) and publishes TaskExit with id.
func (s *Service) waitProcess(ctx context.Context, containerID, id string, ps *procState, p process) {
	code, err := p.proc.Wait()
	closeAll(p.out, p.errw)
	if err != nil {
		log.G(ctx).WithError(err).WithField("id", containerID).WithField("process", id).Warn("process ended without its exit status")
		code = exitUnknown
	}
	ps.exit(containerID, id, code, time.Now(), s.events)
}
