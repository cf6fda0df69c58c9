package cli_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	rt "github.com/bangerdev/banger/internal/imagepull/registrytest"
	"github.com/bangerdev/banger/pkg/api"
)

// TestImageBuildWithoutRun builds through a real daemon what needs no
// VM — FROM a pulled image, COPY (with .dockerignore, --chown, a
// second stage's files), ENV, LABEL, EXPOSE, CMD — then rebuilds it from
// the cache, and checks what the CLI refuses before sending anything.
func TestImageBuildWithoutRun(t *testing.T) {
	td := imageDaemon(t)
	reg := rt.Start(t)
	img, err := rt.NewImage([]v1.Layer{rt.MustLayer(rt.File("etc/os-release", "ID=synthetic\n"), rt.File("bin/sh", "#!"))})
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := reg.Push(t, "synthetic/base:1", img)
	dir := t.TempDir()
	for name, body := range map[string]string{
		"Dockerfile": fmt.Sprintf("FROM %s AS files\nCOPY app/ /src/\n\nFROM %[1]s\nENV A=1\n"+
			"COPY --from=files --chown=7:8 /src/ /app/\nLABEL kind=test\nEXPOSE 80\nCMD [\"/bin/sh\"]\n", ref),
		"app/main.txt":  "main",
		"app/debug.log": "noise",
		".dockerignore": "**/*.log\n",
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	build := func(extra ...string) (api.BuildResult, string) {
		t.Helper()
		out, errOut, code := run(t, td.Host, append([]string{"image", "build", "-t", "built:1", "--format", "json", dir}, extra...)...)
		if code != 0 {
			t.Fatalf("image build: exit %d\n%s%s", code, out, errOut)
		}
		var res api.BuildResult
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("--format json: %v\n%s", err, out)
		}
		return res, errOut
	}
	res, errOut := build()
	if len(res.Steps) != 6 || res.Image.Source != "build" || res.Image.Config.Labels["kind"] != "test" ||
		strings.Join(res.Image.Config.Cmd, " ") != "/bin/sh" || strings.Join(res.Image.Config.ExposedPorts, ",") != "80/tcp" {
		t.Errorf("result = %+v", res)
	}
	for _, want := range []string{"[stage 1/2] STEP 2/2: COPY app/ /src/", "[stage 2/2] STEP 6/6: CMD"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("progress lacks %q:\n%s", want, errOut)
		}
	}
	again, errOut := build()
	for _, s := range again.Steps {
		if !s.Cached {
			t.Errorf("rebuild: %q missed the cache\n%s", s.Instruction, errOut)
		}
	}
	if again.Image.Digest != res.Image.Digest || !strings.Contains(errOut, "is up to date") {
		t.Errorf("rebuild: digest %s (was %s)\n%s", again.Image.Digest, res.Image.Digest, errOut)
	}
	nocache, _ := build("--no-cache")
	if nocache.Steps[0].Cached || nocache.Image.Digest != res.Image.Digest {
		t.Errorf("--no-cache: %+v (digest %s, was %s)", nocache.Steps[0], nocache.Image.Digest, res.Image.Digest)
	}
	if out, _, _ := run(t, td.Host, "image", "ls", "--format", "{{.Name}}"); strings.Contains(out, "cache") || !strings.Contains(out, "built:1") {
		t.Errorf("image ls:\n%s", out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"image", "build", dir}, `"tag" not set`},
		{[]string{"image", "build", "-t", "x", filepath.Join(dir, "Dockerfile")}, "want a directory"},
		{[]string{"image", "build", "-t", "x", "-f", filepath.Join(dir, "none"), dir}, "name it with -f"},
		{[]string{"image", "build", "-t", "x", "--build-arg", "=v", dir}, "want KEY=VALUE"},
	} {
		if _, errOut, code := run(t, td.Host, tc.args...); code == 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, %s", tc.args, code, errOut)
		}
	}
}
