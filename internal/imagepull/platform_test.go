package imagepull_test

import (
	"errors"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/bangerdev/banger/internal/imagepull"
	rt "github.com/bangerdev/banger/internal/imagepull/registrytest"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// craneAppend builds an image the way `crane append` does: layers
// appended to the empty image, whose config names no os or architecture.
func craneAppend(t *testing.T) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, rt.MustLayer(rt.File("etc/motd", "appended\n")))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil || cfg.OS != "" || cfg.Architecture != "" {
		t.Fatalf("the crane-append stand-in names a platform: %+v %v", cfg, err)
	}
	return img
}

func TestResolveAssumesTheAskedPlatformForAConfigWithoutOne(t *testing.T) {
	reg := rt.Start(t)
	ref, digest := reg.Push(t, "appended:1", craneAppend(t))
	half, err := rt.NewImage([]v1.Layer{rt.MustLayer(rt.File("x", ""))}, rt.WithPlatform("linux", ""))
	if err != nil {
		t.Fatal(err)
	}
	halfRef, _ := reg.Push(t, "half:1", half)
	tests := []struct {
		ref, platform, want string
	}{
		{ref, "", "linux/amd64"},
		{ref, "linux/arm64", "linux/arm64"},
		{halfRef, "", "linux/amd64"},
	}
	for _, tt := range tests {
		r, err := imagepull.Resolve(t.Context(), tt.ref, imagepull.RegistryOptions{Platform: tt.platform})
		if err != nil {
			t.Fatalf("Resolve(%s, %q): %v", tt.ref, tt.platform, err)
		}
		if r.Platform != tt.want || !r.PlatformAssumed {
			t.Errorf("Resolve(%s, %q): platform %q assumed %v, want %q assumed", tt.ref, tt.platform, r.Platform, r.PlatformAssumed, tt.want)
		}
	}
	r, _ := imagepull.Resolve(t.Context(), ref, imagepull.RegistryOptions{})
	if r.Digest != digest || len(r.Layers) != 1 {
		t.Errorf("resolved %s with %d layers, want %s with 1", r.Digest, len(r.Layers), digest)
	}
}

func TestResolveSelectsThePlatformOfAnIndex(t *testing.T) {
	reg := rt.Start(t)
	amd, err := rt.NewImage([]v1.Layer{rt.MustLayer(rt.File("arch", "amd64"))})
	if err != nil {
		t.Fatal(err)
	}
	arm, err := rt.NewImage([]v1.Layer{rt.MustLayer(rt.File("arch", "arm64"))}, rt.WithPlatform("linux", "arm64"))
	if err != nil {
		t.Fatal(err)
	}
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
	)
	ref := reg.PushIndex(t, "multi:1", idx)
	for platform, img := range map[string]v1.Image{"": amd, "linux/amd64": amd, "linux/arm64": arm} {
		want, _ := img.Digest()
		r, err := imagepull.Resolve(t.Context(), ref, imagepull.RegistryOptions{Platform: platform})
		if err != nil {
			t.Fatalf("Resolve(--platform %q): %v", platform, err)
		}
		if r.Digest != want.String() || r.PlatformAssumed {
			t.Errorf("--platform %q chose %s (assumed %v), want %s", platform, r.Digest, r.PlatformAssumed, want)
		}
	}
	if _, err := imagepull.Resolve(t.Context(), ref, imagepull.RegistryOptions{Platform: "linux/s390x"}); !errors.Is(err, errdefs.ErrUnsupported) || !strings.Contains(err.Error(), "no linux/s390x variant, only linux/amd64, linux/arm64") {
		t.Errorf("an index without the platform asked for: %v", err)
	}
	// A single manifest naming another platform is still refused.
	armRef, _ := reg.Push(t, "arm:1", arm)
	if _, err := imagepull.Resolve(t.Context(), armRef, imagepull.RegistryOptions{}); !errors.Is(err, errdefs.ErrUnsupported) {
		t.Errorf("an arm64 image for amd64: %v", err)
	}
}
