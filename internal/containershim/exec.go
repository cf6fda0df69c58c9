package containershim

import (
	"context"
	"fmt"

	eventstypes "github.com/containerd/containerd/api/events"
	taskv3 "github.com/containerd/containerd/api/runtime/task/v3"
	taskapi "github.com/containerd/containerd/api/types/task"
	ptypes "github.com/containerd/containerd/v2/pkg/protobuf/types"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// execProc is one exec of a task: a process started in the task's VM
// over a session of the daemon's (client.Session.Start).
type execProc struct {
	id   string
	spec *specs.Process
	io   stdio

	sessionProc
}

// exec answers exec execID of task id.
func (s *Service) exec(id, execID string) (*task, *execProc, error) {
	t, err := s.get(id)
	if err != nil {
		return nil, nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.execs[execID]
	if !ok {
		return nil, nil, notFound("exec %s of task %s", execID, id)
	}
	return t, e, nil
}

// Exec records another process of a running task (started by Start with
// its exec id) and publishes TaskExecAdded.
func (s *Service) Exec(_ context.Context, r *taskv3.ExecProcessRequest) (*ptypes.Empty, error) {
	t, err := s.get(r.ID)
	if err != nil {
		return nil, err
	}
	v, err := typeurl.UnmarshalAny(r.Spec)
	if err != nil {
		return nil, toGRPC(fmt.Errorf("%w: exec %s of task %s: decode its process: %w", errInvalid, r.ExecID, r.ID, err))
	}
	p, ok := v.(*specs.Process)
	if !ok || len(p.Args) == 0 {
		return nil, toGRPC(fmt.Errorf("%w: exec %s of task %s: no process arguments", errInvalid, r.ExecID, r.ID))
	}
	e := &execProc{
		id: r.ExecID, spec: p, sessionProc: sessionProc{procState: newProcState()},
		io: stdio{stdin: r.Stdin, stdout: r.Stdout, stderr: r.Stderr, terminal: r.Terminal || p.Terminal},
	}
	t.mu.Lock()
	switch {
	case t.status != taskapi.Status_RUNNING:
		err = fmt.Errorf("%w: exec in task %s: it is %s, not running", errFailedPrecondition, r.ID, t.status)
	case t.execs[r.ExecID] != nil:
		err = fmt.Errorf("%w: exec %s of task %s", errAlreadyExists, r.ExecID, r.ID)
	default:
		if t.execs == nil {
			t.execs = map[string]*execProc{}
		}
		t.execs[r.ExecID] = e
	}
	t.mu.Unlock()
	if err != nil {
		return nil, toGRPC(err)
	}
	s.events.send(&eventstypes.TaskExecAdded{ContainerID: r.ID, ExecID: r.ExecID})
	return &ptypes.Empty{}, nil
}

// startExec starts an exec's process in the task's VM (in its root
// there for a container of a pod) with the exec's FIFOs as its stdio,
// publishes TaskExecStarted and, once it ends, TaskExit with the exec's
// id.
func (s *Service) startExec(ctx context.Context, id, execID string) (*taskv3.StartResponse, error) {
	t, e, err := s.exec(id, execID)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.status != taskapi.Status_CREATED {
		return nil, toGRPC(fmt.Errorf("%w: exec %s of task %s is %s, not created", errFailedPrecondition, execID, id, e.status))
	}
	container := ""
	if t.pod != nil {
		container = t.id
	}
	p, err := s.startProcess(ctx, t.vm, container, e.spec, e.io)
	if err != nil {
		return nil, toGRPC(fmt.Errorf("start exec %s of task %s (VM %s): %w", execID, id, t.vm, err))
	}
	_, pid, _, _ := t.state()
	e.status, e.pid, e.proc, e.stdin = taskapi.Status_RUNNING, pid, p.proc, p.stdin
	s.events.send(&eventstypes.TaskExecStarted{ContainerID: id, ExecID: execID, Pid: pid})
	go s.waitProcess(context.WithoutCancel(ctx), t.id, e.id, &e.procState, p)
	return &taskv3.StartResponse{Pid: pid}, nil
}

// execName names exec execID of task id in errors.
func execName(id, execID string) string {
	return fmt.Sprintf("exec %s of task %s", execID, id)
}

// waitExecExit answers once the exec has exited.
func (s *Service) waitExecExit(ctx context.Context, id, execID string) (*taskv3.WaitResponse, error) {
	_, e, err := s.exec(id, execID)
	if err != nil {
		return nil, err
	}
	return e.wait(ctx)
}

// killExec signals the exec's process; one never started is recorded as
// ended by the signal.
func (s *Service) killExec(id, execID string, sig uint32) (*ptypes.Empty, error) {
	_, e, err := s.exec(id, execID)
	if err != nil {
		return nil, err
	}
	what := execName(id, execID)
	return e.kill(id, e.id, what, sig, s.events, func() error { return e.signal(what, sig) })
}

// resizeExec gives the exec's terminal its new size.
func (s *Service) resizeExec(id, execID string, rows, cols uint32) (*ptypes.Empty, error) {
	_, e, err := s.exec(id, execID)
	if err != nil {
		return nil, err
	}
	if err := e.resize(execName(id, execID), rows, cols); err != nil {
		return nil, err
	}
	return &ptypes.Empty{}, nil
}

// closeExecStdin ends the exec's stdin.
func (s *Service) closeExecStdin(id, execID string) (*ptypes.Empty, error) {
	_, e, err := s.exec(id, execID)
	if err != nil {
		return nil, err
	}
	e.closeStdin()
	return &ptypes.Empty{}, nil
}

// deleteExec forgets an exec that is not running and answers its exit.
func (s *Service) deleteExec(id, execID string) (*taskv3.DeleteResponse, error) {
	t, e, err := s.exec(id, execID)
	if err != nil {
		return nil, err
	}
	if st, _, _, _ := e.state(); st == taskapi.Status_RUNNING {
		return nil, toGRPC(fmt.Errorf("%w: exec %s of task %s is running: kill it first", errFailedPrecondition, execID, id))
	}
	t.mu.Lock()
	delete(t.execs, execID)
	t.mu.Unlock()
	return e.deleteResponse(), nil
}

// execState answers an exec's status.
func (s *Service) execState(id, execID string) (*taskv3.StateResponse, error) {
	t, e, err := s.exec(id, execID)
	if err != nil {
		return nil, err
	}
	return e.stateResponse(execID, t.bundle, e.io), nil
}
