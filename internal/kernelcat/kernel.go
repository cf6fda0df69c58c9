package kernelcat

import "time"

// Check is the classification of one kernel config option.
type Check struct {
	Option string `json:"option"`
	// State is "builtin", "module" or "missing".
	State string `json:"state"`
	// Essential options missing make the kernel unusable.
	Essential bool `json:"essential,omitempty"`
	// Need says what banger uses the option for.
	Need string `json:"need,omitempty"`
	// Module is the module providing the option when State is "module".
	Module string `json:"module,omitempty"`
}

// Kernel is one guest kernel in the catalog: the record Import builds and
// the store keeps. It records everything a VM start needs, so starting one
// is reading this record. Its JSON names are the database format; the API
// sends its own copy of this type.
type Kernel struct {
	Name string `json:"name"`
	// Version is the kernel release ("6.1.0-56-cloud-amd64", as uname -r).
	Version string `json:"version"`
	// Arch is the kernel's architecture ("x86_64").
	Arch string `json:"arch,omitempty"`
	// Dir is the entry's directory; every path below is inside it.
	Dir string `json:"dir,omitempty"`
	// Vmlinux is the uncompressed ELF kernel (what Firecracker boots).
	Vmlinux string `json:"vmlinux"`
	// VmlinuxSHA256 is the digest of Vmlinux.
	VmlinuxSHA256 string `json:"vmlinux_sha256,omitempty"`
	// PVH says Vmlinux has a PVH entry point, so QEMU can boot the ELF
	// directly; without it QEMU needs BzImage.
	PVH bool `json:"pvh,omitempty"`
	// BzImage is the original compressed kernel, when there was one (QEMU boots it).
	BzImage string `json:"bzimage,omitempty"`
	// PayloadCodec is the compression of BzImage's payload.
	PayloadCodec string `json:"payload_codec,omitempty"`
	// Config is the stored kernel config; ConfigSource says where it came
	// from ("boot/config-6.1.0-56-cloud-amd64", "ikconfig", a file path).
	Config       string `json:"config,omitempty"`
	ConfigSource string `json:"config_source,omitempty"`
	// Initrd is the initramfs banger built to load the modules the guest needs.
	Initrd string `json:"initrd,omitempty"`
	// InitrdCodec is the initramfs compression.
	InitrdCodec string `json:"initrd_codec,omitempty"`
	// InitrdModules lists the modules in Initrd in load order, as paths
	// inside the initramfs (what /.banger/initrd.json says).
	InitrdModules []string `json:"initrd_modules,omitempty"`
	// InitrdOnDemand are the module groups in Initrd a VM loads only when
	// it asks (virtio-fs, for VMs that share directories), by group.
	InitrdOnDemand map[string][]string `json:"initrd_on_demand,omitempty"`
	// AgentSHA256 is the digest of the banger-agent built into Initrd as
	// /init; a different agent means the initramfs must be rebuilt.
	AgentSHA256 string `json:"agent_sha256,omitempty"`
	// Modules counts the modules in Initrd, on-demand ones included.
	Modules int     `json:"modules"`
	Checks  []Check `json:"checks,omitempty"`
	Default bool    `json:"default"`
	Source  string  `json:"source,omitempty"`
	// SizeBytes is what the entry's directory holds.
	SizeBytes int64     `json:"size_bytes,omitempty"`
	Created   time.Time `json:"created"`
}

// Check returns the state of a config option ("CONFIG_VIRTIO_VSOCKETS"),
// or "" when it was not checked.
func (k *Kernel) Check(option string) string {
	for _, c := range k.Checks {
		if c.Option == option {
			return c.State
		}
	}
	return ""
}
