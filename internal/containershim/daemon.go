package containershim

import (
	"context"
	"errors"
	"io"
	"strconv"
	"syscall"

	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/client"
)

// Daemon is what the task service asks of banger's daemon. Errors carry
// errdefs' kinds (ErrNotFound for an absent VM or image).
type Daemon interface {
	// Image answers the image named name.
	Image(ctx context.Context, name string) (api.Image, error)
	// ImportImage makes an image named name of a root file system tarball.
	ImportImage(ctx context.Context, name string, tarball io.Reader) (api.Image, error)
	// PullImage pulls an image by reference.
	PullImage(ctx context.Context, ref string) (api.Image, error)
	// RemoveImage deletes an image no VM uses.
	RemoveImage(ctx context.Context, name string) error
	// PutVM records the VM name with spec without starting it, or
	// answers the one already recorded with that spec (a Create retried
	// after a shim crash); another spec is errdefs.ErrConflict.
	PutVM(ctx context.Context, name string, spec api.VMSpec) (api.VM, error)
	// AttachVM attaches to the VM's next run (before it starts), with
	// stdin forwarded when asked: frames both ways (api.ReadFrame).
	AttachVM(ctx context.Context, ref string, stdin bool) (io.ReadWriteCloser, error)
	// StartVM boots a VM and answers once its agent is ready.
	StartVM(ctx context.Context, ref string) (api.VM, error)
	// KillVM sends signal (a number) to the VM's main process.
	KillVM(ctx context.Context, ref string, signal int) error
	// WaitVM answers the VM once it has stopped.
	WaitVM(ctx context.Context, ref string) (api.VM, error)
	// VM answers a VM's record.
	VM(ctx context.Context, ref string) (api.VM, error)
	// RemoveVM removes a VM, killing it first when it runs; an absent VM
	// is already what was asked (no error).
	RemoveVM(ctx context.Context, ref string) error
	// PauseVM freezes a running VM's vCPUs; UnpauseVM resumes them.
	PauseVM(ctx context.Context, ref string) error
	UnpauseVM(ctx context.Context, ref string) error
	// Stats samples a running VM.
	Stats(ctx context.Context, ref string) (api.VMStats, error)
	// AddContainer gives a running pod VM (one with a `type=pod` mount)
	// container id's root in its guest, of image: the image mounted under
	// the pod share, an overlay over it.
	AddContainer(ctx context.Context, vm, id, image string) (api.VM, error)
	// RemoveContainer removes container id's root and its image's mount
	// from a running pod VM; an absent container is not an error.
	RemoveContainer(ctx context.Context, vm, id string) (api.VM, error)
	// Exec starts a process in a running VM (cfg's Stdin, Stdout, Stderr
	// and TTY are its streams and terminal; cfg.Container a pod
	// container's root it runs in).
	Exec(ctx context.Context, ref string, cfg client.ExecConfig) (Process, error)
}

// Process is an exec's process in a VM.
type Process interface {
	// Wait waits for the process and its output and answers its exit
	// status (128+N for signal N).
	Wait() (int, error)
	Signal(sig syscall.Signal) error
	// Resize changes its terminal's size.
	Resize(rows, cols int) error
}

// daemonClient is Daemon over banger's client.
type daemonClient struct{ c *client.Client }

// NewClient returns the Daemon at host ("unix:///path"; empty means
// $BANGER_HOST, else the system daemon).
func NewClient(host string) (Daemon, error) {
	c, err := client.New(api.ResolveHost(host))
	if err != nil {
		return nil, err
	}
	return daemonClient{c}, nil
}

func (d daemonClient) Image(ctx context.Context, name string) (api.Image, error) {
	return d.c.GetImage(ctx, name)
}

func (d daemonClient) ImportImage(ctx context.Context, name string, tarball io.Reader) (api.Image, error) {
	return d.c.ImportImage(ctx, api.ImageImportQuery{Name: name, Source: "containerd rootfs"}, tarball, api.Watch{})
}

func (d daemonClient) PullImage(ctx context.Context, ref string) (api.Image, error) {
	return d.c.PullImage(ctx, api.PullRequest{Reference: ref}, api.Watch{})
}

func (d daemonClient) RemoveImage(ctx context.Context, name string) error {
	return d.c.RemoveImage(ctx, name)
}

func (d daemonClient) PutVM(ctx context.Context, name string, spec api.VMSpec) (api.VM, error) {
	return d.c.PutVM(ctx, name, spec)
}

func (d daemonClient) AttachVM(ctx context.Context, ref string, stdin bool) (io.ReadWriteCloser, error) {
	return api.Dial(ctx, d.c.API(), api.AttachVM, api.AttachVMQuery{Next: true, Stdin: stdin}, ref)
}

func (d daemonClient) StartVM(ctx context.Context, ref string) (api.VM, error) {
	res, err := d.c.StartVM(ctx, ref, api.Watch{})
	return res.VM, err
}

func (d daemonClient) KillVM(ctx context.Context, ref string, signal int) error {
	_, err := d.c.KillVM(ctx, ref, api.KillVMQuery{Signal: strconv.Itoa(signal)})
	return err
}

func (d daemonClient) WaitVM(ctx context.Context, ref string) (api.VM, error) {
	return d.c.WaitVM(ctx, ref)
}

func (d daemonClient) VM(ctx context.Context, ref string) (api.VM, error) {
	return d.c.GetVM(ctx, ref)
}

func (d daemonClient) RemoveVM(ctx context.Context, ref string) error {
	return d.c.RemoveVM(ctx, ref, api.RemoveVMQuery{Force: true, MissingOK: true})
}

func (d daemonClient) PauseVM(ctx context.Context, ref string) error {
	_, err := d.c.PauseVM(ctx, ref)
	return err
}

func (d daemonClient) UnpauseVM(ctx context.Context, ref string) error {
	_, err := d.c.UnpauseVM(ctx, ref)
	return err
}

func (d daemonClient) Stats(ctx context.Context, ref string) (api.VMStats, error) {
	all, err := d.c.Stats(ctx, ref)
	if err != nil {
		return api.VMStats{}, err
	}
	if len(all) != 1 {
		return api.VMStats{}, errors.New("stats: the daemon answered no sample")
	}
	return all[0], nil
}

func (d daemonClient) AddContainer(ctx context.Context, vm, id, image string) (api.VM, error) {
	return d.c.AddContainer(ctx, vm, id, image)
}

func (d daemonClient) RemoveContainer(ctx context.Context, vm, id string) (api.VM, error) {
	return d.c.RemoveContainer(ctx, vm, id)
}

// Exec opens a session of the exec's own (closed once it is waited for)
// and starts cfg on it.
func (d daemonClient) Exec(ctx context.Context, ref string, cfg client.ExecConfig) (Process, error) {
	sess, err := d.c.OpenSession(ctx, ref, client.SessionOptions{})
	if err != nil {
		return nil, err
	}
	p, err := sess.Start(ctx, cfg)
	if err != nil {
		_ = sess.Close()
		return nil, err
	}
	return sessionProcess{p, sess}, nil
}

// sessionProcess is a process on a session of its own.
type sessionProcess struct {
	*client.Process
	sess *client.Session
}

func (p sessionProcess) Wait() (int, error) {
	defer func() { _ = p.sess.Close() }()
	return p.Process.Wait()
}
