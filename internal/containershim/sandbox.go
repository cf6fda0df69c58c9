package containershim

import (
	"fmt"
	"os"

	"github.com/containerd/cgroups/v3/cgroup2/stats"

	eventstypes "github.com/containerd/containerd/api/events"
	taskv3 "github.com/containerd/containerd/api/runtime/task/v3"
	taskapi "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// CRI's annotations of a pod's tasks.
const (
	// AnnotationContainerType is "sandbox" on a pod's sandbox (pause)
	// task and "container" on its containers'.
	AnnotationContainerType = "io.kubernetes.cri.container-type"
	containerTypeSandbox    = "sandbox"
)

// isSandbox says whether a task's spec is a CRI pod's sandbox task.
func isSandbox(annotations map[string]string) bool {
	return annotations[AnnotationContainerType] == containerTypeSandbox
}

// createSandbox records a pod's sandbox task. It runs nothing: the
// shim's own process stands in for the pause process (its pid is the
// task's, so the /proc/PID/ns paths CRI derives exist), the pause image
// is never imported and no VM is made; each container of the pod is a
// VM of its own. It lives until it is killed. The network namespace its
// spec names (CRI's, configured by CNI; none on the host's network) is
// the one its container's VM joins (claimNetwork).
func (s *Service) createSandbox(r *taskv3.CreateTaskRequest, spec *specs.Spec) (*taskv3.CreateTaskResponse, error) {
	t := newTask(r.ID, r.Bundle, "", rootfsImage{}, stdio{})
	t.sandbox, t.netns = true, specNetns(spec)
	s.mu.Lock()
	if _, exists := s.tasks[r.ID]; exists {
		s.mu.Unlock()
		return nil, toGRPC(fmt.Errorf("%w: task %s", errAlreadyExists, r.ID))
	}
	s.tasks[r.ID] = t
	s.mu.Unlock()
	s.events.send(&eventstypes.TaskCreate{
		ContainerID: r.ID, Bundle: r.Bundle, Rootfs: r.Rootfs,
		IO: &eventstypes.TaskIO{Stdin: r.Stdin, Stdout: r.Stdout, Stderr: r.Stderr, Terminal: r.Terminal},
	})
	return &taskv3.CreateTaskResponse{}, nil
}

// startSandbox marks a sandbox task running, as the shim's process.
func (s *Service) startSandbox(t *task) (*taskv3.StartResponse, error) {
	pid := uint32(os.Getpid()) //nolint:gosec // a pid
	t.mu.Lock()
	if t.status != taskapi.Status_CREATED {
		st := t.status
		t.mu.Unlock()
		return nil, toGRPC(fmt.Errorf("%w: task %s is %s, not created", errFailedPrecondition, t.id, st))
	}
	t.status, t.pid = taskapi.Status_RUNNING, pid
	t.mu.Unlock()
	s.events.send(&eventstypes.TaskStart{ContainerID: t.id, Pid: pid})
	return &taskv3.StartResponse{Pid: pid}, nil
}

// sandboxStats are a sandbox task's metrics: it uses nothing of its own.
func sandboxStats() (*taskv3.StatsResponse, error) {
	data, err := typeurl.MarshalAnyToProto(&stats.Metrics{})
	if err != nil {
		return nil, toGRPC(err)
	}
	return &taskv3.StatsResponse{Stats: data}, nil
}

// notForSandbox is the error of a call that needs a VM on a sandbox task.
func notForSandbox(what, id string) error {
	return toGRPC(fmt.Errorf("%w: %s of pod sandbox task %s: it has no VM (each container of the pod has its own)", errFailedPrecondition, what, id))
}
