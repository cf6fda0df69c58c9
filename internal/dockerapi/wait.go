package dockerapi

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/bangerdev/banger/internal/vmlogs"
	"github.com/bangerdev/banger/internal/vms"
)

// removedPoll is how often a wait for removal looks for the VM.
const removedPoll = 50 * time.Millisecond

// wait answers when the container reaches the condition: not-running
// (now, for a VM that is not running), next-exit (the end of the
// current run, or of the next for a VM not running: `docker run` asks
// before it starts the container) or removed. The status line is sent
// at once, so a client that waits before it starts knows the wait is
// in place; the exit status follows.
func (s *Server) wait(w http.ResponseWriter, r *http.Request) {
	vm, err := s.vm(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	cond := container.WaitCondition(r.URL.Query().Get("condition"))
	switch cond {
	case "", container.WaitConditionNotRunning, container.WaitConditionNextExit, container.WaitConditionRemoved:
	default:
		writeError(w, badParam("invalid condition: %q: want not-running, next-exit or removed", cond))
		return
	}
	// What to follow: a running VM's current run (vms.Wait alone for a
	// restarting one, which waits out its next run); the next run of a
	// VM created and not started (`docker run` waits before it starts);
	// for next-exit, the next run of any VM not running.
	var sub *vmlogs.Sub
	follow := vm.State.Live() || vm.State == vms.Restarting ||
		cond == container.WaitConditionNextExit || cond == container.WaitConditionRemoved && vm.State == vms.Created
	if follow {
		// Subscribed before the answer's status line: the exit of the run
		// the client starts next cannot be missed.
		o := vmlogs.SubOptions{Follow: true, Next: !vm.State.Live() && vm.State != vms.Restarting}
		if _, sub, err = s.opts.Outputs.Subscribe(vm.ID, o); err != nil {
			writeError(w, err)
			return
		}
	}
	if sub != nil {
		defer sub.Close()
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_ = http.NewResponseController(w).Flush()

	ctx, cancel := context.WithCancel(r.Context())
	defer context.AfterFunc(s.opts.Ctx, cancel)()
	defer cancel()
	var code int
	switch {
	case cond == container.WaitConditionRemoved:
		code, err = s.waitRemovedAfter(ctx, vm, sub, follow)
	case follow:
		code, err = s.waitExit(ctx, vm.ID, sub)
	default:
		code = exitCode(vm)
	}
	resp := container.WaitResponse{StatusCode: int64(code)}
	if err != nil {
		resp.Error = &container.WaitExitError{Message: err.Error()}
	}
	_ = json.NewEncoder(w).Encode(resp)
}

// waitExit waits for the end of the run sub follows (none: the VM
// service's Wait alone), then for the VM service to have recorded it,
// and returns its exit status: the record's (a signal's 128+N, a restart
// policy's), else the status the attachment saw (a VM removed on exit
// has no record).
func (s *Server) waitExit(ctx context.Context, id string, sub *vmlogs.Sub) (int, error) {
	var seen *int
	for sub != nil && seen == nil {
		ev, err := sub.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return -1, ctx.Err()
			}
			break // the run ended without an exit status, or the reader was dropped
		}
		if ev.Exit != nil {
			code := ev.Exit.Code
			seen = &code
		}
	}
	vm, err := s.opts.VMs.Wait(ctx, id)
	switch {
	case err == nil && vm.ExitCode != nil:
		return *vm.ExitCode, nil
	case isNotFound(err) || err == nil:
		if seen != nil {
			return *seen, nil
		}
		return exitCode(vm), nil
	}
	return -1, err
}

// exitGrace is how long a wait for removal still waits, once the VM is
// gone, for the exit status of the run it followed.
const exitGrace = 2 * time.Second

// waitRemovedAfter answers removed: when the record goes. The run it
// follows, if any, gives the status (a --rm VM's record goes with its
// exit); a run that never comes (a start that failed, the VM then
// removed) does not hold the answer.
func (s *Server) waitRemovedAfter(ctx context.Context, vm vms.VM, sub *vmlogs.Sub, follow bool) (int, error) {
	if !follow {
		return s.waitRemoved(ctx, vm.ID, exitCode(vm))
	}
	type result struct {
		code int
		err  error
	}
	ectx, cancel := context.WithCancel(ctx)
	defer cancel()
	exited := make(chan result, 1)
	go func() {
		code, err := s.waitExit(ectx, vm.ID, sub)
		exited <- result{code, err}
	}()
	code, err := s.waitRemoved(ctx, vm.ID, exitCode(vm))
	if err != nil {
		return code, err
	}
	select {
	case r := <-exited:
		if r.err == nil {
			return r.code, nil
		}
	case <-time.After(exitGrace):
	}
	return code, nil
}

// waitRemoved returns once the VM is gone, with its last exit status
// (code, until a later record says otherwise).
func (s *Server) waitRemoved(ctx context.Context, id string, code int) (int, error) {
	t := time.NewTicker(removedPoll)
	defer t.Stop()
	for {
		vm, err := s.opts.VMs.Get(id)
		if isNotFound(err) {
			return code, nil
		}
		if err == nil && vm.ExitCode != nil {
			code = *vm.ExitCode
		}
		select {
		case <-ctx.Done():
			return code, ctx.Err()
		case <-t.C:
		}
	}
}
