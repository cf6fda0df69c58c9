package containershim

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	eventstypes "github.com/containerd/containerd/api/events"
	taskv3 "github.com/containerd/containerd/api/runtime/task/v3"
	taskapi "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/v2/pkg/protobuf"
	ptypes "github.com/containerd/containerd/v2/pkg/protobuf/types"
	"github.com/containerd/log"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/bangerdev/banger/pkg/api"
)

// exitUnknown is the status of a main process whose own status is lost
// (its VM was killed before the agent reported it): what runc's shim
// reports for a process it had to kill.
const exitUnknown = 128 + int(unix.SIGKILL)

// task is one container task: its VM and the state the task API reports.
type task struct {
	id, bundle string
	vm         string // the VM's name: its own, or its pod's
	image      rootfsImage
	io         stdio
	net        string // the VM's network (api.VMSpec.Network)
	// pod is the sandbox task of the CRI pod whose VM runs this
	// container (pod.go); nil for a task that is a VM of its own (a
	// sandbox, or a container outside CRI).
	pod *task
	// process is what a container of a pod runs (its OCI process).
	process *specs.Process

	// sessionProc is the main process's state; its proc and stdin are
	// set only for a container of a pod, whose process runs in the
	// pod's VM over a session (pod.go).
	sessionProc
	conn   io.ReadWriteCloser
	frames *api.FrameWriter
	execs  map[string]*execProc
}

func newTask(id, bundle, vm string, img rootfsImage, io stdio) *task {
	return &task{id: id, bundle: bundle, vm: vm, image: img, io: io, sessionProc: sessionProc{procState: newProcState()}}
}

// procState is a process's status as the task API reports it: a task's
// main process or an exec's. mu also guards what its holder adds.
type procState struct {
	mu     sync.Mutex
	status taskapi.Status
	pid    uint32
	code   int
	at     time.Time
	// exited is closed once the exit is recorded.
	exited chan struct{}
}

func newProcState() procState {
	return procState{status: taskapi.Status_CREATED, exited: make(chan struct{})}
}

// state answers the process's status, pid and exit.
func (p *procState) state() (taskapi.Status, uint32, int, time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.status, p.pid, p.code, p.at
}

// exit records the process's end once, sends TaskExit (id: the task's
// for its main process, else the exec's) and then tells waiters — in
// that order, so a Delete that follows a Wait cannot publish TaskDelete
// before the exit.
func (p *procState) exit(containerID, id string, code int, at time.Time, q *eventQueue) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.status == taskapi.Status_STOPPED {
		return
	}
	p.status, p.code, p.at = taskapi.Status_STOPPED, code, at
	q.send(&eventstypes.TaskExit{ContainerID: containerID, ID: id, Pid: p.pid, ExitStatus: uint32(code), ExitedAt: protobuf.ToTimestamp(at)}) //nolint:gosec // exit statuses are 0-255
	close(p.exited)
}

// kill signals the process: one that ended is containerd's not-found
// (what names it), one never started is recorded as ended by the signal
// (TaskExit with id), and a running one is signalled by send.
func (p *procState) kill(containerID, id, what string, sig uint32, q *eventQueue, send func() error) (*ptypes.Empty, error) {
	switch st, _, _, _ := p.state(); st {
	case taskapi.Status_STOPPED:
		return nil, notFound("%s: process already finished", what)
	case taskapi.Status_CREATED:
		p.exit(containerID, id, 128+int(sig), time.Now(), q)
		return &ptypes.Empty{}, nil
	}
	if err := send(); err != nil {
		return nil, err
	}
	return &ptypes.Empty{}, nil
}

// stateResponse is the process's state as the task API answers it: id is
// the task's or the exec's, with the task's bundle and the process's stdio.
func (p *procState) stateResponse(id, bundle string, io stdio) *taskv3.StateResponse {
	st, pid, code, at := p.state()
	resp := &taskv3.StateResponse{
		ID: id, Bundle: bundle, Pid: pid, Status: st,
		Stdin: io.stdin, Stdout: io.stdout, Stderr: io.stderr, Terminal: io.terminal,
		ExitStatus: uint32(code), //nolint:gosec // 0-255
	}
	if st == taskapi.Status_STOPPED {
		resp.ExitedAt = protobuf.ToTimestamp(at)
	}
	return resp
}

// deleteResponse is the exit Delete answers of the process (now when it
// has no exit time: it never ran).
func (p *procState) deleteResponse() *taskv3.DeleteResponse {
	_, pid, code, at := p.state()
	if at.IsZero() {
		at = time.Now()
	}
	return &taskv3.DeleteResponse{Pid: pid, ExitStatus: uint32(code), ExitedAt: protobuf.ToTimestamp(at)} //nolint:gosec // 0-255
}

// wait answers once the process has exited, or ctx ended.
func (p *procState) wait(ctx context.Context) (*taskv3.WaitResponse, error) {
	select {
	case <-p.exited:
	case <-ctx.Done():
		return nil, toGRPC(ctx.Err())
	}
	_, _, code, at := p.state()
	return &taskv3.WaitResponse{ExitStatus: uint32(code), ExitedAt: protobuf.ToTimestamp(at)}, nil //nolint:gosec // 0-255
}

// watch copies the attachment's output to the FIFOs until the main
// process ends, records its exit (the attachment's status, else the VM's)
// and publishes TaskExit.
func (s *Service) watch(ctx context.Context, t *task, out, errw io.WriteCloser) {
	code, err := copyOutput(t.conn, out, errw)
	closeAll(out, errw, t.conn)
	if err != nil {
		log.G(ctx).WithError(err).WithField("id", t.id).Warn("attachment ended early; asking the daemon for the exit")
		code = vmExitCode(s.waitVM(ctx, t.vm))
	}
	t.exit(t.id, t.id, code, time.Now(), s.events)
}

// waitVM waits for the VM to stop and answers it; a VM gone or a daemon
// that fails answers the zero VM.
func (s *Service) waitVM(ctx context.Context, name string) api.VM {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	vm, err := s.daemon.WaitVM(ctx, name)
	if err != nil && !errors.Is(err, context.Canceled) {
		log.G(ctx).WithError(err).WithField("vm", name).Warn("wait for the VM")
	}
	return vm
}

// vmExitCode is the exit status a VM's record gives its main process
// (128+N for signal N), or exitUnknown.
func vmExitCode(vm api.VM) int {
	if vm.ExitCode != nil {
		return *vm.ExitCode
	}
	return exitUnknown
}
