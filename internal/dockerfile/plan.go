// Package dockerfile turns a Dockerfile into a typed build plan: the
// stages a target needs, in the order they build, each a base (an image,
// scratch, or an earlier stage) and a list of steps. Parsing is
// buildkit's (frontend/dockerfile/parser and instructions); this package
// decides what banger supports and refuses the rest naming the line.
// Variable substitution ($VAR, ${VAR:-default}) is docker's, done by
// Step.Expand when the executor knows the stage's environment.
package dockerfile

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// maxDockerfile bounds what Parse reads: a Dockerfile is a small text.
const maxDockerfile = 4 << 20

// Plan is a parsed Dockerfile: the stages the target needs, dependencies
// first; the last is the target.
type Plan struct {
	Stages []Stage
	// Unused lists --build-arg names no ARG declares (docker warns).
	Unused []string
	// BuildArgs are the --build-arg values; Global the values of the
	// ARGs before the first FROM, with --build-arg values (what the FROM
	// lines see, and a stage once it declares one again: see Arg).
	BuildArgs map[string]string
	Global    map[string]string
}

// Stage is one FROM and its steps.
type Stage struct {
	// Name is the stage's AS name ("" when it has none); Index its
	// position in the Dockerfile (COPY --from=0 names the first).
	Name  string
	Index int
	Line  int
	// Source is the FROM line as written.
	Source string
	Base   Base
	Steps  []Step
}

// BaseKind says what a Base names.
type BaseKind int

// The kinds of base.
const (
	// BaseImage is an image reference, local or pulled.
	BaseImage BaseKind = iota
	// BaseScratch is the empty image.
	BaseScratch
	// BaseStage is an earlier stage's result.
	BaseStage
)

// Base is what a stage starts from, or what COPY --from copies out of:
// an image (Image), scratch, or an earlier stage (Stage, a position in
// Plan.Stages).
type Base struct {
	Kind  BaseKind
	Image string
	Stage int
}

func (b Base) String() string {
	switch b.Kind {
	case BaseScratch:
		return "scratch"
	case BaseStage:
		return fmt.Sprintf("stage %d", b.Stage)
	}
	return b.Image
}

// Options are the build's inputs besides the Dockerfile.
type Options struct {
	// BuildArgs are --build-arg values.
	BuildArgs map[string]string
	// Target names the stage to build; "" builds the last.
	Target string
	// Platform is the host's ("linux/amd64"): FROM --platform must name
	// it, since every step runs on this host.
	Platform string
}

// Parse reads a Dockerfile and plans the build. Errors name the line and
// say what to change; an unsupported instruction or flag is an
// errdefs.ErrUnsupported error.
func Parse(r io.Reader, opts Options) (*Plan, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxDockerfile+1))
	if err != nil {
		return nil, fmt.Errorf("read dockerfile: %w", err)
	}
	if len(data) > maxDockerfile {
		return nil, fmt.Errorf("dockerfile is over %d MiB: %w", maxDockerfile>>20, errdefs.ErrInvalid)
	}
	res, err := parser.Parse(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("dockerfile: %w (%w)", err, errdefs.ErrInvalid)
	}
	if err := checkHeredocs(res.AST); err != nil {
		return nil, err
	}
	stages, metaArgs, err := instructions.Parse(res.AST, nil)
	if err != nil {
		return nil, fmt.Errorf("dockerfile: %w (%w)", err, errdefs.ErrInvalid)
	}
	if len(stages) == 0 {
		return nil, fmt.Errorf("dockerfile has no FROM: %w; start it with FROM IMAGE (or FROM scratch)", errdefs.ErrInvalid)
	}
	p := &planner{escape: res.EscapeToken, opts: opts, declared: map[string]bool{}}
	if err := p.metaArgs(metaArgs); err != nil {
		return nil, err
	}
	return p.plan(stages)
}

// checkHeredocs refuses heredocs (RUN <<EOF, COPY <<EOF): the executor
// does not run them yet, and silently dropping the body would build
// something else.
func checkHeredocs(ast *parser.Node) error {
	for _, n := range ast.Children {
		if len(n.Heredocs) > 0 {
			return unsupported(n.StartLine, strings.ToUpper(n.Value), "heredocs (<<EOF)", "write the script to a file in the context and COPY it")
		}
	}
	return nil
}

func unsupported(line int, instr, what, todo string) error {
	return fmt.Errorf("dockerfile line %d: %s %s: %w by banger image build; %s", line, instr, what, errdefs.ErrUnsupported, todo)
}

func invalid(line int, format string, a ...any) error {
	return fmt.Errorf("dockerfile line %d: %s: %w", line, fmt.Sprintf(format, a...), errdefs.ErrInvalid)
}

// lexer returns docker's word expander for the Dockerfile's escape token.
func lexer(escape rune) *shell.Lex { return shell.NewLex(escape) }
