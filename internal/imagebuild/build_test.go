package imagebuild

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/bangerdev/banger/internal/buildctx"
)

const testDockerfile = `FROM base AS build
ARG GREETING=hello
ENV APP=/app PATH=/usr/bin:/bin
WORKDIR $APP
COPY --chown=app:app --chmod=0750 run.sh ./
RUN echo "$GREETING" > out.txt && rm /etc/motd
FROM base
COPY --from=build /app/out.txt /srv/out.txt
USER app
LABEL org.example.kind=test
EXPOSE 8080
ENTRYPOINT ["/bin/sh"]
CMD ["-c", "cat /srv/out.txt"]
`

type env struct {
	t      *testing.T
	images *fakeImages
	vms    *fakeVMs
	lowers []string
	b      *Builder
	cache  string
	files  map[string]string
}

func newEnv(t *testing.T) *env {
	e := &env{t: t, images: newFakeImages(t), cache: t.TempDir(), files: map[string]string{"run.sh": "#!/bin/sh\necho run\n"}}
	e.images.add("base", map[string]string{
		"etc/passwd": "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/app:/bin/sh\n",
		"etc/group":  "root:x:0:\napp:x:1001:\n",
		"etc/motd":   "welcome",
	}, v1.Config{Env: []string{"PATH=/bin", "BASE=1"}, Cmd: []string{"/bin/sh"}})
	e.vms = newFakeVMs(func(s RunSpec) (string, int, map[string]string) {
		cmd := s.Argv[len(s.Argv)-1]
		if strings.Contains(cmd, "exit 3") {
			return "going down\n", 3, nil
		}
		greeting := "?"
		for _, kv := range s.Env {
			if v, ok := strings.CutPrefix(kv, "GREETING="); ok {
				greeting = v
			}
		}
		return "ran " + cmd + "\n", 0, map[string]string{"app/out.txt": greeting + "\n", "etc/motd": ""}
	})
	e.b = &Builder{Images: e.images, VMs: e.vms, Diff: fakeDiff(t, &e.lowers)}
	return e
}

func (e *env) build(dockerfile string, opts Options) (Result, *sink, error) {
	e.t.Helper()
	dir := e.t.TempDir()
	for n, c := range e.files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(c), 0o644); err != nil {
			e.t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := buildctx.Pack(&buf, dir, []byte(dockerfile)); err != nil {
		e.t.Fatal(err)
	}
	up, err := buildctx.Receive(&buf, e.t.TempDir(), 0)
	if err != nil {
		e.t.Fatal(err)
	}
	if opts.Tag == "" {
		opts.Tag = "out:latest"
	}
	opts.Platform, opts.ScratchDir = "linux/amd64", e.t.TempDir()
	if opts.CacheDir == "" {
		opts.CacheDir = e.cache
	}
	s := &sink{}
	res, err := e.b.Build(context.Background(), up, opts, s)
	if len(e.vms.live) != 0 {
		e.t.Errorf("VMs left behind: %v", e.vms.live)
	}
	return res, s, err
}

// files answers an image's flattened files: path -> "mode uid:gid content".
func files(t *testing.T, img v1.Image) map[string]string {
	t.Helper()
	out := map[string]string{}
	rc := mutate.Extract(img)
	defer func() { _ = rc.Close() }()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		out[h.Name] = os.FileMode(h.Mode).String() + " " + itoa(h.Uid) + ":" + itoa(h.Gid) + " " + string(b)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestBuild(t *testing.T) {
	e := newEnv(t)
	res, out, err := e.build(testDockerfile, Options{BuildArgs: map[string]string{"GREETING": "bonjour"}})
	if err != nil {
		t.Fatalf("Build: %v\n%s", err, out.text())
	}
	// One VM, with the stage's env, workdir and the build arg.
	if len(e.vms.created) != 1 {
		t.Fatalf("VMs created: %d", len(e.vms.created))
	}
	spec := e.vms.created[0]
	wantEnv := []string{"GREETING=bonjour", "PATH=/usr/bin:/bin", "BASE=1", "APP=/app"}
	if !reflect.DeepEqual(spec.Env, wantEnv) || spec.WorkingDir != "/app" || spec.User != "" ||
		!reflect.DeepEqual(spec.Argv, []string{"/bin/sh", "-c", `echo "$GREETING" > out.txt && rm /etc/motd`}) {
		t.Errorf("RUN spec = %+v", spec)
	}
	// COPY came before the RUN: it booted a recorded image of that.
	if !IsCache(spec.Image) || len(e.lowers) != 1 || e.lowers[0] != e.images.byName[spec.Image].rec.Rootfs {
		t.Errorf("RUN booted %q (diffs %v), want a cache image", spec.Image, e.lowers)
	}
	img, err := e.images.OCI("out:latest")
	if err != nil {
		t.Fatal(err)
	}
	got := files(t, img)
	if got["srv/out.txt"] != "-rw-r--r-- 0:0 bonjour\n" {
		t.Errorf("srv/out.txt = %q", got["srv/out.txt"])
	}
	if _, ok := got["app/run.sh"]; ok {
		t.Error("the first stage's files leaked into the second")
	}
	cf, _ := img.ConfigFile()
	c := cf.Config
	if c.User != "app" || c.Labels["org.example.kind"] != "test" || !reflect.DeepEqual(c.Entrypoint, []string{"/bin/sh"}) ||
		!reflect.DeepEqual(c.Cmd, []string{"-c", "cat /srv/out.txt"}) || !reflect.DeepEqual(c.ExposedPorts, map[string]struct{}{"8080/tcp": {}}) ||
		!reflect.DeepEqual(c.Env, []string{"PATH=/bin", "BASE=1"}) {
		t.Errorf("config = %+v", c)
	}
	if d, _ := img.Digest(); res.Digest != d.String() || res.Name != "out:latest" {
		t.Errorf("result = %+v, image %s", res, d)
	}
	if n := len(cf.History); n < 7 {
		t.Errorf("history has %d entries", n)
	}
	// The first stage's result has the chowned script and the RUN's changes.
	st0 := files(t, e.images.byName[CacheName(findKey(t, e, "RUN"))].img)
	if st0["app/run.sh"] != "-rwxr-x--- 1000:1001 #!/bin/sh\necho run\n" {
		t.Errorf("app/run.sh = %q", st0["app/run.sh"])
	}
	if _, ok := st0["etc/motd"]; ok {
		t.Error("etc/motd survived its RUN rm")
	}
	for _, want := range []string{"[stage 1/2] STEP 1/6: FROM base AS build", "[stage 1/2] STEP 6/6: RUN", "ran echo", "[stage 2/2] STEP 7/7: CMD"} {
		if !strings.Contains(out.text(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.text())
		}
	}
	if strings.Contains(out.text(), "CACHED") {
		t.Errorf("a first build said CACHED:\n%s", out.text())
	}

	// The same build again: every step a hit, nothing boots, nothing stored.
	stored := len(e.images.stored)
	res2, out2, err := e.build(testDockerfile, Options{BuildArgs: map[string]string{"GREETING": "bonjour"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range res2.Steps {
		if !s.Cached {
			t.Errorf("step %d/%d %q missed the cache", s.Stage, s.Step, s.Instruction)
		}
	}
	if len(e.vms.created) != 1 || len(e.images.stored) != stored || res2.Digest != res.Digest {
		t.Errorf("rebuild: VMs %d, stores %d (was %d), digest %s (was %s)", len(e.vms.created), len(e.images.stored), stored, res2.Digest, res.Digest)
	}
	if !strings.Contains(out2.text(), "up to date") {
		t.Errorf("rebuild output:\n%s", out2.text())
	}

	// Another build arg value: the RUN misses, the steps before it hit.
	res3, _, err := e.build(testDockerfile, Options{BuildArgs: map[string]string{"GREETING": "hi"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(e.vms.created) != 2 || res3.Digest == res.Digest {
		t.Errorf("a new build arg: VMs %d, digest unchanged %v", len(e.vms.created), res3.Digest == res.Digest)
	}
	if !res3.Steps[3].Cached || res3.Steps[4].Cached {
		t.Errorf("steps = %+v", res3.Steps)
	}
}

// findKey answers the cache key of the build's last kept step.
func findKey(t *testing.T, e *env, kind string) string {
	t.Helper()
	for i := len(e.images.stored) - 1; i >= 0; i-- {
		if n := e.images.stored[i]; IsCache(n) {
			return "sha256:" + strings.TrimPrefix(n, CacheRepository+":")
		}
	}
	t.Fatalf("no %s was kept", kind)
	return ""
}

func TestBuildCacheInvalidation(t *testing.T) {
	e := newEnv(t)
	df := "FROM base\nCOPY run.sh /x\nRUN touch y\n"
	if _, _, err := e.build(df, Options{}); err != nil {
		t.Fatal(err)
	}
	// --no-cache runs again.
	res, _, err := e.build(df, Options{NoCache: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(e.vms.created) != 2 || res.Steps[0].Cached || res.Steps[1].Cached {
		t.Errorf("--no-cache: VMs %d, steps %+v", len(e.vms.created), res.Steps)
	}
	// A changed context file misses COPY and what follows.
	e.files["run.sh"] = "changed"
	res, _, err = e.build(df, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(e.vms.created) != 3 || res.Steps[0].Cached || res.Steps[1].Cached {
		t.Errorf("changed context: VMs %d, steps %+v", len(e.vms.created), res.Steps)
	}
	// The RUN after a COPY booted a recorded image of the COPY's result.
	if last := e.vms.created[2].Image; !IsCache(last) {
		t.Errorf("RUN after COPY booted %q", last)
	}
}

func TestBuildFailingRun(t *testing.T) {
	for _, tc := range []struct {
		name, failAt, want string
	}{
		{"exit status", "", "exited with status 3"},
		{"create", "create", "create the step's VM: no boot slot"},
		{"run", "run", "run the step's VM: the agent went away"},
		{"disk copy", "disk", "copy the step's disk"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.vms.failAt = tc.failAt
			run := "RUN echo x; exit 3"
			if tc.failAt != "" {
				run = "RUN echo x"
			}
			_, out, err := e.build("FROM base\nENV A=1\n"+run+"\nCMD x\n", Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "line 3: "+run) {
				t.Fatalf("Build = %v, want %q naming the line", err, tc.want)
			}
			if tc.failAt == "" {
				var ee *ExitError
				if !errors.As(err, &ee) || ee.Code != 3 || !strings.Contains(out.text(), "going down") {
					t.Errorf("error %v, output:\n%s", err, out.text())
				}
			}
			for _, n := range e.images.stored {
				if n == "out:latest" || len(e.lowers) > 0 {
					t.Errorf("a failed build recorded %s (diffs %v)", n, e.lowers)
				}
			}
		})
	}
}

func TestBuildErrors(t *testing.T) {
	e := newEnv(t)
	e.files["evil"] = ""
	for _, tc := range []struct{ name, df, want string }{
		{"missing source", "FROM base\nCOPY nope /x\n", "line 2: COPY nope /x: nope: no such file in the build context"},
		{"missing base", "FROM nothing\n", "line 1: FROM nothing: pull nothing"},
		{"unknown user", "FROM base\nCOPY --chown=bob run.sh /x\n", `no "bob" in the image's /etc/passwd`},
		{"several to a file", "FROM base\nCOPY run.sh evil /x\n", "end the destination with /"},
		{"bad chmod", "FROM base\nCOPY --chmod=9 run.sh /x\n", "--chmod=9"},
		{"bad expose", "FROM base\nEXPOSE http\n", "EXPOSE http"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := e.build(tc.df, Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Build = %v, want %q", err, tc.want)
			}
		})
	}
}
