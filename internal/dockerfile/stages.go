package dockerfile

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// planner carries what planning the stages needs: the escape token, the
// options and the global build arguments.
type planner struct {
	escape rune
	opts   Options
	// env is what FROM lines and COPY --from expand with: the automatic
	// platform arguments and the ARGs before the first FROM.
	env      []string
	global   map[string]string
	declared map[string]bool
}

// metaArgs evaluates the ARGs before the first FROM: a --build-arg value
// wins over the default, which may use earlier ones.
func (p *planner) metaArgs(args []instructions.ArgCommand) error {
	p.env = platformArgs(p.opts.Platform)
	p.global = map[string]string{}
	lex := lexer(p.escape)
	for _, a := range args {
		line := lineOf(&a)
		for _, kv := range a.Args {
			p.declared[kv.Key] = true
			v, ok := p.opts.BuildArgs[kv.Key]
			if !ok && kv.Value != nil {
				x, _, err := lex.ProcessWord(*kv.Value, shell.EnvsFromSlice(p.env))
				if err != nil {
					return invalid(line, "ARG %s: %v", kv.Key, err)
				}
				v, ok = x, true
			}
			if ok {
				p.global[kv.Key] = v
				p.env = append(p.env, kv.Key+"="+v)
			}
		}
	}
	return nil
}

// platformArgs are the automatic build arguments docker defines for the
// platform ("linux/amd64"): TARGETPLATFORM, TARGETOS, TARGETARCH and the
// BUILD* twins; the build and target platform are the host's.
func platformArgs(platform string) []string {
	if platform == "" {
		return nil
	}
	osName, arch, _ := strings.Cut(platform, "/")
	arch, variant, _ := strings.Cut(arch, "/")
	var env []string
	for _, pre := range []string{"TARGET", "BUILD"} {
		env = append(env, pre+"PLATFORM="+platform, pre+"OS="+osName, pre+"ARCH="+arch, pre+"VARIANT="+variant)
	}
	return env
}

func (p *planner) plan(stages []instructions.Stage) (*Plan, error) {
	lex := lexer(p.escape)
	names := map[string]int{}
	all := make([]Stage, len(stages))
	deps := make([][]int, len(stages))
	for i := range stages {
		st := &stages[i]
		line := 0
		if len(st.Location) > 0 {
			line = st.Location[0].Start.Line
		}
		if st.Platform != "" {
			plat, _, err := lex.ProcessWord(st.Platform, shell.EnvsFromSlice(p.env))
			if err != nil {
				return nil, invalid(line, "FROM --platform: %v", err)
			}
			if plat != p.opts.Platform {
				return nil, unsupported(line, "FROM", "--platform="+plat,
					fmt.Sprintf("every step runs on this host, which is %s; drop the flag or build on a %s host", p.opts.Platform, plat))
			}
		}
		if len(st.Reset) > 0 {
			return nil, unsupported(line, "FROM", "--reset", "drop the flag")
		}
		baseName, _, err := lex.ProcessWord(st.BaseName, shell.EnvsFromSlice(p.env))
		if err != nil {
			return nil, invalid(line, "FROM %s: %v", st.BaseName, err)
		}
		base, err := p.base(line, "FROM", baseName, names, i, false)
		if err != nil {
			return nil, err
		}
		s := Stage{Name: st.Name, Index: i, Line: line, Source: st.SourceCode, Base: base}
		if base.Kind == BaseStage {
			deps[i] = append(deps[i], base.Stage)
		}
		for _, c := range st.Commands {
			step, err := p.step(c, names, i)
			if err != nil {
				return nil, err
			}
			if step.Files != nil && step.Files.From != nil && step.Files.From.Kind == BaseStage {
				deps[i] = append(deps[i], step.Files.From.Stage)
			}
			s.Steps = append(s.Steps, step)
		}
		if st.Name != "" {
			key := strings.ToLower(st.Name)
			if prev, dup := names[key]; dup {
				return nil, invalid(line, "stage name %q is already the name of stage %d (line %d)", st.Name, prev, all[prev].Line)
			}
			names[key] = i
		}
		all[i] = s
	}
	target := len(all) - 1
	if p.opts.Target != "" {
		t, ok := names[strings.ToLower(p.opts.Target)]
		if !ok {
			return nil, fmt.Errorf("--target %s: no stage has that name (the stages are %s): %w",
				p.opts.Target, stageNames(all), errdefs.ErrInvalid)
		}
		target = t
	}
	return p.assemble(all, deps, target), nil
}

// base resolves what FROM or COPY --from names: an earlier stage (by
// name, or by index for COPY --from), scratch, or an image.
func (p *planner) base(line int, instr, name string, names map[string]int, cur int, byIndex bool) (Base, error) {
	if name == "" {
		return Base{}, invalid(line, "%s names no image", instr)
	}
	if i, ok := names[strings.ToLower(name)]; ok {
		return Base{Kind: BaseStage, Stage: i}, nil
	}
	if byIndex {
		if n, err := strconv.Atoi(name); err == nil {
			if n < 0 || n >= cur {
				return Base{}, invalid(line, "%s --from=%d: there is no earlier stage %d (stages count from 0)", instr, n, n)
			}
			return Base{Kind: BaseStage, Stage: n}, nil
		}
	}
	if strings.EqualFold(name, "scratch") {
		if byIndex {
			return Base{}, invalid(line, "%s --from=scratch: scratch holds no files", instr)
		}
		return Base{Kind: BaseScratch}, nil
	}
	return Base{Kind: BaseImage, Image: name}, nil
}

// assemble keeps the stages the target needs, in order, with their
// references renumbered to positions in the plan.
func (p *planner) assemble(all []Stage, deps [][]int, target int) *Plan {
	need := map[int]bool{}
	var visit func(int)
	visit = func(i int) {
		if need[i] {
			return
		}
		need[i] = true
		for _, d := range deps[i] {
			visit(d)
		}
	}
	visit(target)
	pos := map[int]int{}
	plan := &Plan{}
	for i := range all {
		if need[i] {
			pos[i] = len(plan.Stages)
			plan.Stages = append(plan.Stages, all[i])
		}
	}
	for k := range plan.Stages {
		s := &plan.Stages[k]
		if s.Base.Kind == BaseStage {
			s.Base.Stage = pos[s.Base.Stage]
		}
		for j := range s.Steps {
			if c := s.Steps[j].Files; c != nil && c.From != nil && c.From.Kind == BaseStage {
				c.From.Stage = pos[c.From.Stage]
			}
		}
	}
	plan.BuildArgs = p.opts.BuildArgs
	plan.Global = p.global
	for k := range p.opts.BuildArgs {
		if !p.declared[k] && !predefinedArg(k) {
			plan.Unused = append(plan.Unused, k)
		}
	}
	slices.Sort(plan.Unused)
	return plan
}

// predefinedArg reports the proxy arguments docker accepts without an
// ARG (they reach RUN's environment only when given).
func predefinedArg(k string) bool {
	switch strings.ToUpper(k) {
	case "HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY":
		return true
	}
	return false
}

func stageNames(all []Stage) string {
	var n []string
	for _, s := range all {
		if s.Name != "" {
			n = append(n, s.Name)
		}
	}
	if len(n) == 0 {
		return "unnamed: name one with FROM IMAGE AS NAME"
	}
	return strings.Join(n, ", ")
}

// Arg answers the value an ARG in a stage takes: the --build-arg value,
// else its own default (def, already expanded), else the global ARG's.
func (p *Plan) Arg(key string, def *string) (string, bool) {
	if v, ok := p.BuildArgs[key]; ok {
		return v, true
	}
	if def != nil {
		return *def, true
	}
	v, ok := p.Global[key]
	return v, ok
}

func lineOf(c instructions.Command) int {
	if loc := c.Location(); len(loc) > 0 {
		return loc[0].Start.Line
	}
	return 0
}
