package api

import (
	"encoding/json"
	"io"
	"net/http"
)

// The API: every endpoint the daemon serves, declared once. The daemon
// registers handlers for these values and the CLI calls them; neither
// writes a path. Path values ({ref}, {name}) are given in order to the
// client helpers.

// The daemon.
var (
	// GetVersion answers the daemon's version and the API versions it
	// serves; a client asks it once, before anything else (the handshake).
	GetVersion = def[None, VersionInfo](http.MethodGet, "/v1/version", KindJSON)
	// GetInfo says who the daemon is and where it keeps things.
	GetInfo = def[None, Info](http.MethodGet, "/v1/info", KindJSON)
	// GetConfig answers the configuration the daemon runs with, a
	// config.Config document (kept raw: the wire does not depend on the
	// daemon's config package).
	GetConfig = def[None, json.RawMessage](http.MethodGet, "/v1/config", KindJSON)
	// Doctor reports what the daemon detected on the host.
	Doctor = def[None, DoctorReport](http.MethodGet, "/v1/doctor", KindJSON)
	// GC removes host objects banger owns that no VM explains.
	GC = def[GCQuery, GCReport](http.MethodPost, "/v1/gc", KindJSON)
	// Inventory lists every host object banger owns.
	Inventory = def[None, []HostObject](http.MethodGet, "/v1/inventory", KindJSON)
	// GetEvents streams the daemon's event journal as NDJSON, one
	// EventsLine per line (ReadEvents reads it); the answer's headers
	// come once the stream is subscribed, so nothing after them is
	// missed.
	GetEvents = def[EventsQuery, io.ReadCloser](http.MethodGet, "/v1/events", KindText)
	// TeardownNetwork removes banger's bridge and firewall table; refused
	// while VMs run.
	TeardownNetwork = def[None, None](http.MethodPost, "/v1/network/teardown", KindJSON)
)

// VMs; {ref} is an id, a name, or a unique id prefix.
var (
	// CreateVM records a VM without starting it.
	CreateVM = def[CreateVMRequest, VM](http.MethodPost, "/v1/vms", KindJSON)
	// PutVM creates the VM {name} with the request's spec, or answers the
	// existing one when it was created with the same spec (idempotent: a
	// retry, or a second caller racing the first, gets the one VM). A VM
	// of that name created with a different spec is a conflict naming the
	// fields that differ. The VM is not started.
	PutVM = def[PutVMRequest, VM](http.MethodPut, "/v1/vms/{name}", KindJSON)
	// ListVMs lists running VMs, or all of them; labels narrow the list.
	ListVMs = def[ListVMsQuery, []VM](http.MethodGet, "/v1/vms", KindJSON)
	// GetVM answers one VM.
	GetVM = def[None, VM](http.MethodGet, "/v1/vms/{ref}", KindJSON)
	// StartVM boots a VM and answers once its guest agent is ready.
	StartVM = def[None, StartResult](http.MethodPost, "/v1/vms/{ref}/start", KindEvents)
	// StopVM stops the main process (its stop signal, then SIGKILL after
	// the timeout); the guest then syncs and powers off.
	StopVM = def[StopVMQuery, VM](http.MethodPost, "/v1/vms/{ref}/stop", KindJSON)
	// KillVM signals the main process (SIGKILL by default); the VM ends
	// when it does.
	KillVM = def[KillVMQuery, VM](http.MethodPost, "/v1/vms/{ref}/kill", KindJSON)
	// RestartVM stops a VM as StopVM does and starts it again.
	RestartVM = def[StopVMQuery, StartResult](http.MethodPost, "/v1/vms/{ref}/restart", KindEvents)
	// WaitVM answers once a VM has stopped (and been removed, with --rm).
	WaitVM = def[None, VM](http.MethodPost, "/v1/vms/{ref}/wait", KindJSON)
	// UpdateVM changes a VM's restart policy.
	UpdateVM = def[UpdateVMRequest, VM](http.MethodPost, "/v1/vms/{ref}/update", KindJSON)
	// RemoveVM releases everything a VM holds and deletes its record.
	RemoveVM = def[RemoveVMQuery, None](http.MethodDelete, "/v1/vms/{ref}", KindJSON)
	// PauseVM freezes a running VM's vCPUs (the backend's pause).
	PauseVM = def[None, VM](http.MethodPost, "/v1/vms/{ref}/pause", KindJSON)
	// UnpauseVM resumes a paused VM.
	UnpauseVM = def[None, VM](http.MethodPost, "/v1/vms/{ref}/unpause", KindJSON)
	// RenameVM gives a VM a new name.
	RenameVM = def[RenameVMRequest, VM](http.MethodPost, "/v1/vms/{ref}/rename", KindJSON)
	// PutVMContainer makes a container of a running pod VM (one with
	// --mount type=pod) from an image: the image mounted read-only under
	// the pod share, the container's root made in the guest. Exec runs in
	// it with the exec's container set.
	PutVMContainer = def[PutVMContainerRequest, VM](http.MethodPut, "/v1/vms/{ref}/containers/{id}", KindJSON)
	// RemoveVMContainer removes a pod VM's container (absent is fine).
	RemoveVMContainer = def[None, VM](http.MethodDelete, "/v1/vms/{ref}/containers/{id}", KindJSON)
	// SampleVMs samples running VMs (every one when the request names
	// none): VMM CPU and memory, guest memory, drive and network bytes.
	// It takes the sampling window (half a second) to answer.
	SampleVMs = def[VMStatsRequest, []VMStats](http.MethodPost, "/v1/stats", KindJSON)
	// VMLogs streams a VM's kept main process output as frames (see
	// ReadFrame: stdout, stderr, then an error frame if it failed), or
	// with console=1 its serial console as plain text.
	VMLogs = def[VMLogsQuery, io.ReadCloser](http.MethodGet, "/v1/vms/{ref}/logs", KindText)
	// AttachVM attaches to the VM's main process through the daemon: the
	// connection carries frames (ReadFrame), output and the exit status
	// from the daemon, stdin and terminal sizes to it.
	AttachVM = defUpgrade[AttachVMQuery]("/v1/vms/{ref}/attach", ProtocolAttach)
	// VMSSH carries SSH to the VM's agent through the daemon's proxy.
	VMSSH = defUpgrade[None]("/v1/vms/{ref}/ssh", ProtocolSSH)
)

// Images; {name...} is a name, a canonical reference, or an id prefix.
var (
	// PullImage pulls an image from a registry and converts it.
	PullImage = def[PullRequest, Image](http.MethodPost, "/v1/images/pull", KindEvents)
	// ImportImage converts an uploaded root file system tarball.
	ImportImage = def[ImageImportQuery, Image](http.MethodPost, "/v1/images/import", KindUpload)
	// BuildImage builds an image from a Dockerfile and its context (the
	// body, see BuildImageQuery), streaming each step's progress and a
	// RUN's output as messages.
	BuildImage = def[BuildImageQuery, BuildResult](http.MethodPost, "/v1/images/build", KindUpload)
	// ListImages lists the image catalog.
	ListImages = def[None, []Image](http.MethodGet, "/v1/images", KindJSON)
	// GetImage answers one image.
	GetImage = def[None, Image](http.MethodGet, "/v1/images/{name...}", KindJSON)
	// RemoveImage deletes an image no VM uses.
	RemoveImage = def[None, None](http.MethodDelete, "/v1/images/{name...}", KindJSON)
	// TagImage records an image under a second name.
	TagImage = def[TagImageRequest, Image](http.MethodPost, "/v1/images/tag", KindJSON)
	// SaveImages answers an archive of images, a tar stream: an OCI image
	// layout, or what docker save writes. A failure once the stream has
	// begun cuts the connection, so a client never takes a partial
	// archive for a whole one.
	SaveImages = def[SaveImagesQuery, io.ReadCloser](http.MethodPost, "/v1/images/save", KindText)
	// LoadImages records every image of an uploaded archive (an OCI
	// image layout or a docker save tar), or none of them.
	LoadImages = def[LoadImagesQuery, []Image](http.MethodPost, "/v1/images/load", KindUpload)
	// PushImage sends an image to a registry, reporting each layer.
	PushImage = def[PushImageRequest, PushResult](http.MethodPost, "/v1/images/push", KindEvents)
	// PruneImages removes the build cache and the blobs no image names
	// (every image no VM uses with All), answering what went.
	PruneImages = def[PruneImagesRequest, PruneImagesResult](http.MethodPost, "/v1/images/prune", KindJSON)
)

// Kernels; {name} is a catalog name.
var (
	// ImportKernel imports a kernel from a path on the daemon's host.
	ImportKernel = def[KernelImportRequest, Kernel](http.MethodPost, "/v1/kernels/import", KindEvents)
	// UploadKernel imports an uploaded kernel file.
	UploadKernel = def[KernelUploadQuery, Kernel](http.MethodPost, "/v1/kernels/upload", KindUpload)
	// PullKernel fetches a kernel from the built-in catalog, a URL or an
	// OCI image.
	PullKernel = def[KernelPullRequest, Kernel](http.MethodPost, "/v1/kernels/pull", KindEvents)
	// ListKernels lists the kernel catalog.
	ListKernels = def[None, []Kernel](http.MethodGet, "/v1/kernels", KindJSON)
	// GetKernel answers one kernel.
	GetKernel = def[None, Kernel](http.MethodGet, "/v1/kernels/{name}", KindJSON)
	// RemoveKernel deletes a kernel no VM uses.
	RemoveKernel = def[None, None](http.MethodDelete, "/v1/kernels/{name}", KindJSON)
)

// Volumes; {name} is a named volume's name.
var (
	// CreateVolume makes an empty named volume.
	CreateVolume = def[CreateVolumeRequest, Volume](http.MethodPost, "/v1/volumes", KindJSON)
	// ListVolumes lists the named volumes.
	ListVolumes = def[None, []Volume](http.MethodGet, "/v1/volumes", KindJSON)
	// GetVolume answers one volume, with its file and the VMs that mount it.
	GetVolume = def[None, Volume](http.MethodGet, "/v1/volumes/{name}", KindJSON)
	// RemoveVolume deletes a volume no VM mounts, and its data.
	RemoveVolume = def[None, None](http.MethodDelete, "/v1/volumes/{name}", KindJSON)
)

// User-defined networks; {name} is a network's name, id or unambiguous
// id prefix.
var (
	// CreateNetwork makes a network: its bridge, subnet, nft table and
	// DNS relay.
	CreateNetwork = def[CreateNetworkRequest, Network](http.MethodPost, "/v1/networks", KindJSON)
	// ListNetworks lists the default network ("bridge") and the
	// user-defined ones.
	ListNetworks = def[None, []Network](http.MethodGet, "/v1/networks", KindJSON)
	// GetNetwork answers one network, with the VMs on it.
	GetNetwork = def[None, Network](http.MethodGet, "/v1/networks/{name}", KindJSON)
	// RemoveNetwork removes a network no VM uses, leaving nothing on the
	// host.
	RemoveNetwork = def[None, Network](http.MethodDelete, "/v1/networks/{name}", KindJSON)
	// PruneNetworks removes every user-defined network no VM uses and
	// answers their names.
	PruneNetworks = def[None, []string](http.MethodPost, "/v1/networks/prune", KindJSON)
	// ConnectNetwork puts a stopped VM on the network (it leaves the one
	// it was on: a VM has one NIC).
	ConnectNetwork = def[ConnectNetworkRequest, VM](http.MethodPost, "/v1/networks/{name}/connect", KindJSON)
	// DisconnectNetwork takes a stopped VM off the network; it then has
	// none (run --network none).
	DisconnectNetwork = def[ConnectNetworkRequest, VM](http.MethodPost, "/v1/networks/{name}/disconnect", KindJSON)
)

// Checkpoints; {id} is a checkpoint's name, id or unambiguous id prefix.
var (
	// CheckpointVM pauses a running VM, saves its state and clones its
	// disk into a new checkpoint, resumes it, and answers the checkpoint.
	CheckpointVM = def[CheckpointRequest, Checkpoint](http.MethodPost, "/v1/vms/{ref}/checkpoint", KindJSON)
	// ListCheckpoints lists the checkpoints.
	ListCheckpoints = def[None, []Checkpoint](http.MethodGet, "/v1/checkpoints", KindJSON)
	// RemoveCheckpoint deletes one checkpoint and answers it; VMs
	// restored from it keep running on their own disks.
	RemoveCheckpoint = def[None, Checkpoint](http.MethodDelete, "/v1/checkpoints/{id}", KindJSON)
)

// Commits.
var (
	// CommitVM records a new image: the VM's image with one more layer
	// holding what changed on the VM's disk (a running VM is paused for
	// the disk's copy only). Progress events, then the result.
	CommitVM = def[CommitRequest, CommitResult](http.MethodPost, "/v1/vms/{ref}/commit", KindEvents)
)

// Boot snapshots; {id} is a snapshot's id or an unambiguous prefix.
var (
	// ListSnapshots lists the boot snapshots.
	ListSnapshots = def[None, []Snapshot](http.MethodGet, "/v1/snapshots", KindJSON)
	// RemoveSnapshot deletes one boot snapshot and answers it; VMs
	// restored from it keep running.
	RemoveSnapshot = def[None, Snapshot](http.MethodDelete, "/v1/snapshots/{id}", KindJSON)
	// PruneSnapshots deletes the snapshots no start can use any more (their
	// image, kernel or agent is gone or changed), or all of them, and
	// answers those it deleted.
	PruneSnapshots = def[PruneSnapshotsRequest, []Snapshot](http.MethodPost, "/v1/snapshots/prune", KindJSON)
)
