package client

import (
	"context"
	"encoding/json"
	"io"

	"github.com/bangerdev/banger/pkg/api"
)

// The daemon's catalogs: images, kernels, volumes, checkpoints and boot
// snapshots, and its reports.

// PullImage pulls an image from a registry and converts it, reporting
// each layer's progress to w.
func (c *Client) PullImage(ctx context.Context, req api.PullRequest, w api.Watch) (api.Image, error) {
	return api.Stream(ctx, c.api, api.PullImage, req, w)
}

// BuildImage builds an image from body, a build upload (the Dockerfile
// and the context, as internal/buildctx.Pack writes it); the steps'
// progress lines and RUN output go to w.Message.
func (c *Client) BuildImage(ctx context.Context, q api.BuildImageQuery, body io.Reader, w api.Watch) (api.BuildResult, error) {
	return api.Upload(ctx, c.api, api.BuildImage, q, body, w)
}

// ImportImage converts a root file system tarball read from body.
func (c *Client) ImportImage(ctx context.Context, q api.ImageImportQuery, body io.Reader, w api.Watch) (api.Image, error) {
	return api.Upload(ctx, c.api, api.ImportImage, q, body, w)
}

// ListImages lists the image catalog.
func (c *Client) ListImages(ctx context.Context) ([]api.Image, error) {
	return api.Do(ctx, c.api, api.ListImages, api.None{})
}

// GetImage answers one image by name, reference or id prefix; an image
// the daemon does not have is errdefs.ErrNotFound.
func (c *Client) GetImage(ctx context.Context, name string) (api.Image, error) {
	return api.Do(ctx, c.api, api.GetImage, api.None{}, name)
}

// RemoveImage deletes an image no VM uses.
func (c *Client) RemoveImage(ctx context.Context, name string) error {
	_, err := api.Do(ctx, c.api, api.RemoveImage, api.None{}, name)
	return err
}

// TagImage records image src under a second name, NAME[:TAG], sharing its
// files.
func (c *Client) TagImage(ctx context.Context, src, name string) (api.Image, error) {
	return api.Do(ctx, c.api, api.TagImage, api.TagImageRequest{Source: src, Name: name})
}

// SaveImages returns an archive of the named images as a tar stream (q.Format
// "oci" or "docker"); the caller reads it to the end and closes it. A
// stream that ends early is an error of the read, never a short archive.
func (c *Client) SaveImages(ctx context.Context, q api.SaveImagesQuery) (io.ReadCloser, error) {
	return api.Open(ctx, c.api, api.SaveImages, q)
}

// LoadImages records every image of the archive read from body (an OCI
// image layout or a docker save tar), or none of them.
func (c *Client) LoadImages(ctx context.Context, q api.LoadImagesQuery, body io.Reader, w api.Watch) ([]api.Image, error) {
	return api.Upload(ctx, c.api, api.LoadImages, q, body, w)
}

// PushImage sends an image to a registry (credentials from the docker
// config file), reporting each layer's upload to w.
func (c *Client) PushImage(ctx context.Context, req api.PushImageRequest, w api.Watch) (api.PushResult, error) {
	return api.Stream(ctx, c.api, api.PushImage, req, w)
}

// ImportKernel imports a kernel from a path on the daemon's host.
func (c *Client) ImportKernel(ctx context.Context, req api.KernelImportRequest, w api.Watch) (api.Kernel, error) {
	return api.Stream(ctx, c.api, api.ImportKernel, req, w)
}

// UploadKernel imports a kernel file read from body.
func (c *Client) UploadKernel(ctx context.Context, q api.KernelUploadQuery, body io.Reader, w api.Watch) (api.Kernel, error) {
	return api.Upload(ctx, c.api, api.UploadKernel, q, body, w)
}

// PullKernel fetches a kernel from the built-in catalog, a URL or an OCI
// image.
func (c *Client) PullKernel(ctx context.Context, req api.KernelPullRequest, w api.Watch) (api.Kernel, error) {
	return api.Stream(ctx, c.api, api.PullKernel, req, w)
}

// ListKernels lists the kernel catalog.
func (c *Client) ListKernels(ctx context.Context) ([]api.Kernel, error) {
	return api.Do(ctx, c.api, api.ListKernels, api.None{})
}

// GetKernel answers one kernel.
func (c *Client) GetKernel(ctx context.Context, name string) (api.Kernel, error) {
	return api.Do(ctx, c.api, api.GetKernel, api.None{}, name)
}

// RemoveKernel deletes a kernel no VM uses.
func (c *Client) RemoveKernel(ctx context.Context, name string) error {
	_, err := api.Do(ctx, c.api, api.RemoveKernel, api.None{}, name)
	return err
}

// CreateVolume makes an empty named volume.
func (c *Client) CreateVolume(ctx context.Context, req api.CreateVolumeRequest) (api.Volume, error) {
	return api.Do(ctx, c.api, api.CreateVolume, req)
}

// ListVolumes lists the named volumes.
func (c *Client) ListVolumes(ctx context.Context) ([]api.Volume, error) {
	return api.Do(ctx, c.api, api.ListVolumes, api.None{})
}

// GetVolume answers one volume, with the VMs that mount it.
func (c *Client) GetVolume(ctx context.Context, name string) (api.Volume, error) {
	return api.Do(ctx, c.api, api.GetVolume, api.None{}, name)
}

// RemoveVolume deletes a volume no VM mounts, and its data.
func (c *Client) RemoveVolume(ctx context.Context, name string) error {
	_, err := api.Do(ctx, c.api, api.RemoveVolume, api.None{}, name)
	return err
}

// CreateNetwork makes a user-defined network.
func (c *Client) CreateNetwork(ctx context.Context, req api.CreateNetworkRequest) (api.Network, error) {
	return api.Do(ctx, c.api, api.CreateNetwork, req)
}

// ListNetworks lists the default network and the user-defined ones.
func (c *Client) ListNetworks(ctx context.Context) ([]api.Network, error) {
	return api.Do(ctx, c.api, api.ListNetworks, api.None{})
}

// GetNetwork answers one network, with the VMs on it.
func (c *Client) GetNetwork(ctx context.Context, name string) (api.Network, error) {
	return api.Do(ctx, c.api, api.GetNetwork, api.None{}, name)
}

// RemoveNetwork removes a network no VM uses.
func (c *Client) RemoveNetwork(ctx context.Context, name string) (api.Network, error) {
	return api.Do(ctx, c.api, api.RemoveNetwork, api.None{}, name)
}

// PruneNetworks removes every user-defined network no VM uses.
func (c *Client) PruneNetworks(ctx context.Context) ([]string, error) {
	return api.Do(ctx, c.api, api.PruneNetworks, api.None{})
}

// ConnectNetwork puts a stopped VM on the network, with aliases.
func (c *Client) ConnectNetwork(ctx context.Context, network, vm string, aliases ...string) (api.VM, error) {
	return api.Do(ctx, c.api, api.ConnectNetwork, api.ConnectNetworkRequest{VM: vm, Aliases: aliases}, network)
}

// DisconnectNetwork takes a stopped VM off the network.
func (c *Client) DisconnectNetwork(ctx context.Context, network, vm string) (api.VM, error) {
	return api.Do(ctx, c.api, api.DisconnectNetwork, api.ConnectNetworkRequest{VM: vm}, network)
}

// ListCheckpoints lists the checkpoints.
func (c *Client) ListCheckpoints(ctx context.Context) ([]api.Checkpoint, error) {
	return api.Do(ctx, c.api, api.ListCheckpoints, api.None{})
}

// RemoveCheckpoint deletes a checkpoint and answers it.
func (c *Client) RemoveCheckpoint(ctx context.Context, id string) (api.Checkpoint, error) {
	return api.Do(ctx, c.api, api.RemoveCheckpoint, api.None{}, id)
}

// ListSnapshots lists the boot snapshots.
func (c *Client) ListSnapshots(ctx context.Context) ([]api.Snapshot, error) {
	return api.Do(ctx, c.api, api.ListSnapshots, api.None{})
}

// RemoveSnapshot deletes a boot snapshot and answers it.
func (c *Client) RemoveSnapshot(ctx context.Context, id string) (api.Snapshot, error) {
	return api.Do(ctx, c.api, api.RemoveSnapshot, api.None{}, id)
}

// PruneImages removes the build cache and the blobs no image names
// (every image no VM uses with req.All) and answers what went.
func (c *Client) PruneImages(ctx context.Context, req api.PruneImagesRequest) (api.PruneImagesResult, error) {
	return api.Do(ctx, c.api, api.PruneImages, req)
}

// PruneSnapshots deletes the boot snapshots no start can use (all of them
// with req.All) and answers those it deleted.
func (c *Client) PruneSnapshots(ctx context.Context, req api.PruneSnapshotsRequest) ([]api.Snapshot, error) {
	return api.Do(ctx, c.api, api.PruneSnapshots, req)
}

// Info says who the daemon is and where it keeps things.
func (c *Client) Info(ctx context.Context) (api.Info, error) {
	return api.Do(ctx, c.api, api.GetInfo, api.None{})
}

// Config answers the configuration the daemon runs with, as JSON.
func (c *Client) Config(ctx context.Context) (json.RawMessage, error) {
	return api.Do(ctx, c.api, api.GetConfig, api.None{})
}

// Doctor reports what the daemon detected on the host.
func (c *Client) Doctor(ctx context.Context) (api.DoctorReport, error) {
	return api.Do(ctx, c.api, api.Doctor, api.None{})
}

// GC removes the host objects banger owns that no VM explains (only
// lists them with q.DryRun).
func (c *Client) GC(ctx context.Context, q api.GCQuery) (api.GCReport, error) {
	return api.Do(ctx, c.api, api.GC, q)
}

// Inventory lists every host object banger owns.
func (c *Client) Inventory(ctx context.Context) ([]api.HostObject, error) {
	return api.Do(ctx, c.api, api.Inventory, api.None{})
}

// TeardownNetwork removes banger's bridge and firewall table; refused
// while VMs run.
func (c *Client) TeardownNetwork(ctx context.Context) error {
	_, err := api.Do(ctx, c.api, api.TeardownNetwork, api.None{})
	return err
}
