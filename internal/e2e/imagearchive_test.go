package e2e

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	rt "github.com/bangerdev/banger/internal/imagepull/registrytest"
	"github.com/bangerdev/banger/pkg/api"
)

// TestImageSaveLoadPush: an image pulled, saved as docker save writes it,
// removed and loaded back has its digest and boots; pushed to another
// registry it keeps that digest; an imported image cannot be saved and
// says why.
func TestImageSaveLoadPush(t *testing.T) {
	f := env(t)
	img, err := mutate.AppendLayers(empty.Image, busyboxLayer(t), rt.MustLayer(rt.File("etc/motd", "loaded\n")))
	if err != nil {
		t.Fatal(err)
	}
	src, dst := rt.Start(t), rt.Start(t)
	ref, digest := src.Push(t, "e2e/box:1", img)
	f.must(t, "pull", ref)
	t.Cleanup(func() { f.cli(nil, "rmi", ref) })

	file := filepath.Join(t.TempDir(), "box.tar")
	f.must(t, "image", "save", ref, "-o", file, "--format", "docker")
	f.must(t, "rmi", ref)
	if out := f.must(t, "image", "load", "-i", file); !strings.Contains(out, digest) {
		t.Fatalf("load said %q, want digest %s", out, digest)
	}
	if out := f.must(t, "run", "--rm", ref, "cat", "/etc/motd"); out != "loaded\n" {
		t.Errorf("run of the loaded image: %q", out)
	}
	var res api.PushResult
	if err := json.Unmarshal([]byte(f.must(t, "image", "push", ref, dst.Ref("e2e/box:2"), "--format", "json")), &res); err != nil || res.Digest != digest {
		t.Fatalf("push: %+v, %v; want digest %s", res, err, digest)
	}
	_, errOut, code := f.cli(nil, "image", "save", "busybox", "-o", filepath.Join(t.TempDir(), "bb.tar"))
	if code == 0 || !strings.Contains(errOut, "imported from a root file system tarball") {
		t.Errorf("save of an imported image: exit %d: %s", code, errOut)
	}
}
