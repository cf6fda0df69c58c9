package dockerapi

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bangerdev/banger/internal/images"
	"github.com/bangerdev/banger/pkg/errdefs"
	"github.com/bangerdev/banger/pkg/progress"
)

// fakeBuilder records the request, reads the context as the daemon
// would, reports steps, and records the image in ops.
type fakeBuilder struct {
	ops        *fakeImageOps
	req        BuildRequest
	dockerfile string
	files      []string
	err        error
}

func (b *fakeBuilder) Build(_ context.Context, req BuildRequest, sink progress.Sink) (images.Image, error) {
	b.req = req
	dir, err := os.MkdirTemp("", "buildctx")
	if err != nil {
		return images.Image{}, err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	up, err := req.Receive(dir)
	if err != nil {
		return images.Image{}, err
	}
	b.dockerfile = string(up.Dockerfile)
	m, _ := up.Context.Select("*")
	for _, e := range m {
		b.files = append(b.files, e.Name)
	}
	sink.Message("[stage 1/1] STEP 1/2: FROM alpine")
	sink.Message(" CACHED")
	sink.Message("[stage 1/1] STEP 2/2: RUN echo hi")
	sink.Message("hi")
	if b.err != nil {
		return images.Image{}, b.err
	}
	return b.ops.add("built00000000001", req.Tag, "build", testImage(1, v1.Config{})), nil
}

// contextTar is a docker build context: name → content.
func contextTar(files map[string]string) string {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		_ = tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(files[name])), Typeflag: tar.TypeReg})
		_, _ = tw.Write([]byte(files[name]))
	}
	_ = tw.Close()
	return buf.String()
}

// TestBuildStream: the context tar's Dockerfile and files reach the
// builder; the stream is the classic builder's (Step N/M : ..., Using
// cache, the RUN's output, aux ID, Successfully built/tagged), every -t
// after the first is a tag of the result.
func TestBuildStream(t *testing.T) {
	ops := newFakeImageOps()
	b := &fakeBuilder{ops: ops}
	s := New(Options{VMs: newFakeVMs(), Images: fakeImages{}, ImageOps: ops, Builder: b, Volumes: fakeVolumes{}})
	q := url.Values{"t": {"app:1", "localhost:5000/app:2"}, "buildargs": {`{"A":"1","B":null}`}, "target": {"final"}, "nocache": {"1"},
		"dockerfile": {"sub/Dockerfile.dev"}, "rm": {"1"}, "forcerm": {"0"}, "labels": {"{}"}, "cachefrom": {"null"}, "ulimits": {"null"}, "memory": {"0"}, "version": {"1"}}
	rec := do(s, "POST", "/v1.41/build?"+q.Encode(), contextTar(map[string]string{"sub/Dockerfile.dev": "FROM alpine\nRUN echo hi\n", "main.go": "package main"}))
	got := render(lines(t, rec))
	img, _ := ops.Find("app:1")
	id, _, _ := s.imageID(img)
	want := "Step 1/2 : FROM alpine\n ---> Using cache\nStep 2/2 : RUN echo hi\nhi\nAUX {\"ID\":\"" + id + "\"}\nSuccessfully built " + id[7:19] + "\nSuccessfully tagged app:1\nSuccessfully tagged localhost:5000/app:2\n"
	if rec.Code != 200 || got != want {
		t.Errorf("build: %d\n%s\nwant\n%s", rec.Code, got, want)
	}
	if b.req.Tag != "docker.io/library/app:1" || b.req.Target != "final" || !b.req.NoCache || len(b.req.BuildArgs) != 1 || b.req.BuildArgs["A"] != "1" {
		t.Errorf("request %+v", b.req)
	}
	if b.dockerfile != "FROM alpine\nRUN echo hi\n" || strings.Join(b.files, ",") != "main.go,sub" {
		t.Errorf("context: Dockerfile %q files %v", b.dockerfile, b.files)
	}
	if len(ops.calls) != 1 || ops.calls[0] != "tag built00000000001 localhost:5000/app:2" {
		t.Errorf("calls %v", ops.calls)
	}

	// -q: only the id; labels become a LABEL step of the last stage.
	rec = do(s, "POST", "/build?q=1&t=app:3&labels="+url.QueryEscape(`{"k":"v w"}`), contextTar(map[string]string{"Dockerfile": "FROM alpine"}))
	if got := render(lines(t, rec)); !strings.HasPrefix(got, "AUX {\"ID\":\"sha256:") || strings.Contains(got, "Step") {
		t.Errorf("build -q: %q", got)
	}
	if b.dockerfile != "FROM alpine\nLABEL \"k\"=\"v w\"\n" {
		t.Errorf("labels: Dockerfile %q", b.dockerfile)
	}

	// A context without the Dockerfile, and a failing build.
	rec = do(s, "POST", "/build?t=x", contextTar(map[string]string{"a": "b"}))
	if rec.Code != 400 || !strings.Contains(message(t, rec), "cannot locate specified Dockerfile: Dockerfile") {
		t.Errorf("no Dockerfile: %d %s", rec.Code, rec.Body)
	}
	b.err = fmt.Errorf("build x: step 2: RUN exited 1: %w", errdefs.ErrInvalid)
	rec = do(s, "POST", "/build?t=x", contextTar(map[string]string{"Dockerfile": "FROM a"}))
	if got := render(lines(t, rec)); !strings.HasSuffix(got, "hi\nERROR build x: step 2: RUN exited 1: invalid argument|build x: step 2: RUN exited 1: invalid argument\n") {
		t.Errorf("a failing build: %q", got)
	}
}

// TestBuildParams: what banger's builder would not honour is refused by
// name (never ignored); the docker CLI's defaults ask for nothing.
func TestBuildParams(t *testing.T) {
	for _, tc := range []struct {
		query, refused string
	}{
		{"rm=1&forcerm=0&pull=&memory=0&memswap=0&cpushares=0&cpuquota=0&cpuperiod=0&shmsize=0&ulimits=null&cachefrom=null&labels=null&buildargs=null&networkmode=default&version=1", ""},
		{"networkmode=bridge&platform=" + url.QueryEscape("linux/amd64"), ""},
		{"version=2", "BuildKit"},
		{"remote=https://example.com/x.git", "a remote build context"},
		{"pull=1", "--pull"},
		{"networkmode=host", "--network host"},
		{"extrahosts=" + url.QueryEscape(`["a:1.2.3.4"]`), "--add-host"},
		{"memory=1000000", "--memory"},
		{"ulimits=" + url.QueryEscape(`[{"Name":"nofile"}]`), "--ulimit"},
		{"platform=" + url.QueryEscape("linux/s390x"), "--platform linux/s390x"},
		{"target=x&labels=" + url.QueryEscape(`{"a":"b"}`), "--label with --target"},
		{"buildargs=[1]", "buildargs: want a JSON object"},
		{"t=Bad:tag:x", "invalid tag"},
	} {
		r := httptest.NewRequest("POST", "/build?"+tc.query, nil)
		_, err := parseBuild(r)
		switch {
		case tc.refused == "" && err != nil:
			t.Errorf("%s: %v", tc.query, err)
		case tc.refused != "" && (err == nil || !strings.Contains(err.Error(), tc.refused) || !errors.Is(err, errdefs.ErrInvalid)):
			t.Errorf("%s: %v, want a refusal naming %q", tc.query, err, tc.refused)
		}
	}
}

// TestBuildSinkSteps: banger's step headers become Docker's, a later
// stage's keep the stage in front.
func TestBuildSinkSteps(t *testing.T) {
	for in, want := range map[string]string{
		"[stage 1/1] STEP 3/5: COPY . /app": "Step 3/5 : COPY . /app",
		"[stage 2/2] STEP 1/2: FROM b":      "[stage 2/2] Step 1/2 : FROM b",
		" CACHED":                           " ---> Using cache",
		"plain output":                      "plain output",
	} {
		rec := httptest.NewRecorder()
		buildSink{js: &jsonStream{w: rec, enc: json.NewEncoder(rec), asStream: true}}.Message(in)
		if got := render(lines(t, rec)); got != want+"\n" {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}
