package containershim

import (
	"context"
	"fmt"
	"os"

	"github.com/containerd/cgroups/v3/cgroup2/stats"
	eventstypes "github.com/containerd/containerd/api/events"
	taskv3 "github.com/containerd/containerd/api/runtime/task/v3"
	taskapi "github.com/containerd/containerd/api/types/task"
	ptypes "github.com/containerd/containerd/v2/pkg/protobuf/types"
	"github.com/containerd/typeurl/v2"

	"github.com/bangerdev/banger/pkg/api"
)

// Pids answers the main process: the VM's, as the host sees it (its VMM).
func (s *Service) Pids(_ context.Context, r *taskv3.PidsRequest) (*taskv3.PidsResponse, error) {
	t, err := s.get(r.ID)
	if err != nil {
		return nil, err
	}
	st, pid, _, _ := t.state()
	resp := &taskv3.PidsResponse{}
	if (st == taskapi.Status_RUNNING || st == taskapi.Status_PAUSED) && pid != 0 {
		resp.Processes = append(resp.Processes, &taskapi.ProcessInfo{Pid: pid})
	}
	return resp, nil
}

// Stats answers banger's sample of the VM as cgroup v2 metrics, the type
// containerd's clients decode.
func (s *Service) Stats(ctx context.Context, r *taskv3.StatsRequest) (*taskv3.StatsResponse, error) {
	t, err := s.get(r.ID)
	if err != nil {
		return nil, err
	}
	if t.pod != nil {
		return inPodStats()
	}
	sample, err := s.daemon.Stats(ctx, t.vm)
	if err != nil {
		return nil, toGRPC(fmt.Errorf("stats of task %s (VM %s): %w", r.ID, t.vm, err))
	}
	if sample.Error != "" {
		return nil, toGRPC(fmt.Errorf("stats of task %s (VM %s): %s", r.ID, t.vm, sample.Error))
	}
	data, err := typeurl.MarshalAnyToProto(metrics(sample))
	if err != nil {
		return nil, toGRPC(err)
	}
	return &taskv3.StatsResponse{Stats: data}, nil
}

// metrics maps a VM's sample onto cgroup v2 metrics: memory is the
// guest's own use (the VMM's resident memory when the guest's is
// unknown), pids the VMM's tasks, I/O the drives' bytes, network the
// guest's. CPU is left out: banger samples a rate, the metrics want a
// cumulative time.
func metrics(v api.VMStats) *stats.Metrics {
	m := &stats.Metrics{
		Pids:   &stats.PidsStat{Current: uint64(max(v.PIDs, 0))},
		Memory: &stats.MemoryStat{Usage: v.VMMRSSBytes},
	}
	if v.GuestMemoryUsedBytes != nil {
		m.Memory.Usage = *v.GuestMemoryUsedBytes
	}
	if v.GuestMemoryTotalBytes != nil {
		m.Memory.UsageLimit = *v.GuestMemoryTotalBytes
	}
	if v.BlockReadBytes != nil || v.BlockWriteBytes != nil {
		m.Io = &stats.IOStat{Usage: []*stats.IOEntry{{Rbytes: deref(v.BlockReadBytes), Wbytes: deref(v.BlockWriteBytes)}}}
	}
	if v.NetRxBytes != nil || v.NetTxBytes != nil {
		m.Network = []*stats.NetworkStat{{Name: "eth0", RxBytes: deref(v.NetRxBytes), TxBytes: deref(v.NetTxBytes)}}
	}
	return m
}

func deref(p *uint64) uint64 {
	if p == nil {
		return 0
	}
	return *p
}

// ResizePty gives the main process's terminal its new size.
func (s *Service) ResizePty(_ context.Context, r *taskv3.ResizePtyRequest) (*ptypes.Empty, error) {
	if r.ExecID != "" {
		return s.resizeExec(r.ID, r.ExecID, r.Height, r.Width)
	}
	if t, err := s.get(r.ID); err == nil && t.pod != nil {
		if err := t.resize(t.inPod(), r.Height, r.Width); err != nil {
			return nil, err
		}
		return &ptypes.Empty{}, nil
	}
	return s.sendFrame(r.ID, api.FrameResize, fmt.Appendf(nil, "%d %d", r.Height, r.Width))
}

// CloseIO closes the main process's stdin.
func (s *Service) CloseIO(_ context.Context, r *taskv3.CloseIORequest) (*ptypes.Empty, error) {
	if !r.Stdin {
		return &ptypes.Empty{}, nil
	}
	if r.ExecID != "" {
		return s.closeExecStdin(r.ID, r.ExecID)
	}
	if t, err := s.get(r.ID); err == nil && t.pod != nil {
		t.closeStdin()
		return &ptypes.Empty{}, nil
	}
	return s.sendFrame(r.ID, api.FrameStdinEOF, nil)
}

// sendFrame sends one frame on a running task's attachment.
func (s *Service) sendFrame(id string, kind api.FrameKind, data []byte) (*ptypes.Empty, error) {
	t, err := s.get(id)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	fw := t.frames
	t.mu.Unlock()
	if fw == nil {
		return nil, toGRPC(fmt.Errorf("%w: task %s is not running", errFailedPrecondition, id))
	}
	if err := fw.Send(kind, data); err != nil {
		return nil, toGRPC(fmt.Errorf("task %s: %w", id, err))
	}
	return &ptypes.Empty{}, nil
}

// Connect answers the shim's pid and the task's.
func (s *Service) Connect(_ context.Context, r *taskv3.ConnectRequest) (*taskv3.ConnectResponse, error) {
	resp := &taskv3.ConnectResponse{ShimPid: uint32(os.Getpid())} //nolint:gosec // a pid
	if t, err := s.get(r.ID); err == nil {
		_, resp.TaskPid, _, _ = t.state()
	}
	return resp, nil
}

// Shutdown ends the shim once it serves no task.
func (s *Service) Shutdown(_ context.Context, _ *taskv3.ShutdownRequest) (*ptypes.Empty, error) {
	s.mu.Lock()
	n := len(s.tasks)
	s.mu.Unlock()
	if n == 0 && s.shutdown != nil {
		s.shutdown()
	}
	return &ptypes.Empty{}, nil
}

// Pause freezes the task's VM (its vCPUs: every process in it stops).
func (s *Service) Pause(ctx context.Context, r *taskv3.PauseRequest) (*ptypes.Empty, error) {
	return s.setPaused(ctx, r.ID, true)
}

// Resume resumes a paused task's VM.
func (s *Service) Resume(ctx context.Context, r *taskv3.ResumeRequest) (*ptypes.Empty, error) {
	return s.setPaused(ctx, r.ID, false)
}

// setPaused pauses or resumes a task's VM, records it and publishes
// TaskPaused or TaskResumed.
func (s *Service) setPaused(ctx context.Context, id string, pause bool) (*ptypes.Empty, error) {
	t, err := s.get(id)
	if err != nil {
		return nil, err
	}
	if t.pod != nil {
		return nil, toGRPC(fmt.Errorf("%w: %s container %s alone: it runs in its pod's VM %s with the pod's other containers; %s the pod's sandbox task (the whole VM)", errFailedPrecondition, verbOf(pause), id, t.vm, verbOf(pause)))
	}
	from, to, call, verb := taskapi.Status_RUNNING, taskapi.Status_PAUSED, s.daemon.PauseVM, "pause"
	if !pause {
		from, to, call, verb = taskapi.Status_PAUSED, taskapi.Status_RUNNING, s.daemon.UnpauseVM, "resume"
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.status != from {
		return nil, toGRPC(fmt.Errorf("%w: %s task %s: it is %s", errFailedPrecondition, verb, id, t.status))
	}
	if err := call(ctx, t.vm); err != nil {
		return nil, toGRPC(fmt.Errorf("%s task %s (VM %s): %w", verb, id, t.vm, err))
	}
	t.status = to
	if pause {
		s.events.send(&eventstypes.TaskPaused{ContainerID: id})
	} else {
		s.events.send(&eventstypes.TaskResumed{ContainerID: id})
	}
	return &ptypes.Empty{}, nil
}

func verbOf(pause bool) string {
	if pause {
		return "pause"
	}
	return "resume"
}

// Checkpoint checkpoints the task: not built yet.
func (s *Service) Checkpoint(_ context.Context, r *taskv3.CheckpointTaskRequest) (*ptypes.Empty, error) {
	return nil, unsupported("checkpoint of task %s", r.ID)
}

// Update changes the task's resources: not built yet.
func (s *Service) Update(_ context.Context, r *taskv3.UpdateTaskRequest) (*ptypes.Empty, error) {
	return nil, unsupported("update of task %s", r.ID)
}
