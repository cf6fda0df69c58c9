package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// RunConfig is a `banger run`: a new VM whose main process runs as
// Spec says, its output streamed here.
type RunConfig struct {
	// Name is the VM's; empty lets the daemon pick one.
	Name string
	// Spec is the VM. Spec.Detach starts it and returns (no attach);
	// Spec.AutoRemove removes it when it stops (and when Run fails after
	// creating it); Spec.Interactive forwards Stdin; Spec.TTY runs the
	// main process on a terminal of TTY's size.
	Spec api.VMSpec
	// From, when set, is a checkpoint to start the VM from instead of
	// an image: only Name and Spec.Detach count then.
	From string
	// Stdin, Stdout, Stderr, TTY and DetachKeys are the attachment's (see
	// AttachConfig).
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	TTY            *TTY
	DetachKeys     []byte
	// Terminal, when set, gives the TTY instead, called once the VM
	// started and before its output streams: where a terminal goes into
	// raw mode (not earlier, while the pull and boot report progress).
	Terminal func() (*TTY, error)
	// Pull watches the image's pull when the daemon does not have it
	// (its first message says so); Start watches the boot.
	Pull, Start api.Watch
	// Interrupted, when set, is called when ctx ends while the main
	// process runs, before Run stops the VM.
	Interrupted func(vm api.VM)
}

// RunResult is how a Run ended.
type RunResult struct {
	// VM is the VM as its start answered it.
	VM api.VM
	// ExitCode is the main process's (128+N for signal N), once it
	// exited; Detached says the detach keys were typed instead.
	ExitCode int
	Detached bool
	// Timings are the start's stages (api.StartResult.Timings) and
	// "command" (until the exit) and "teardown" (until the VM stopped),
	// in milliseconds.
	Timings map[string]float64
}

// Run creates a VM, attaches to its main process, starts it and returns
// once the process exited and the VM stopped (and, with AutoRemove, was
// removed), as `banger run` does. An image the daemon lacks is pulled
// first. With Spec.Detach it returns once the VM started. When ctx ends
// while the process runs, the VM is stopped (its stop signal, then
// SIGKILL) and ctx's error returned; so it is when Terminal fails.
func (c *Client) Run(ctx context.Context, cfg RunConfig) (RunResult, error) {
	spec := cfg.Spec
	res := RunResult{Timings: map[string]float64{}}
	if cfg.From == "" {
		if err := c.EnsureImage(ctx, spec.Image, cfg.Pull); err != nil {
			return res, err
		}
	}
	vm, err := c.CreateVM(ctx, api.CreateVMRequest{Name: cfg.Name, Spec: spec, From: cfg.From})
	if err != nil {
		return res, err
	}
	res.VM = vm
	// Attach before the start: the daemon keeps the main process's output
	// from its first byte, and this stream shows exactly that.
	var conn net.Conn
	if !spec.Detach {
		if conn, err = c.dialAttach(ctx, vm.ID, api.AttachVMQuery{Next: true, Stdin: spec.Interactive}); err != nil {
			c.removeAfterFailure(spec, vm.ID)
			return res, err
		}
	}
	started, err := c.StartVM(ctx, vm.ID, cfg.Start)
	if err != nil {
		if conn != nil {
			_ = conn.Close()
		}
		c.removeAfterFailure(spec, vm.ID)
		return res, err
	}
	res.VM = started.VM
	for k, v := range started.Timings {
		res.Timings[k] = v
	}
	if spec.Detach {
		return res, nil
	}
	acfg := AttachConfig{Stdout: cfg.Stdout, Stderr: cfg.Stderr, DetachKeys: cfg.DetachKeys}
	if spec.Interactive {
		acfg.Stdin = cfg.Stdin
	}
	if spec.TTY {
		acfg.TTY = cfg.TTY
		if cfg.Terminal != nil {
			if acfg.TTY, err = cfg.Terminal(); err != nil {
				_ = conn.Close()
				c.stopAfterFailure(ctx, vm.ID)
				return res, err
			}
		}
		if acfg.TTY == nil {
			acfg.TTY = &TTY{Rows: 24, Cols: 80}
		}
	}
	t1 := time.Now()
	att, err := streamAttach(ctx, conn, vm.Name, acfg)
	res.Timings["command"] = ms(time.Since(t1))
	t2 := time.Now()
	if ctx.Err() != nil {
		// Interrupted: stop the VM (the agent stops the command
		// gracefully); AutoRemove then removes it.
		if cfg.Interrupted != nil {
			cfg.Interrupted(res.VM)
		}
		c.stopAfterFailure(ctx, vm.ID)
		return res, ctx.Err()
	}
	if err != nil {
		return res, err
	}
	if att.Detached {
		res.Detached = true
		return res, nil
	}
	// The guest powers off once the exit status is collected; wait for it
	// (and for AutoRemove's removal) so nothing is left running.
	waited, err := c.WaitVM(ctx, vm.ID)
	if err != nil && !errors.Is(err, context.Canceled) {
		return res, fmt.Errorf("wait for vm %s to stop: %w", vm.Name, err)
	}
	res.Timings["teardown"] = ms(time.Since(t2))
	res.ExitCode = att.ExitCode
	if !att.Exited {
		if waited.ExitCode == nil {
			return res, fmt.Errorf("vm %s: the main process's exit status is unknown (the VM stopped first); see `banger logs --console %s`", vm.Name, vm.Name)
		}
		res.ExitCode = *waited.ExitCode
	}
	return res, nil
}

// EnsureImage pulls the image ref when the daemon does not have it, as
// `docker run` does, saying so to w first and reporting the pull to it.
func (c *Client) EnsureImage(ctx context.Context, ref string, w api.Watch) error {
	_, err := c.GetImage(ctx, ref)
	if !errors.Is(err, errdefs.ErrNotFound) {
		return err
	}
	if w.Message != nil {
		w.Message(fmt.Sprintf("Image %s not found locally; pulling it", ref))
	}
	_, err = c.PullImage(ctx, api.PullRequest{Reference: ref}, w)
	return err
}

// stopAfterFailure stops a VM Run started when nobody is attached to its
// main process any more (ctx may have ended); AutoRemove then removes it.
func (c *Client) stopAfterFailure(ctx context.Context, id string) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_, _ = c.StopVM(sctx, id, api.StopVMQuery{})
}

// removeAfterFailure removes a VM Run created when its spec asked for
// removal: a failed run leaves nothing behind.
func (c *Client) removeAfterFailure(spec api.VMSpec, id string) {
	if !spec.AutoRemove {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = c.RemoveVM(ctx, id, api.RemoveVMQuery{Force: true})
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
