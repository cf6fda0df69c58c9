package imagepull

import (
	"cmp"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// ParsePlatform parses a platform ("os/arch[/variant]") an image is
// chosen for; "" means linux/amd64. A malformed one is an
// errdefs.ErrInvalid error naming it.
func ParsePlatform(s string) (v1.Platform, error) {
	p, err := v1.ParsePlatform(cmp.Or(s, "linux/amd64"))
	if err != nil {
		return v1.Platform{}, fmt.Errorf("%w: platform %q: %w", errdefs.ErrInvalid, s, err)
	}
	return *p, nil
}
