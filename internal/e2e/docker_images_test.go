package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	rt "github.com/bangerdev/banger/internal/imagepull/registrytest"
)

// TestDockerImages drives banger's image endpoints with the real docker
// CLI: pull from a registry with progress, images, inspect -f (the id is
// the config digest), tag, rmi, save | load keeping the id, rmi of an
// image a VM uses refused in Docker's words, build of a Dockerfile whose
// RUN output and result show, and push back to a registry.
func TestDockerImages(t *testing.T) {
	f := env(t)
	d := f.dockerCLI(t)
	img, err := mutate.AppendLayers(empty.Image, busyboxLayer(t), rt.MustLayer(rt.File("etc/motd", "pulled\n")))
	if err != nil {
		t.Fatal(err)
	}
	cfgDigest, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	id := cfgDigest.String()
	src, dst := rt.Start(t), rt.Start(t)
	ref, digest := src.Push(t, "e2e/dimg:1", img)
	t.Cleanup(func() {
		for _, n := range []string{ref, "e2e-dtag:v1", "e2e-built:1", dst.Ref("e2e/built:2")} {
			f.cli(nil, "rmi", n)
		}
	})

	start := time.Now()
	out := d.must(t, f, "pull", ref)
	t.Logf("docker pull: %s", time.Since(start).Round(time.Millisecond))
	if !strings.Contains(out, "Digest: "+digest) || !strings.Contains(out, "Downloaded newer image for "+ref) {
		t.Fatalf("docker pull printed %q; want the digest %s and the status", out, digest)
	}
	if out := d.must(t, f, "images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"); !strings.Contains(out, ref+" "+id[7:19]) {
		t.Errorf("docker images: %q; want %s with id %s", out, ref, id[7:19])
	}
	out = d.must(t, f, "image", "inspect", "-f", "{{.Id}} {{index .RepoDigests 0}} {{.Os}} {{len .RootFS.Layers}}", ref)
	if want := id + " " + strings.TrimSuffix(ref, ":1") + "@" + digest + " linux 2\n"; out != want {
		t.Errorf("inspect -f: %q, want %q", out, want)
	}

	d.must(t, f, "tag", ref, "e2e-dtag:v1")
	if out := d.must(t, f, "image", "inspect", "-f", "{{.Id}}", "e2e-dtag:v1"); out != id+"\n" {
		t.Errorf("the tag's id: %q, want %s", out, id)
	}
	if out := d.must(t, f, "rmi", "e2e-dtag:v1"); !strings.Contains(out, "Untagged: e2e-dtag:v1") {
		t.Errorf("rmi of a tag: %q", out)
	}

	archive := filepath.Join(t.TempDir(), "dimg.tar")
	d.must(t, f, "save", "-o", archive, ref)
	d.must(t, f, "rmi", ref)
	if _, errOut, code := d.run(t, nil, "image", "inspect", ref); code == 0 || !strings.Contains(errOut, "No such image") {
		t.Fatalf("inspect after rmi: exit %d %s", code, errOut)
	}
	if out := d.must(t, f, "load", "-i", archive); !strings.Contains(out, "Loaded image: "+ref) {
		t.Errorf("docker load: %q", out)
	}
	if out := d.must(t, f, "image", "inspect", "-f", "{{.Id}}", ref); out != id+"\n" {
		t.Errorf("the loaded image's id: %q, want %s (as saved)", out, id)
	}

	vm := strings.TrimSpace(f.must(t, "create", ref))
	_, errOut, code := d.run(t, nil, "rmi", "-f", ref)
	f.must(t, "rm", "-f", vm)
	if code == 0 || !strings.Contains(errOut, "conflict: unable to delete "+id[7:19]+" (cannot be forced) - image is being used by container") {
		t.Errorf("rmi -f of a VM's image: exit %d: %s", code, errOut)
	}

	dir := t.TempDir()
	df := "FROM " + ref + "\nARG WHO=nobody\nRUN echo built by $WHO > /built.txt && cat /built.txt\nCMD [\"cat\", \"/built.txt\", \"/etc/motd\"]\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	out = d.must(t, f, "build", "-t", "e2e-built:1", "-t", dst.Ref("e2e/built:2"), "--build-arg", "WHO=docker", dir)
	for _, want := range []string{"Step 1/4 : FROM " + ref, "Step 3/4 : RUN", "built by docker", "Successfully built ", "Successfully tagged e2e-built:1"} {
		if !strings.Contains(out, want) {
			t.Errorf("docker build printed %q; want %q in it", out, want)
		}
	}
	t.Logf("docker build (one RUN): %s", time.Since(start).Round(time.Millisecond))
	if out := d.must(t, f, "run", "--rm", "e2e-built:1"); out != "built by docker\npulled\n" {
		t.Errorf("docker run of the built image: %q", out)
	}

	out = d.must(t, f, "push", dst.Ref("e2e/built:2"))
	built := strings.TrimSpace(f.must(t, "image", "inspect", "e2e-built:1", "--format", "{{.Digest}}"))
	if !strings.Contains(out, "2: digest: "+built) {
		t.Errorf("docker push printed %q; want the digest %s", out, built)
	}
}
