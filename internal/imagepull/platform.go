package imagepull

import (
	"cmp"
	"fmt"
	"runtime"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// HostPlatform is the platform a guest runs programs of: the host's, as
// a VM shares its CPU architecture.
const HostPlatform = "linux/" + runtime.GOARCH

// ParsePlatform parses a platform ("os/arch[/variant]") an image is
// chosen for; "" means the host's (HostPlatform). A malformed one is an
// errdefs.ErrInvalid error naming it.
func ParsePlatform(s string) (v1.Platform, error) {
	p, err := v1.ParsePlatform(cmp.Or(s, HostPlatform))
	if err != nil {
		return v1.Platform{}, fmt.Errorf("%w: platform %q: %w", errdefs.ErrInvalid, s, err)
	}
	return *p, nil
}

// PickPlatform is the first image manifest of idx for plat, skipping those
// usable refuses (nil: none is refused). When there is none it returns
// false and the platforms of the usable manifests it passed over.
func PickPlatform(idx *v1.IndexManifest, plat v1.Platform, usable func(v1.Descriptor) bool) (v1.Descriptor, []string, bool) {
	var have []string
	for _, m := range idx.Manifests {
		if m.Platform == nil || !m.MediaType.IsImage() || (usable != nil && !usable(m)) {
			continue
		}
		if m.Platform.Satisfies(plat) {
			return m, nil, true
		}
		have = append(have, m.Platform.String())
	}
	return v1.Descriptor{}, have, false
}
