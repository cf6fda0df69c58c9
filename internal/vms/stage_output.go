package vms

import (
	"context"
	"fmt"
	"time"

	"github.com/bangerdev/banger/internal/agentclient"
	"github.com/bangerdev/banger/internal/vmlogs"
)

// Outputs keeps each VM's main process output on the host (package
// vmlogs): the daemon is the one host attached to the main process.
type Outputs interface {
	// Begin attaches to the VM's main process for the run sess describes;
	// it fails when a stdio path of the spec cannot be opened.
	Begin(id string, sess vmlogs.Session) error
	// End detaches (the VM is being released).
	End(id string)
	// Forget drops what it holds of a removed VM.
	Forget(id string)
}

// outputStage attaches the daemon to the main process once the agent
// answers, so its output is kept from the first byte; its release
// detaches. The log file is the VM's data, in its directory: a stop
// keeps it and `rm` removes it with the directory, so the record does not
// name it.
type outputStage struct{ s *Service }

func (outputStage) Name() string { return "output" }

func (st outputStage) Acquire(_ context.Context, rt *Runtime) error {
	return st.s.beginOutput(rt, rt.started, false)
}

func (st outputStage) Release(_ context.Context, rt *Runtime) error {
	st.s.Outputs.End(rt.VM.ID)
	return nil
}

func (st outputStage) Remove(_ context.Context, rt *Runtime) error {
	st.s.Outputs.Forget(rt.VM.ID)
	return nil
}

// beginOutput starts the daemon's attachment to a running VM's main
// process (at start, and when reconcile adopts the VM), with the spec's
// stdio paths.
func (s *Service) beginOutput(rt *Runtime, started time.Time, adopted bool) error {
	if s.Outputs == nil || rt.Agent == nil {
		return nil
	}
	caller, _ := rt.VM.hostCaller()
	return s.Outputs.Begin(rt.VM.ID, vmlogs.Session{
		Source:  mainSource{rt.Agent, rt.VM.Spec.TTY},
		Started: started,
		Stdin:   rt.VM.Spec.Interactive,
		TTY:     rt.VM.Spec.TTY,
		Stdio:   rt.VM.Spec.Stdio,
		Caller:  caller,
		Adopted: adopted,
	})
}

// mainSource attaches to the main process over the VM's agent link.
type mainSource struct {
	a   *agentLink
	tty bool
}

func (m mainSource) AttachMain(ctx context.Context, st vmlogs.Streams) (int, error) {
	agent, err := m.a.get(ctx)
	if err != nil {
		return 0, err
	}
	c := agent.SSH()
	if c == nil {
		return 0, fmt.Errorf("vm %s: the agent link carries no SSH session", m.a.vmID)
	}
	client := agentclient.Over(c)
	var tty *agentclient.TTYConfig
	if m.tty {
		ctx2, cancel := context.WithCancel(ctx)
		defer cancel()
		tty = &agentclient.TTYConfig{Resize: windowSizes(ctx2, st.Resize)}
	}
	p, err := client.OpenMain(ctx, st.Stdin, st.Stdout, st.Stderr, tty)
	if err != nil {
		return 0, err
	}
	if st.Accepted != nil {
		st.Accepted()
	}
	return p.Wait()
}

// windowSizes converts terminal sizes for the agent client until ctx ends.
func windowSizes(ctx context.Context, in <-chan vmlogs.Size) <-chan agentclient.WindowSize {
	out := make(chan agentclient.WindowSize, 1)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case sz := <-in:
				select {
				case out <- agentclient.WindowSize{Rows: sz.Rows, Cols: sz.Cols}:
				default:
				}
			}
		}
	}()
	return out
}
