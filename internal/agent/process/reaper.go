package process

import (
	"context"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Reaper starts and waits for the agent's own children and, when the agent
// is PID 1, reaps every other zombie (orphans re-parented to init).
//
// The difficulty: exec.Cmd.Wait needs its child's zombie, and a PID 1 that
// blindly calls wait4(-1) would steal it. So Run peeks with
// waitid(WNOWAIT), reaps only pids it does not track, and leaves tracked
// ones to their Wait; Start holds the lock across fork and registration so a
// child that exits at once is never mistaken for an orphan.
//
// A nil *Reaper is valid: Start and Wait are then plain Cmd.Start/Wait (an
// agent that is not PID 1 has no orphans to reap).
type Reaper struct {
	mu      sync.Mutex
	tracked map[int]bool
	kick    chan struct{}
}

// NewReaper returns a reaper; call Run in a goroutine when PID 1.
func NewReaper() *Reaper {
	return &Reaper{tracked: map[int]bool{}, kick: make(chan struct{}, 1)}
}

// Start starts cmd and tracks its pid.
func (r *Reaper) Start(cmd *exec.Cmd) error {
	if r == nil {
		return cmd.Start()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := cmd.Start(); err != nil {
		return err
	}
	r.tracked[cmd.Process.Pid] = true
	return nil
}

// Wait waits for cmd (started with Start) and stops tracking it.
func (r *Reaper) Wait(cmd *exec.Cmd) error {
	if r == nil {
		return cmd.Wait()
	}
	err := cmd.Wait()
	r.mu.Lock()
	delete(r.tracked, cmd.Process.Pid)
	r.mu.Unlock()
	select { // a tracked zombie may have hidden orphans from the last peek
	case r.kick <- struct{}{}:
	default:
	}
	return err
}

// Run reaps orphans until ctx ends: on SIGCHLD, after each tracked child's
// Wait, and once a second as a backstop.
func (r *Reaper) Run(ctx context.Context) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGCHLD)
	defer signal.Stop(sigs)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		r.reapOrphans()
		select {
		case <-ctx.Done():
			return
		case <-sigs:
		case <-r.kick:
		case <-tick.C:
		}
	}
}

// reapOrphans reaps zombies until none is left or the next one is tracked
// (its owner's Wait will reap it, then kick us).
func (r *Reaper) reapOrphans() {
	for {
		r.mu.Lock()
		var info unix.Siginfo
		err := unix.Waitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
		pid := siginfoPid(&info)
		if err != nil || pid <= 0 || r.tracked[pid] {
			r.mu.Unlock()
			return
		}
		var ws unix.WaitStatus
		_, _ = unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		r.mu.Unlock()
	}
}

// siginfoPid reads si_pid, which x/sys/unix keeps in Siginfo's padding: it
// is the first int32 of the union after signo, errno, code and alignment.
func siginfoPid(info *unix.Siginfo) int {
	type siginfoChild struct {
		Signo, Errno, Code, _ int32
		Pid                   int32
	}
	return int((*siginfoChild)(unsafe.Pointer(info)).Pid) //nolint:gosec // layout of struct siginfo on Linux
}
