package containershim

import (
	"context"
	"fmt"
	"io"
	"syscall"

	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/client"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// Exec starts a fake process in a running VM: it writes execOut to
// stdout, then exits execCode — or, with execBlock, runs until a signal
// (128+N). execs keeps each config it was given.
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
	d.execs = append(d.execs, cfg)
	p := &fakeProcess{signal: make(chan syscall.Signal, 1), code: d.execCode, block: d.execBlock}
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
}

func (p *fakeProcess) Wait() (int, error) {
	if !p.block {
		return p.code, nil
	}
	return 128 + int(<-p.signal), nil
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
