package imagepull

import (
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// dockerHub is how image names spell Docker Hub ("docker.io/library/debian:bookworm").
const dockerHub = "docker.io"

// NormalizeName returns the canonical name of an image reference, the key
// banger stores images under: "debian:bookworm" and
// "docker.io/library/debian:bookworm" are both
// "docker.io/library/debian:bookworm"; a missing tag is "latest".
func NormalizeName(s string) (string, error) {
	ref, err := name.ParseReference(s)
	if err != nil {
		return "", fmt.Errorf("%w: image name %q: %w", errdefs.ErrInvalid, s, err)
	}
	return canonical(ref), nil
}

// NormalizeTag is NormalizeName for names that must be a tag, not a
// digest (the name of an imported tarball).
func NormalizeTag(s string) (string, error) {
	ref, err := name.NewTag(s)
	if err != nil {
		return "", fmt.Errorf("%w: image name %q: want NAME[:TAG]: %w", errdefs.ErrInvalid, s, err)
	}
	return canonical(ref), nil
}

func canonical(ref name.Reference) string {
	reg := ref.Context().RegistryStr()
	if reg == name.DefaultRegistry {
		reg = dockerHub
	}
	base := reg + "/" + ref.Context().RepositoryStr()
	if d, ok := ref.(name.Digest); ok {
		return base + "@" + d.DigestStr()
	}
	return base + ":" + ref.Identifier()
}

// FamiliarName shortens a canonical name for display, as docker does:
// "docker.io/library/debian:bookworm" is "debian:bookworm".
func FamiliarName(canonicalName string) string {
	if s, ok := strings.CutPrefix(canonicalName, dockerHub+"/library/"); ok {
		return s
	}
	if s, ok := strings.CutPrefix(canonicalName, dockerHub+"/"); ok {
		return s
	}
	return canonicalName
}

// Repository is a name (familiar or canonical) without its :tag or
// @digest: "localhost:5000/app:1" is "localhost:5000/app" (a port is not
// a tag).
func Repository(name string) string {
	if i := strings.IndexByte(name, '@'); i >= 0 {
		return name[:i]
	}
	if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
		return name[:i]
	}
	return name
}
