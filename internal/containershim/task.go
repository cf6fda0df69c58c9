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
	"github.com/containerd/log"
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
	vm         string // the VM's name
	image      rootfsImage
	io         stdio
	// sandbox marks a CRI pod's sandbox task: no VM (see createSandbox).
	sandbox bool

	procState
	conn   io.ReadWriteCloser
	frames *api.FrameWriter
	execs  map[string]*execProc
}

func newTask(id, bundle, vm string, img rootfsImage, io stdio) *task {
	return &task{id: id, bundle: bundle, vm: vm, image: img, io: io, procState: newProcState()}
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
	for _, c := range []io.Closer{out, errw, t.conn} {
		if c != nil {
			_ = c.Close()
		}
	}
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
