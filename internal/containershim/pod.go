package containershim

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/containerd/cgroups/v3/cgroup2/stats"
	eventstypes "github.com/containerd/containerd/api/events"
	taskv3 "github.com/containerd/containerd/api/runtime/task/v3"
	taskapi "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/log"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/bangerdev/banger/pkg/api"
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
	return s.created(r, t), nil
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

// inPod names a pod container in errors.
func (t *task) inPod() string {
	return fmt.Sprintf("container %s (pod VM %s)", t.id, t.vm)
}

// removeFromPod ends a pod container's process if it still runs (SIGKILL,
// then a while for its exit) and removes its root and image mount from
// the pod's VM. A pod VM that is gone or stopped took them already.
func (s *Service) removeFromPod(ctx context.Context, t *task) error {
	if st, _, _, _ := t.state(); st == taskapi.Status_RUNNING {
		if err := t.signal(t.inPod(), uint32(syscall.SIGKILL)); err != nil {
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
