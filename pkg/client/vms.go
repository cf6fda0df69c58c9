package client

import (
	"context"

	"github.com/bangerdev/banger/pkg/api"
)

// The VM endpoints. ref is a VM's id, name or unique id prefix.

// CreateVM records a VM without starting it. The image must be in the
// daemon's catalog (PullImage); Run pulls it when it is not.
func (c *Client) CreateVM(ctx context.Context, req api.CreateVMRequest) (api.VM, error) {
	return api.Do(ctx, c.api, api.CreateVM, req)
}

// PutVM creates the VM name with spec, or answers the existing one when
// it was created with the same spec: a retry, or a second caller racing
// the first, gets the one VM. A VM of that name with another spec is an
// errdefs.ErrConflict naming the fields that differ.
func (c *Client) PutVM(ctx context.Context, name string, spec api.VMSpec) (api.VM, error) {
	return api.Do(ctx, c.api, api.PutVM, api.PutVMRequest{Spec: spec}, name)
}

// ListVMs lists the running VMs, or every VM with q.All; with q.Labels,
// only those carrying every label given (the daemon filters).
func (c *Client) ListVMs(ctx context.Context, q api.ListVMsQuery) ([]api.VM, error) {
	return api.Do(ctx, c.api, api.ListVMs, q)
}

// GetVM answers one VM.
func (c *Client) GetVM(ctx context.Context, ref string) (api.VM, error) {
	return api.Do(ctx, c.api, api.GetVM, api.None{}, ref)
}

// StartVM boots a VM and returns once its guest agent is ready, reporting
// the boot's progress and messages to w.
func (c *Client) StartVM(ctx context.Context, ref string, w api.Watch) (api.StartResult, error) {
	return api.Stream(ctx, c.api, api.StartVM, api.None{}, w, ref)
}

// StopVM stops a VM's main process (its stop signal, then SIGKILL after
// q.Timeout seconds); the guest then syncs and powers off.
func (c *Client) StopVM(ctx context.Context, ref string, q api.StopVMQuery) (api.VM, error) {
	return api.Do(ctx, c.api, api.StopVM, q, ref)
}

// KillVM sends a signal (q.Signal, SIGKILL by default) to a VM's main
// process; the VM ends when the process does.
func (c *Client) KillVM(ctx context.Context, ref string, q api.KillVMQuery) (api.VM, error) {
	return api.Do(ctx, c.api, api.KillVM, q, ref)
}

// RestartVM stops a VM as StopVM does and starts it again, reporting the
// start's progress to w.
func (c *Client) RestartVM(ctx context.Context, ref string, q api.StopVMQuery, w api.Watch) (api.StartResult, error) {
	return api.Stream(ctx, c.api, api.RestartVM, q, w, ref)
}

// WaitVM returns once a VM has stopped (and was removed, for an
// AutoRemove VM): its record with the main process's ExitCode,
// ExitSignal and OOMKilled.
func (c *Client) WaitVM(ctx context.Context, ref string) (api.VM, error) {
	return api.Do(ctx, c.api, api.WaitVM, api.None{}, ref)
}

// UpdateVM changes what req sets of a VM (its restart policy).
func (c *Client) UpdateVM(ctx context.Context, ref string, req api.UpdateVMRequest) (api.VM, error) {
	return api.Do(ctx, c.api, api.UpdateVM, req, ref)
}

// RemoveVM releases everything a VM holds and deletes it; a running VM
// only with q.Force.
func (c *Client) RemoveVM(ctx context.Context, ref string, q api.RemoveVMQuery) error {
	_, err := api.Do(ctx, c.api, api.RemoveVM, q, ref)
	return err
}

// PauseVM freezes a running VM's vCPUs.
func (c *Client) PauseVM(ctx context.Context, ref string) (api.VM, error) {
	return api.Do(ctx, c.api, api.PauseVM, api.None{}, ref)
}

// UnpauseVM resumes a paused VM.
func (c *Client) UnpauseVM(ctx context.Context, ref string) (api.VM, error) {
	return api.Do(ctx, c.api, api.UnpauseVM, api.None{}, ref)
}

// RenameVM gives a VM a new name.
func (c *Client) RenameVM(ctx context.Context, ref, name string) (api.VM, error) {
	return api.Do(ctx, c.api, api.RenameVM, api.RenameVMRequest{Name: name}, ref)
}

// AddContainer makes container id of a running pod VM (one created with
// --mount type=pod) from image: the image's file system mounted
// read-only under the VM's pod share and the container's root made in
// the guest over it. Session.Exec with ExecConfig.Container = id runs
// in it; the pod's containers share the VM's kernel and network.
func (c *Client) AddContainer(ctx context.Context, ref, id, image string) (api.VM, error) {
	return api.Do(ctx, c.api, api.PutVMContainer, api.PutVMContainerRequest{Image: image}, ref, id)
}

// RemoveContainer removes container id of a running pod VM: its root in
// the guest, then its image's mount. An absent container is not an
// error.
func (c *Client) RemoveContainer(ctx context.Context, ref, id string) (api.VM, error) {
	return api.Do(ctx, c.api, api.RemoveVMContainer, api.None{}, ref, id)
}

// Stats samples the running VMs refs names (every running VM when none):
// CPU, memory, drive and network bytes. It takes the sampling window
// (half a second).
func (c *Client) Stats(ctx context.Context, refs ...string) ([]api.VMStats, error) {
	return api.Do(ctx, c.api, api.SampleVMs, api.VMStatsRequest{VMs: refs})
}

// CheckpointVM saves a running VM's state and disk as a checkpoint, which
// Run (RunConfig.From) starts new VMs from.
func (c *Client) CheckpointVM(ctx context.Context, ref string, req api.CheckpointRequest) (api.Checkpoint, error) {
	return api.Do(ctx, c.api, api.CheckpointVM, req, ref)
}

// MatchLabels reports whether vm carries every label of want (an empty
// want matches every VM), for a VM already in hand (from GetVM, WaitVM).
// To list VMs by label, let the daemon filter:
//
//	vms, err := c.ListVMs(ctx, api.ListVMsQuery{All: true, Labels: []string{"team=web"}})
func MatchLabels(vm api.VM, want map[string]string) bool {
	for k, v := range want {
		got, ok := vm.Spec.Labels[k]
		if !ok || got != v {
			return false
		}
	}
	return true
}

// CommitVM records a new image of a VM's disk changes (banger commit),
// reporting the image conversion's progress to w.
func (c *Client) CommitVM(ctx context.Context, ref string, req api.CommitRequest, w api.Watch) (api.CommitResult, error) {
	return api.Stream(ctx, c.api, api.CommitVM, req, w, ref)
}
