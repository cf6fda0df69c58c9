package kernelcat

import (
	"slices"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/bootcfg"
	"github.com/bangerdev/banger/internal/kernelcat/kconfig"
)

// virtio-fs needs FUSE and VIRTIO_FS, built in or as modules; their
// modules join the initramfs as an on-demand group, which only the VMs
// that share directories load.
func TestVirtioFSChecks(t *testing.T) {
	tests := []struct {
		config string
		want   bool
		mods   []string
	}{
		{"CONFIG_FUSE_FS=m\nCONFIG_VIRTIO_FS=m\n", true, []string{"fuse", "virtiofs"}},
		{"CONFIG_FUSE_FS=y\nCONFIG_VIRTIO_FS=y\n", true, nil},
		{"CONFIG_FUSE_FS=m\n# CONFIG_VIRTIO_FS is not set\n", false, []string{"fuse"}},
		{"# CONFIG_NET_9P is not set\n", false, nil},
	}
	for _, tt := range tests {
		cfg, err := kconfig.Parse(strings.NewReader(tt.config))
		if err != nil {
			t.Fatal(err)
		}
		checks := Classify(cfg)
		if got := HasVirtioFS(checks); got != tt.want {
			t.Errorf("%q: HasVirtioFS = %v, want %v", tt.config, got, tt.want)
		}
		if got := OnDemandModules(checks)[bootcfg.ModulesVirtioFS]; !slices.Equal(got, tt.mods) {
			t.Errorf("%q: on-demand modules %v, want %v", tt.config, got, tt.mods)
		}
		if got := NeededModules(checks); len(got) != 0 {
			t.Errorf("%q: every VM loads %v", tt.config, got)
		}
	}
	// A record of an older banger never checked the options: unknown is
	// not virtio-fs.
	if HasVirtioFS([]Check{{Option: "CONFIG_EXT4_FS", State: "builtin"}}) {
		t.Error("a kernel that was never checked for virtio-fs has it")
	}
}
