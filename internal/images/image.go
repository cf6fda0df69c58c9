package images

import (
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/bangerdev/banger/internal/imagepull"
)

// Image is one bootable root file system in the catalog: the record the
// store keeps. Its JSON names are the database format; the API sends its
// own copy of this type.
type Image struct {
	// ID names the image's directory under the state dir.
	ID string `json:"id"`
	// Name is the normalized reference or import name ("docker.io/library/debian:bookworm").
	Name string `json:"name"`
	// Source is what made the image: "pull", "import", or Store's
	// StoreOptions.Source ("load", "build", "commit").
	Source string `json:"source"`
	// Digest is the manifest digest of a pull, or the sha256 of an imported tarball.
	Digest   string `json:"digest"`
	Platform string `json:"platform,omitempty"`
	// PlatformAssumed says the image's config named no os/architecture
	// and Platform is the host's, assumed.
	PlatformAssumed bool `json:"platform_assumed,omitempty"`
	// Rootfs is the absolute path of the read-only ext4 file.
	Rootfs string `json:"rootfs"`
	// SizeBytes is the size of the ext4 file; ContentBytes what the files hold.
	SizeBytes    int64 `json:"size_bytes"`
	ContentBytes int64 `json:"content_bytes"`
	Inodes       int64 `json:"inodes"`
	// Skipped counts tar entries not representable in the image (device and fifo nodes).
	Skipped int              `json:"skipped,omitempty"`
	Config  imagepull.Config `json:"config"`
	// AgentVersion is the banger version whose guest agent the image
	// carries at /.banger/agent, "" when none was injected (a VM start
	// refuses such an image); AgentSHA256 is the agent binary's sha256.
	AgentVersion string `json:"agent_version"`
	AgentSHA256  string `json:"agent_sha256,omitempty"`
	// HeldBoot says a VM of the image may boot held, the boot a snapshot
	// is saved from and restored to (imagepull.Injected.HeldBoot); an
	// image imported before held boots existed always boots cold.
	HeldBoot bool `json:"held_boot,omitempty"`
	// Layers are the layer digests, oldest first (none for an import).
	Layers  []string  `json:"layers,omitempty"`
	Created time.Time `json:"created"`
}

// newID returns a random image id: 16 hex digits, unique enough that a
// four-character prefix usually names one image.
func newID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
