package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/bangerdev/banger/internal/imagepull"
	rt "github.com/bangerdev/banger/internal/imagepull/registrytest"
	"github.com/bangerdev/banger/pkg/api"
)

// buildBase pushes the busybox root file system as an OCI image (with a
// platform) to a registry the test started, and answers its reference: a
// Dockerfile's FROM needs an image with layers, not an import.
func buildBase(t *testing.T) string {
	t.Helper()
	ref, _ := buildRegistry(t)
	return ref
}

// buildRegistry is buildBase that also answers the registry.
func buildRegistry(t *testing.T) (string, *rt.Registry) {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, busyboxLayer(t))
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	reg := rt.Start(t)
	ref, _ := reg.Push(t, "build/busybox:1", img)
	return ref, reg
}

// writeTree writes files (path -> content; "->target" a symlink) under dir.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		if target, ok := strings.CutPrefix(content, "->"); ok {
			err = os.Symlink(target, p)
		} else {
			err = os.WriteFile(p, []byte(content), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

const buildDockerfile = `FROM %s AS build
RUN mkdir -p /out && echo artifact > /out/artifact.txt

FROM %[1]s
ARG GREETING=hello
ENV APP_HOME=/app GREETING_ENV=$GREETING
WORKDIR /app
COPY --chown=1000:1000 --chmod=0750 hello.sh ./
COPY ctx/ /ctx/
COPY --from=build /out/artifact.txt ./artifact.txt
ADD files.tar.gz /opt/
RUN echo "built $GREETING" > built.txt && echo temp > old.txt
RUN rm old.txt && chmod 0604 built.txt
LABEL org.example.test=build
EXPOSE 8080/tcp
USER 1000:1000
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat built.txt artifact.txt; id -u; echo $APP_HOME $GREETING_ENV; pwd; stat -c '%%a %%u:%%g' hello.sh built.txt; test -e old.txt || echo old-gone; ls /ctx; cat /opt/inside.txt; ./hello.sh"]
`

// TestImageBuild builds a two-stage Dockerfile exercising every supported
// instruction on busybox, runs the result, rebuilds it from the cache,
// and reads it back as an OCI image.
func TestImageBuild(t *testing.T) {
	f := env(t)
	base, reg := buildRegistry(t)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"Dockerfile":     fmt.Sprintf(buildDockerfile, base),
		"hello.sh":       "#!/bin/sh\necho hello from script\n",
		"ctx/kept.txt":   "kept",
		"ctx/secret.txt": "secret",
		".dockerignore":  "ctx/secret.txt\n",
	})
	archive, err := rt.Compress(rt.MustTar(rt.File("inside.txt", "unpacked\n")), rt.Gzip)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "files.tar.gz"), archive, 0o644); err != nil {
		t.Fatal(err)
	}
	const tag = "e2e-built:1"
	t.Cleanup(func() { f.cli(nil, "image", "rm", tag) })
	out, errOut, code := f.cli(nil, "image", "build", "-t", tag, "--build-arg", "GREETING=bonjour", dir, "--format", "json")
	if code != 0 {
		t.Fatalf("image build: exit %d\n%s%s", code, out, errOut)
	}
	var res api.BuildResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("--format json: %v\n%s", err, out)
	}
	if len(res.Steps) != 15 || !strings.Contains(errOut, "[stage 2/2] STEP 15/15: CMD") {
		t.Errorf("steps = %d\n%s", len(res.Steps), errOut)
	}
	run := f.must(t, "run", "--rm", tag)
	want := "built bonjour\nartifact\n1000\n/app bonjour\n/app\n750 1000:1000\n604 0:0\nold-gone\nkept.txt\nunpacked\nhello from script\n"
	if run != want {
		t.Errorf("run of the built image:\n%s\nwant:\n%s", run, want)
	}
	if cfg := f.must(t, "image", "inspect", tag, "--format", "{{json .Config}}"); !strings.Contains(cfg, `"org.example.test":"build"`) || !strings.Contains(cfg, "8080/tcp") {
		t.Errorf("config: %s", cfg)
	}
	validateBuilt(t, f, tag, res.Image.Digest)

	// Round trip: pushed, pulled fresh under another name, the same run.
	pushed := reg.Ref("build/pushed:1")
	t.Cleanup(func() { f.cli(nil, "image", "rm", pushed) })
	f.must(t, "image", "push", tag, pushed)
	if _, errOut, code := f.cli(nil, "image", "pull", pushed); code != 0 {
		t.Fatalf("pull %s: exit %d\n%s", pushed, code, errOut)
	}
	if d := strings.TrimSpace(f.must(t, "image", "inspect", pushed, "--format", "{{.Digest}}")); d != res.Image.Digest {
		t.Errorf("pulled digest %s, built %s", d, res.Image.Digest)
	}
	if again := f.must(t, "run", "--rm", pushed); again != want {
		t.Errorf("run of the pushed and pulled image:\n%s", again)
	}

	// No change: every step is a cache hit and nothing boots.
	out, errOut, code = f.cli(nil, "image", "build", "-t", tag, "--build-arg", "GREETING=bonjour", dir, "--format", "json")
	if code != 0 {
		t.Fatalf("rebuild: exit %d\n%s%s", code, out, errOut)
	}
	var again api.BuildResult
	if err := json.Unmarshal([]byte(out), &again); err != nil {
		t.Fatal(err)
	}
	for _, s := range again.Steps {
		if !s.Cached {
			t.Errorf("rebuild: step %d/%d %q was not cached", s.Stage, s.Step, s.Instruction)
		}
	}
	if again.Image.Digest != res.Image.Digest || strings.Count(errOut, " CACHED") != len(again.Steps) {
		t.Errorf("rebuild: digest %s (was %s)\n%s", again.Image.Digest, res.Image.Digest, errOut)
	}
	t.Logf("cold build %.1fs, cached rebuild %.2fs", res.Seconds, again.Seconds)
	if ls := f.must(t, "image", "ls", "--format", "{{.Name}}"); strings.Contains(ls, "banger.build/cache") {
		t.Errorf("image ls shows the build cache:\n%s", ls)
	}

	// Pruning the build cache removes its images and frees space, and
	// keeps every blob a named image needs: the built image still saves.
	var pruned api.PruneImagesResult
	if err := json.Unmarshal([]byte(f.must(t, "image", "prune", "--build-cache", "--format", "json")), &pruned); err != nil {
		t.Fatal(err)
	}
	if len(pruned.CacheImages) == 0 || pruned.BytesFreed <= 0 || len(pruned.Images) != 0 {
		t.Errorf("image prune --build-cache: %+v; want cache images removed, bytes freed, no named image", pruned)
	}
	var again2 api.PruneImagesResult
	if err := json.Unmarshal([]byte(f.must(t, "image", "prune", "--build-cache", "--dry-run", "--format", "json")), &again2); err != nil {
		t.Fatal(err)
	}
	for _, c := range again2.CacheImages {
		if slices.Contains(pruned.CacheImages, c) {
			t.Errorf("cache image %s is still there after the prune", c)
		}
	}
	saved := filepath.Join(t.TempDir(), "built.tar")
	f.must(t, "image", "save", tag, "-o", saved)
	if st, err := os.Stat(saved); err != nil || st.Size() == 0 {
		t.Errorf("save of the built image after the prune: %v", err)
	}
	f.assertNoOrphans(t)
}

// validateBuilt reads the recorded image back as an OCI image (its kept
// manifest and config, its layers from the blob cache) and checks it
// with go-containerregistry's validate package.
func validateBuilt(t *testing.T, f *fixture, tag, digest string) {
	t.Helper()
	id := strings.TrimSpace(f.must(t, "image", "inspect", tag, "--format", "{{.ID}}"))
	manifest, err := os.ReadFile(filepath.Join(f.layout.Image(id), "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	config, err := os.ReadFile(filepath.Join(f.layout.Image(id), "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	img, err := imagepull.RawImage(manifest, config, func(d v1.Descriptor) (io.ReadCloser, error) {
		return os.Open(filepath.Join(f.layout.OCICache(), "blobs", "sha256", d.Digest.Hex))
	})
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := img.Digest(); d.String() != digest {
		t.Errorf("kept manifest %s, build said %s", d, digest)
	}
	if err := validate.Image(img); err != nil {
		t.Errorf("validate.Image: %v", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if c.User != "1000:1000" || c.WorkingDir != "/app" || len(c.Entrypoint) != 2 || c.Labels["org.example.test"] != "build" {
		t.Errorf("config = %+v", c)
	}
	layers, _ := img.Layers()
	if len(layers) != 7 { // busybox, COPY x3, ADD, RUN x2
		t.Errorf("layers = %d, want 7", len(layers))
	}
}

// TestImageBuildFailures: a failing RUN prints its output and status and
// leaves no VM and no image; a symlink out of the context is refused.
func TestImageBuildFailures(t *testing.T) {
	f := env(t)
	base := buildBase(t)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"Dockerfile":  fmt.Sprintf("FROM %s\nRUN echo failing-output; exit 7\n", base),
		"Escape":      fmt.Sprintf("FROM %s\nCOPY passwd /x\n", base),
		"passwd":      "->/etc/passwd",
		"Unsupported": fmt.Sprintf("FROM %s\nONBUILD RUN true\n", base),
	})
	out, errOut, code := f.cli(nil, "image", "build", "-t", "e2e-fails", dir)
	if code == 0 || !strings.Contains(errOut, "failing-output") || !strings.Contains(errOut, "line 2: RUN echo failing-output; exit 7: the command exited with status 7") {
		t.Errorf("failing RUN: exit %d\n%s%s", code, out, errOut)
	}
	if _, _, code := f.cli(nil, "image", "inspect", "e2e-fails"); code == 0 {
		t.Error("a failed build recorded its image")
	}
	if ps := f.must(t, "ps", "-a", "--filter", "label=banger.build", "-q"); ps != "" {
		t.Errorf("VMs left by the failed RUN: %s", ps)
	}
	_, errOut, code = f.cli(nil, "image", "build", "-t", "e2e-fails", "-f", filepath.Join(dir, "Escape"), dir)
	if code == 0 || !strings.Contains(errOut, "symlink passwd -> /etc/passwd points out of the build context") {
		t.Errorf("COPY through a symlink out of the context: exit %d\n%s", code, errOut)
	}
	_, errOut, code = f.cli(nil, "image", "build", "-t", "e2e-fails", "-f", filepath.Join(dir, "Unsupported"), dir)
	if code == 0 || !strings.Contains(errOut, "line 2: ONBUILD") {
		t.Errorf("ONBUILD: exit %d\n%s", code, errOut)
	}
	f.assertNoOrphans(t)
}
