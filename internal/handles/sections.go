package handles

import (
	"github.com/bangerdev/banger/internal/hostnet"
	"github.com/bangerdev/banger/internal/proc"
	"github.com/bangerdev/banger/internal/rootfs"
	"github.com/bangerdev/banger/internal/vmm"
)

// The record's sections, one per stage that holds something.

// Disk is the disk stage's section.
type Disk struct {
	State State       `json:"state"`
	Disk  rootfs.Disk `json:"disk"`
	// DM is set while the dm-snapshot devices of Disk.DM are (being) set
	// up; a stop tears them down and clears it.
	DM State `json:"dm,omitempty"`
}

// Network is the network stage's section.
type Network struct {
	// Lease is the VM's address, held from the first start until rm
	// (hostnet's lease records hold it too).
	Lease State  `json:"lease"`
	IP    string `json:"ip,omitempty"`
	MAC   string `json:"mac,omitempty"`
	// Attach is set while the tap and the nft rules of Resources are
	// (being) created; a stop removes them and clears it.
	Attach    State             `json:"attach,omitempty"`
	Resources hostnet.Resources `json:"resources"`
}

// Netns is the netns stage's section: the VM's tap in a network
// namespace something else made (a CNI pod's), with the tc filters that
// join it to the namespace's interface. Set, with State creating, before
// any of them exists; a stop removes them and clears it.
type Netns struct {
	State   State                `json:"state"`
	Handles hostnet.NetnsHandles `json:"handles"`
	// IP and MAC are what the guest took from the interface.
	IP  string `json:"ip,omitempty"`
	MAC string `json:"mac,omitempty"`
}

// RunDir is the runtime directory stage's section.
type RunDir struct {
	State State  `json:"state"`
	Path  string `json:"path"`
}

// Volumes is the volumes stage's section: one entry per mount of the
// VM's spec, in its order.
type Volumes struct {
	Mounts []VolumeMount `json:"mounts"`
}

// VolumeMount is the host side of one mount.
type VolumeMount struct {
	// Type and Target are the mount's, to match entries to the spec.
	Type   string `json:"type"`
	Target string `json:"target"`
	// Share is set while a shared directory's virtiofsd is (being)
	// started, with its socket, log and, once it runs, its identity; a
	// stop ends it and clears them.
	Share   State         `json:"share,omitempty"`
	Socket  string        `json:"socket,omitempty"`
	Log     string        `json:"log,omitempty"`
	Process proc.Identity `json:"process,omitzero"`
	// Claim is set while the named volume Volume is (being) held by the
	// VM; a stop releases it.
	Claim  State  `json:"claim,omitempty"`
	Volume string `json:"volume,omitempty"`
	// Image is the ext4 copy of a directory, kept until rm; ImageState
	// is Created once it is whole.
	Image      string `json:"image,omitempty"`
	ImageState State  `json:"image_state,omitempty"`
	// Pod is set while a pod share's directory PodDir is (being) made a
	// shared mount; a stop unmounts it, with every container image
	// mounted under it, and removes it.
	Pod    State  `json:"pod,omitempty"`
	PodDir string `json:"pod_dir,omitempty"`
	// Containers are the images mounted under the pod share, one per
	// container of the pod, each recorded before it is mounted; the
	// share's release unmounts them with it.
	Containers []PodContainer `json:"containers,omitempty"`
}

// PodContainer is one container's image mounted under a pod share.
type PodContainer struct {
	ID    string `json:"id"`
	Image string `json:"image"`
	// Target is where the image is mounted (a directory of PodDir).
	Target string `json:"target"`
	State  State  `json:"state"`
}

// running reports whether the section holds anything a stop releases.
func (v *Volumes) running() bool {
	if v == nil {
		return false
	}
	for _, m := range v.Mounts {
		if m.Share != "" || m.Claim != "" || m.Pod != "" {
			return true
		}
	}
	return false
}

// VMM is the VMM stage's section. Handles is the backend's own value: it
// names the process, sockets and jail, and only the backend interprets it
// (vmm.Backend.Attach and Release).
type VMM struct {
	State   State       `json:"state"`
	Handles vmm.Handles `json:"handles"`
}

// Snapshot is the section of a save in progress, a boot snapshot's (the
// save stage) or a checkpoint's: the temporary directory in its store
// the save writes into, named here before it is created.
// Whatever stops the save (a failure, a crash) leaves it to be discarded
// from this path alone; a committed save clears it.
type Snapshot struct {
	State State  `json:"state"`
	Dir   string `json:"dir"`
}
