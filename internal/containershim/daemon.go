package containershim

import (
	"context"
	"errors"
	"io"
	"strconv"

	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/errdefs"
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
	// CreateVM records a VM without starting it.
	CreateVM(ctx context.Context, req api.CreateVMRequest) (api.VM, error)
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
	// RemoveVM removes a VM, killing it first when it runs.
	RemoveVM(ctx context.Context, ref string) error
	// PauseVM freezes a running VM's vCPUs; UnpauseVM resumes them.
	PauseVM(ctx context.Context, ref string) error
	UnpauseVM(ctx context.Context, ref string) error
	// Stats samples a running VM.
	Stats(ctx context.Context, ref string) (api.VMStats, error)
}

// client is Daemon over the daemon's API socket.
type client struct{ c *api.Client }

// NewClient returns the Daemon at host ("unix:///path"; empty means
// $BANGER_HOST, else the system daemon).
func NewClient(host string) (Daemon, error) {
	c, err := api.NewClient(api.ResolveHost(host))
	if err != nil {
		return nil, err
	}
	return client{c}, nil
}

func (d client) Image(ctx context.Context, name string) (api.Image, error) {
	return api.Do(ctx, d.c, api.GetImage, api.None{}, name)
}

func (d client) ImportImage(ctx context.Context, name string, tarball io.Reader) (api.Image, error) {
	return api.Upload(ctx, d.c, api.ImportImage, api.ImageImportQuery{Name: name, Source: "containerd rootfs"}, tarball, api.Watch{})
}

func (d client) PullImage(ctx context.Context, ref string) (api.Image, error) {
	return api.Stream(ctx, d.c, api.PullImage, api.PullRequest{Reference: ref}, api.Watch{})
}

func (d client) RemoveImage(ctx context.Context, name string) error {
	_, err := api.Do(ctx, d.c, api.RemoveImage, api.None{}, name)
	return err
}

func (d client) CreateVM(ctx context.Context, req api.CreateVMRequest) (api.VM, error) {
	return api.Do(ctx, d.c, api.CreateVM, req)
}

func (d client) AttachVM(ctx context.Context, ref string, stdin bool) (io.ReadWriteCloser, error) {
	return api.Dial(ctx, d.c, api.AttachVM, api.AttachVMQuery{Next: true, Stdin: stdin}, ref)
}

func (d client) StartVM(ctx context.Context, ref string) (api.VM, error) {
	res, err := api.Stream(ctx, d.c, api.StartVM, api.None{}, api.Watch{}, ref)
	return res.VM, err
}

func (d client) KillVM(ctx context.Context, ref string, signal int) error {
	_, err := api.Do(ctx, d.c, api.KillVM, api.KillVMQuery{Signal: strconv.Itoa(signal)}, ref)
	return err
}

func (d client) WaitVM(ctx context.Context, ref string) (api.VM, error) {
	return api.Do(ctx, d.c, api.WaitVM, api.None{}, ref)
}

func (d client) VM(ctx context.Context, ref string) (api.VM, error) {
	return api.Do(ctx, d.c, api.GetVM, api.None{}, ref)
}

func (d client) RemoveVM(ctx context.Context, ref string) error {
	_, err := api.Do(ctx, d.c, api.RemoveVM, api.RemoveVMQuery{Force: true}, ref)
	return err
}

func (d client) PauseVM(ctx context.Context, ref string) error {
	_, err := api.Do(ctx, d.c, api.PauseVM, api.None{}, ref)
	return err
}

func (d client) UnpauseVM(ctx context.Context, ref string) error {
	_, err := api.Do(ctx, d.c, api.UnpauseVM, api.None{}, ref)
	return err
}

func (d client) Stats(ctx context.Context, ref string) (api.VMStats, error) {
	all, err := api.Do(ctx, d.c, api.SampleVMs, api.VMStatsRequest{VMs: []string{ref}})
	if err != nil {
		return api.VMStats{}, err
	}
	if len(all) != 1 {
		return api.VMStats{}, errors.New("stats: the daemon answered no sample")
	}
	return all[0], nil
}

// removeVM removes the VM ref; an absent one is already what was asked.
func removeVM(ctx context.Context, d Daemon, ref string) error {
	if err := d.RemoveVM(ctx, ref); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		return err
	}
	return nil
}
