package kernelcat

import (
	"embed"
	"slices"
)

// Entry is a kernel `banger kernel pull NAME` knows how to fetch.
type Entry struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// AptPackage is fetched with apt-get download (with the versioned
	// linux-image package it depends on).
	AptPackage string `json:"apt_package,omitempty"`
	// URL and SHA256 locate a kernel file; Config names the embedded
	// config (catalogdata/<Config>.config) for kernels published without one.
	URL    string `json:"url,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
	Config string `json:"-"`
}

//go:embed catalogdata/*.config
var catalogData embed.FS

// The Firecracker CI kernels live in the public bucket Firecracker's
// getting-started guide uses. Their digests are the ones public Nix
// expressions pin for these exact objects; banger's build machines cannot
// reach the bucket, so re-check them when adding an entry (a mismatch
// fails the pull and deletes the download, it never imports).
var catalog = []Entry{
	{
		Name:        "debian-cloud",
		Description: "Debian's cloud kernel via apt (linux-image-cloud-amd64); virtio drivers are modules, loaded by a banger-built initramfs",
		AptPackage:  "linux-image-cloud-amd64",
	},
	{
		Name:        "firecracker-6.1",
		Description: "Firecracker CI guest kernel 6.1.155 (Firecracker v1.15), x86_64, everything built in",
		URL:         "https://s3.amazonaws.com/spec.ccfc.min/firecracker-ci/v1.15/x86_64/vmlinux-6.1.155",
		SHA256:      "e20e46d0c36c55c0d1014eb20576171b3f3d922260d9f792017aeff53af3d4f2",
		Config:      "firecracker-ci-6.1",
	},
	{
		Name:        "firecracker-6.1.141",
		Description: "Firecracker CI guest kernel 6.1.141 (Firecracker v1.13), x86_64, everything built in",
		URL:         "https://s3.amazonaws.com/spec.ccfc.min/firecracker-ci/v1.13/x86_64/vmlinux-6.1.141",
		SHA256:      "b36a4a1b10f33b9cfdcde3d1a787d9c090556a3edb211cd06d1f3f9a6c7e8724",
		Config:      "firecracker-ci-6.1",
	},
}

// Catalog lists the built-in entries.
func Catalog() []Entry { return slices.Clone(catalog) }

// Lookup finds a built-in entry by name.
func Lookup(name string) (Entry, bool) {
	i := slices.IndexFunc(catalog, func(e Entry) bool { return e.Name == name })
	if i < 0 {
		return Entry{}, false
	}
	return catalog[i], true
}

// entryConfig returns an entry's embedded config text.
func entryConfig(e Entry) ([]byte, error) {
	return catalogData.ReadFile("catalogdata/" + e.Config + ".config")
}
