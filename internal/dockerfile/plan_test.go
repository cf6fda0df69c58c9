package dockerfile

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/bangerdev/banger/pkg/errdefs"
)

func parse(t *testing.T, src string, opts Options) (*Plan, error) {
	t.Helper()
	if opts.Platform == "" {
		opts.Platform = "linux/amd64"
	}
	return Parse(strings.NewReader(src), opts)
}

func mustParse(t *testing.T, src string, opts Options) *Plan {
	t.Helper()
	p, err := parse(t, src, opts)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return p
}

func TestParseSteps(t *testing.T) {
	p := mustParse(t, `FROM busybox
RUN echo hi && touch /x
RUN ["/bin/echo", "exec"]
COPY --chown=1000:1000 --chmod=0640 a b /dst/
ADD archive.tar /opt/
ENV A=1 B="two words"
ARG V=3
ARG NODEF
WORKDIR /app
USER nobody
ENTRYPOINT ["/bin/sh", "-c"]
CMD echo $A
EXPOSE 80/tcp 53/udp
LABEL org.x=y "k k"=v
STOPSIGNAL SIGINT
VOLUME /data
SHELL ["/bin/ash", "-c"]
HEALTHCHECK --interval=5s CMD true
`, Options{})
	if len(p.Stages) != 1 {
		t.Fatalf("stages = %d, want 1", len(p.Stages))
	}
	st := p.Stages[0]
	if st.Base != (Base{Kind: BaseImage, Image: "busybox"}) || st.Line != 1 {
		t.Errorf("base = %+v line %d", st.Base, st.Line)
	}
	want := []Step{
		{Kind: Run, Line: 2, Args: []string{"echo hi && touch /x"}, ShellForm: true},
		{Kind: Run, Line: 3, Args: []string{"/bin/echo", "exec"}},
		{Kind: Copy, Line: 4, Files: &Files{Sources: []string{"a", "b"}, Dest: "/dst/", Chown: "1000:1000", Chmod: "0640"}},
		{Kind: Add, Line: 5, Files: &Files{Sources: []string{"archive.tar"}, Dest: "/opt/"}},
		{Kind: Env, Line: 6, Pairs: []Pair{{"A", "1", true}, {"B", `"two words"`, true}}}, // quotes go at Expand
		{Kind: Arg, Line: 7, Pairs: []Pair{{"V", "3", true}}},
		{Kind: Arg, Line: 8, Pairs: []Pair{{Key: "NODEF"}}},
		{Kind: Workdir, Line: 9, Args: []string{"/app"}},
		{Kind: User, Line: 10, Args: []string{"nobody"}},
		{Kind: Entrypoint, Line: 11, Args: []string{"/bin/sh", "-c"}},
		{Kind: Cmd, Line: 12, Args: []string{"echo $A"}, ShellForm: true},
		{Kind: Expose, Line: 13, Args: []string{"53/udp", "80/tcp"}},
		{Kind: Label, Line: 14, Pairs: []Pair{{"org.x", "y", true}, {`"k k"`, "v", true}}},
		{Kind: StopSignal, Line: 15, Args: []string{"SIGINT"}},
		{Kind: Volume, Line: 16, Args: []string{"/data"}},
		{Kind: Shell, Line: 17, Args: []string{"/bin/ash", "-c"}},
	}
	if len(st.Steps) != len(want)+1 {
		t.Fatalf("steps = %d, want %d", len(st.Steps), len(want)+1)
	}
	for i, w := range want {
		got := st.Steps[i]
		got.Source, got.escape = "", 0
		if !reflect.DeepEqual(got, w) {
			t.Errorf("step %d:\n got %+v\nwant %+v", i, got, w)
		}
	}
	h := st.Steps[len(want)]
	if h.Kind != Healthcheck || h.Health == nil || h.Health.Interval.Seconds() != 5 || !reflect.DeepEqual(h.Health.Test, []string{"CMD-SHELL", "true"}) {
		t.Errorf("healthcheck = %+v %+v", h, h.Health)
	}
	if st.Steps[0].Source != "RUN echo hi && touch /x" {
		t.Errorf("source = %q", st.Steps[0].Source)
	}
}

func TestParseStages(t *testing.T) {
	src := `ARG BASE=busybox
ARG TAG
FROM ${BASE}:${TAG:-latest} AS build
RUN make
FROM scratch AS unused
COPY x /
FROM build AS mid
COPY --from=0 /a /b
FROM $BASE
COPY --from=build /out /out
COPY --from=mid /b /b
COPY --from=alpine:3 /etc/os-release /
`
	for _, tc := range []struct {
		name   string
		opts   Options
		stages []Stage // Name, Base only
		last   []*Base // the target's COPY --from values
		unused []string
	}{
		{
			name: "last stage, unused stage skipped",
			stages: []Stage{
				{Name: "build", Base: Base{Kind: BaseImage, Image: "busybox:latest"}},
				{Name: "mid", Base: Base{Kind: BaseStage, Stage: 0}},
				{Base: Base{Kind: BaseImage, Image: "busybox"}},
			},
			last: []*Base{{Kind: BaseStage, Stage: 0}, {Kind: BaseStage, Stage: 1}, {Kind: BaseImage, Image: "alpine:3"}},
		},
		{
			name: "build args reach FROM; unknown ones listed",
			opts: Options{BuildArgs: map[string]string{"TAG": "1.36", "NOPE": "x", "HTTP_PROXY": "p"}},
			stages: []Stage{
				{Name: "build", Base: Base{Kind: BaseImage, Image: "busybox:1.36"}},
				{Name: "mid", Base: Base{Kind: BaseStage, Stage: 0}},
				{Base: Base{Kind: BaseImage, Image: "busybox"}},
			},
			unused: []string{"NOPE"},
		},
		{
			name: "target",
			opts: Options{Target: "MID"},
			stages: []Stage{
				{Name: "build", Base: Base{Kind: BaseImage, Image: "busybox:latest"}},
				{Name: "mid", Base: Base{Kind: BaseStage, Stage: 0}},
			},
		},
		{
			name:   "target without dependencies",
			opts:   Options{Target: "unused"},
			stages: []Stage{{Name: "unused", Base: Base{Kind: BaseScratch}}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := mustParse(t, src, tc.opts)
			if len(p.Stages) != len(tc.stages) {
				t.Fatalf("stages = %+v", p.Stages)
			}
			for i, w := range tc.stages {
				if g := p.Stages[i]; g.Name != w.Name || g.Base != w.Base {
					t.Errorf("stage %d = %q %+v, want %q %+v", i, g.Name, g.Base, w.Name, w.Base)
				}
			}
			if tc.last != nil {
				steps := p.Stages[len(p.Stages)-1].Steps
				for i, w := range tc.last {
					if got := steps[i].Files.From; *got != *w {
						t.Errorf("COPY %d --from = %+v, want %+v", i, got, w)
					}
				}
			}
			if !reflect.DeepEqual(p.Unused, tc.unused) {
				t.Errorf("unused = %v, want %v", p.Unused, tc.unused)
			}
		})
	}
}

func TestParseRefused(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		opts      Options
		kind      error
		want      string // in the message
	}{
		{"no FROM", "RUN x\n", Options{}, errdefs.ErrInvalid, "no build stage"},
		{"empty", "", Options{}, errdefs.ErrInvalid, "no instructions"},
		{"comments only", "# nothing\n", Options{}, errdefs.ErrInvalid, "no instructions"},
		{"onbuild", "FROM a\n\nONBUILD RUN x\n", Options{}, errdefs.ErrUnsupported, "line 3: ONBUILD"},
		{"run mount", "FROM a\nRUN --mount=type=cache,target=/c make\n", Options{}, errdefs.ErrUnsupported, "line 2: RUN --mount"},
		{"run network", "FROM a\nRUN --network=none make\n", Options{}, errdefs.ErrUnsupported, "RUN --network"},
		{"heredoc", "FROM a\nRUN <<EOF\necho\nEOF\n", Options{}, errdefs.ErrUnsupported, "line 2: RUN heredocs"},
		{"platform", "FROM --platform=linux/arm64 a\n", Options{}, errdefs.ErrUnsupported, "--platform=linux/arm64"},
		{"add url", "FROM a\nADD https://x/y /\n", Options{}, errdefs.ErrUnsupported, "line 2: ADD URL"},
		{"add git", "FROM a\nADD --keep-git-dir git@x:y /\n", Options{}, errdefs.ErrUnsupported, "--keep-git-dir"},
		{"copy parents", "FROM a\nCOPY --parents a /\n", Options{}, errdefs.ErrUnsupported, "COPY --parents"},
		{"copy from later", "FROM a\nCOPY --from=1 x /\nFROM b\n", Options{}, errdefs.ErrInvalid, "no earlier stage 1"},
		{"copy from scratch", "FROM a\nCOPY --from=scratch x /\n", Options{}, errdefs.ErrInvalid, "scratch holds no files"},
		{"dup stage", "FROM a AS x\nFROM b AS x\n", Options{}, errdefs.ErrInvalid, "line 2: stage name"},
		{"bad target", "FROM a AS one\n", Options{Target: "two"}, errdefs.ErrInvalid, "the stages are one"},
		{"env unset", "FROM a\nENV --unset A\n", Options{}, errdefs.ErrInvalid, "line 2: unknown flag: --unset"},
		{"unknown", "FROM a\nFROB x\n", Options{}, errdefs.ErrInvalid, "frob"},
		{"empty run", "FROM a\nRUN []\n", Options{}, errdefs.ErrInvalid, "RUN has no command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(t, tc.src, tc.opts)
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			if !errors.Is(err, tc.kind) {
				t.Errorf("error %q is not %v", err, tc.kind)
			}
			if !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(tc.want)) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

func TestPlatformOfHost(t *testing.T) {
	p := mustParse(t, "FROM --platform=$BUILDPLATFORM a\n", Options{})
	if p.Stages[0].Base.Image != "a" {
		t.Errorf("base = %+v", p.Stages[0].Base)
	}
}

func TestExpand(t *testing.T) {
	p := mustParse(t, `FROM a
ENV A=new B=$A C=${MISSING:-dflt}
COPY --chown=$U:$U $SRC ${DST}/
RUN echo $A
WORKDIR $HOME/x
ADD $URL /
`, Options{})
	env := []string{"A=old", "U=app", "SRC=src", "DST=/opt", "HOME=/root", "URL=http://x/y"}
	steps := p.Stages[0].Steps
	e, err := steps[0].Expand(env)
	if err != nil {
		t.Fatal(err)
	}
	if want := []Pair{{"A", "new", true}, {"B", "old", true}, {"C", "dflt", true}}; !reflect.DeepEqual(e.Pairs, want) {
		t.Errorf("ENV = %+v, want %+v", e.Pairs, want)
	}
	c, err := steps[1].Expand(env)
	if err != nil {
		t.Fatal(err)
	}
	if f := c.Files; f.Chown != "app:app" || f.Sources[0] != "src" || f.Dest != "/opt/" {
		t.Errorf("COPY = %+v", f)
	}
	if steps[1].Files.Sources[0] != "$SRC" {
		t.Error("Expand changed the plan's step")
	}
	r, _ := steps[2].Expand(env)
	if r.Args[0] != "echo $A" {
		t.Errorf("RUN expanded: %q", r.Args[0])
	}
	w, _ := steps[3].Expand(env)
	if w.Args[0] != "/root/x" {
		t.Errorf("WORKDIR = %q", w.Args[0])
	}
	if _, err := steps[4].Expand(env); !errors.Is(err, errdefs.ErrUnsupported) {
		t.Errorf("ADD $URL expanded to a URL: %v", err)
	}
	q, _ := mustParse(t, "FROM a\nENV B=\"two words\"\n", Options{}).Stages[0].Steps[0].Expand(nil)
	if q.Pairs[0].Value != "two words" {
		t.Errorf("ENV B = %q: quotes kept", q.Pairs[0].Value)
	}
	if steps[2].Key() == r.Key() && steps[1].Key() == c.Key() {
		t.Error("keys ignore expansion")
	}
	if r.Key() != steps[2].Key() {
		t.Error("RUN key changed without expansion")
	}
}

func TestArgValue(t *testing.T) {
	p := mustParse(t, "ARG G=global\nFROM a\n", Options{BuildArgs: map[string]string{"B": "cli"}})
	def := "own"
	for _, tc := range []struct {
		key  string
		def  *string
		want string
		ok   bool
	}{
		{"B", &def, "cli", true},
		{"G", nil, "global", true},
		{"G", &def, "own", true},
		{"X", nil, "", false},
	} {
		if v, ok := p.Arg(tc.key, tc.def); v != tc.want || ok != tc.ok {
			t.Errorf("Arg(%s) = %q %v, want %q %v", tc.key, v, ok, tc.want, tc.ok)
		}
	}
}
