package containershim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"syscall"

	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/client"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// Exec starts a fake process in a running VM: it writes execOut to
// stdout, then exits execCode — or, with execBlock, runs until a signal
// (128+N), or until its VM stops (its session breaks). An exec in a pod
// container needs the container (AddContainer). execs keeps each config
// it was given, procs each process.
func (d *fakeDaemon) Exec(_ context.Context, ref string, cfg client.ExecConfig) (Process, error) {
	v, err := d.get(ref)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if v.vm.State != api.VMRunning {
		return nil, fmt.Errorf("%w: vm %s is %s", errdefs.ErrConflict, ref, v.vm.State)
	}
	if _, ok := v.containers[cfg.Container]; cfg.Container != "" && !ok {
		return nil, fmt.Errorf("%w: vm %s has no container %s", errdefs.ErrNotFound, ref, cfg.Container)
	}
	d.execs = append(d.execs, cfg)
	p := &fakeProcess{signal: make(chan syscall.Signal, 1), code: d.execCode, block: d.execBlock, vmDone: v.done}
	d.procs = append(d.procs, p)
	if cfg.Stdout != nil {
		_, _ = io.WriteString(cfg.Stdout, d.execOut)
	}
	return p, nil
}

// fakeProcess is an exec's process of the fake daemon.
type fakeProcess struct {
	signal chan syscall.Signal
	code   int
	block  bool
	resize [][2]int
	vmDone <-chan struct{}
}

func (p *fakeProcess) Wait() (int, error) {
	if !p.block {
		return p.code, nil
	}
	select {
	case sig := <-p.signal:
		return 128 + int(sig), nil
	case <-p.vmDone:
		return 0, errors.New("the session ended: the VM stopped")
	}
}

func (p *fakeProcess) Signal(sig syscall.Signal) error {
	select {
	case p.signal <- sig:
	default:
	}
	return nil
}

func (p *fakeProcess) Resize(rows, cols int) error {
	p.resize = append(p.resize, [2]int{rows, cols})
	return nil
}
