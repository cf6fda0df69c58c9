package dockerapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/bangerdev/banger/internal/buildctx"
	"github.com/bangerdev/banger/internal/imagepull"
	"github.com/bangerdev/banger/internal/images"
	"github.com/bangerdev/banger/pkg/errdefs"
	"github.com/bangerdev/banger/pkg/progress"
)

// Builder is banger's image build (issue 15's builder as the daemon runs
// it for `banger image build`): the build records the image under
// req.Tag.
type Builder interface {
	Build(ctx context.Context, req BuildRequest, sink progress.Sink) (images.Image, error)
}

// BuildRequest is one build. Receive reads the context into dir, a
// scratch directory of the build's (internal/buildctx: names and links
// are validated, contents stored under names the daemon chose).
type BuildRequest struct {
	Tag       string
	BuildArgs map[string]string
	Target    string
	NoCache   bool
	Receive   func(dir string) (*buildctx.Upload, error)
}

// buildParams are /build's query, read and checked.
type buildParams struct {
	tags       []string
	dockerfile string
	args       map[string]string
	target     string
	noCache    bool
	quiet      bool
	labels     map[string]string
}

// buildRefusals are /build parameters that change what a build does and
// that banger's builder does not do, with why; a parameter at its
// default ("", "0", "false", or an empty JSON value) is no request.
var buildRefusals = []struct{ param, option, why string }{
	{"remote", "a remote build context (a URL or git repository)", "send the context from a directory"},
	{"pull", "--pull", "banger pulls a base image only when it is absent; pull it first (docker pull)"},
	{"squash", "--squash", "banger's builder records the image's layers as built"},
	{"extrahosts", "--add-host", "a RUN step's VM resolves names with banger's DNS relay"},
	{"cachefrom", "--cache-from", "banger's build cache is its own, local one"},
	{"outputs", "--output", "a build records an image in banger's catalog; docker save exports it"},
	{"memory", "--memory", "a RUN step runs in a VM of banger's default size"},
	{"memswap", "--memory-swap", "a RUN step runs in a VM of banger's default size"},
	{"cpushares", "--cpu-shares", "a RUN step runs in a VM of banger's default size"},
	{"cpusetcpus", "--cpuset-cpus", "a RUN step runs in a VM of banger's default size"},
	{"cpuquota", "--cpu-quota", "a RUN step runs in a VM of banger's default size"},
	{"cpuperiod", "--cpu-period", "a RUN step runs in a VM of banger's default size"},
	{"shmsize", "--shm-size", "a RUN step's VM has its own /dev/shm"},
	{"ulimits", "--ulimit", "a RUN step's VM has its own limits"},
	{"isolation", "--isolation", "every RUN step is isolated in its own VM"},
	{"cgroupparent", "--cgroup-parent", "a RUN step's VM is confined by banger"},
}

// parseBuild reads /build's query, refusing what banger's builder would
// not honour.
func parseBuild(r *http.Request) (buildParams, error) {
	q := r.URL.Query()
	var p buildParams
	if v := q.Get("version"); v == "2" {
		return p, refuse("BuildKit (builder version 2)", "banger's builder speaks the classic build API; build with DOCKER_BUILDKIT=0")
	}
	for _, ref := range buildRefusals {
		if !defaultParam(q.Get(ref.param)) {
			return p, refuse(ref.option+" ("+ref.param+")", ref.why)
		}
	}
	if nm := q.Get("networkmode"); nm != "" && nm != "default" && nm != "bridge" {
		return p, refuse("--network "+nm+" (networkmode)", "a RUN step's VM is on banger's network")
	}
	if pl := q.Get("platform"); pl != "" && pl != imagepull.HostPlatform {
		return p, refuse("--platform "+pl, "a RUN step runs in a VM of the host's platform, "+imagepull.HostPlatform)
	}
	for _, t := range q["t"] {
		name, err := imagepull.NormalizeTag(t)
		if err != nil {
			return p, badParam("invalid tag %q: %v", t, err)
		}
		p.tags = append(p.tags, name)
	}
	p.dockerfile, p.target = q.Get("dockerfile"), q.Get("target")
	p.noCache, p.quiet = boolParam(q.Get("nocache")), boolParam(q.Get("q"))
	var err error
	if p.args, err = jsonMap("buildargs", q.Get("buildargs")); err != nil {
		return p, err
	}
	if p.labels, err = jsonMap("labels", q.Get("labels")); err != nil {
		return p, err
	}
	if len(p.labels) > 0 && p.target != "" {
		return p, refuse("--label with --target", "banger adds labels as a LABEL step of the last stage")
	}
	return p, nil
}

// defaultParam says a query value asks for nothing.
func defaultParam(v string) bool {
	switch strings.TrimSpace(v) {
	case "", "0", "false", "False", "null", "[]", "{}", "-1":
		return true
	}
	return false
}

// jsonMap reads a JSON object of strings. A null value is left out: a
// --build-arg NAME the client's environment does not set comes as null,
// and the ARG's default stands, as in Docker.
func jsonMap(param, v string) (map[string]string, error) {
	out := map[string]string{}
	if defaultParam(v) {
		return out, nil
	}
	var m map[string]*string
	if err := json.Unmarshal([]byte(v), &m); err != nil {
		return nil, badParam("%s: want a JSON object of strings: %v", param, err)
	}
	for k, v := range m {
		if v != nil {
			out[k] = *v
		}
	}
	return out, nil
}

// labelStep is the LABEL instruction --label adds after the Dockerfile's
// last one, keys and values quoted as the Dockerfile parser reads them.
func labelStep(labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteString("\nLABEL")
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%s", strconv.Quote(k), strconv.Quote(labels[k]))
	}
	return b.String() + "\n"
}

// build is POST /build: the body is the context tar, read by
// internal/buildctx as `banger image build`'s upload is; the build runs
// in banger's builder and streams as Docker's classic builder does
// ({"stream": "Step 1/3 : FROM ..."}, then {"aux": {"ID": ...}}), so
// the docker CLI prints it. The first -t is what the build records,
// the others are tags of it; without -t the image gets a generated
// name (banger keeps no nameless images).
func (s *Server) build(w http.ResponseWriter, r *http.Request) {
	p, err := parseBuild(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if s.opts.Builder == nil {
		writeError(w, kindError(errdefs.ErrUnsupported, "image build is not served by this daemon"))
		return
	}
	if len(p.tags) == 0 {
		b := make([]byte, 6)
		_, _ = rand.Read(b)
		p.tags = []string{"docker.io/library/build-" + hex.EncodeToString(b) + ":latest"}
	}
	js := newJSONStream(w)
	js.asStream = true
	var sink progress.Sink = buildSink{js}
	if p.quiet {
		sink = progress.Quiet{}
	}
	img, err := s.opts.Builder.Build(r.Context(), BuildRequest{
		Tag: p.tags[0], BuildArgs: p.args, Target: p.target, NoCache: p.noCache,
		Receive: func(dir string) (*buildctx.Upload, error) {
			up, err := buildctx.ReceiveContext(r.Body, dir, p.dockerfile, 0)
			if err == nil && len(p.labels) > 0 {
				up.Dockerfile = append(up.Dockerfile, labelStep(p.labels)...)
			}
			return up, err
		},
	}, sink)
	if err != nil {
		js.fail(err)
		return
	}
	for _, t := range p.tags[1:] {
		if _, err := s.opts.ImageOps.Tag(r.Context(), img.ID, t); err != nil {
			js.fail(err)
			return
		}
	}
	id, _, _ := s.imageID(img)
	js.aux(map[string]string{"ID": id})
	if p.quiet {
		return
	}
	js.Message("Successfully built " + shortImageID(id))
	for _, t := range p.tags {
		js.Message("Successfully tagged " + imagepull.FamiliarName(t))
	}
}

// stepLine is banger's step header; Docker's classic builder says
// "Step 2/5 : RUN ...", which scripts and people grep for.
var stepLine = regexp.MustCompile(`^\[stage (\d+)/(\d+)\] STEP (\d+/\d+): (.*)$`)

// buildSink words the builder's report as the classic builder's stream:
// step headers in Docker's form (a multi-stage build's stage is kept in
// front), RUN output as is, and progress (a base image pulled, a layer
// stored) as status lines docker prints.
type buildSink struct{ js *jsonStream }

func (b buildSink) Message(s string) {
	if s == " CACHED" {
		s = " ---> Using cache"
	} else if m := stepLine.FindStringSubmatch(s); m != nil {
		if m[2] == "1" {
			s = "Step " + m[3] + " : " + m[4]
		} else {
			s = "[stage " + m[1] + "/" + m[2] + "] Step " + m[3] + " : " + m[4]
		}
	}
	b.js.Message(s)
}

func (b buildSink) Progress(e progress.Event) { b.js.Progress(e) }
