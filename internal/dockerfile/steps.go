package dockerfile

import (
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// Kind is a step's instruction, upper case as in a Dockerfile.
type Kind string

// The instructions a step can be.
const (
	Run         Kind = "RUN"
	Copy        Kind = "COPY"
	Add         Kind = "ADD"
	Env         Kind = "ENV"
	Arg         Kind = "ARG"
	Workdir     Kind = "WORKDIR"
	User        Kind = "USER"
	Entrypoint  Kind = "ENTRYPOINT"
	Cmd         Kind = "CMD"
	Expose      Kind = "EXPOSE"
	Label       Kind = "LABEL"
	StopSignal  Kind = "STOPSIGNAL"
	Volume      Kind = "VOLUME"
	Shell       Kind = "SHELL"
	Healthcheck Kind = "HEALTHCHECK"
	Maintainer  Kind = "MAINTAINER"
)

// Step is one instruction of a stage. Which fields it uses depends on
// Kind; words are as written until Expand substitutes variables.
type Step struct {
	Kind Kind `json:"kind"`
	// Line is where the instruction starts; Source its text as written
	// (what progress shows).
	Line   int    `json:"-"`
	Source string `json:"-"`
	// Args: RUN, CMD, ENTRYPOINT's command (ShellForm: a command line for
	// the stage's shell, else an exec form argv); SHELL's argv; EXPOSE's
	// ports; VOLUME's paths; the one value of WORKDIR, USER, STOPSIGNAL,
	// MAINTAINER.
	Args      []string `json:"args,omitempty"`
	ShellForm bool     `json:"shell_form,omitempty"`
	// Pairs: ENV and LABEL's KEY=VALUE, ARG's NAME[=DEFAULT].
	Pairs []Pair `json:"pairs,omitempty"`
	// Files: COPY and ADD.
	Files  *Files           `json:"files,omitempty"`
	Health *v1.HealthConfig `json:"health,omitempty"`

	escape rune
}

// Pair is a KEY=VALUE; HasValue is false for an ARG without a default.
type Pair struct {
	Key      string `json:"key"`
	Value    string `json:"value,omitempty"`
	HasValue bool   `json:"has_value,omitempty"`
}

// Files is what COPY and ADD copy: Sources (paths in the context, or in
// From) to Dest, owned by Chown and with Chmod's mode when given.
type Files struct {
	Sources []string `json:"sources"`
	Dest    string   `json:"dest"`
	// From is COPY --from (nil: the build context).
	From  *Base  `json:"from,omitempty"`
	Chown string `json:"chown,omitempty"`
	Chmod string `json:"chmod,omitempty"`
}

// step converts one buildkit command, refusing what banger does not do.
func (p *planner) step(c instructions.Command, names map[string]int, cur int) (Step, error) {
	line := lineOf(c)
	s := Step{Line: line, Source: c.Name(), escape: p.escape}
	if str, ok := c.(fmt.Stringer); ok {
		s.Source = str.String()
	}
	switch c := c.(type) {
	case *instructions.EnvCommand:
		if c.Unset {
			return s, unsupported(line, "ENV", "--unset", "drop the variable in a new stage instead")
		}
		s.Kind, s.Pairs = Env, pairs(c.Env)
	case *instructions.LabelCommand:
		if c.Unset {
			return s, unsupported(line, "LABEL", "--unset", "drop the flag")
		}
		s.Kind, s.Pairs = Label, pairs(c.Labels)
	case *instructions.ArgCommand:
		s.Kind = Arg
		for _, a := range c.Args {
			p.declared[a.Key] = true
			pr := Pair{Key: a.Key}
			if a.Value != nil {
				pr.Value, pr.HasValue = *a.Value, true
			}
			s.Pairs = append(s.Pairs, pr)
		}
	case *instructions.MaintainerCommand:
		s.Kind, s.Args = Maintainer, []string{c.Maintainer}
	case *instructions.WorkdirCommand:
		s.Kind, s.Args = Workdir, []string{c.Path}
	case *instructions.UserCommand:
		s.Kind, s.Args = User, []string{c.User}
	case *instructions.StopSignalCommand:
		s.Kind, s.Args = StopSignal, []string{c.Signal}
	case *instructions.ExposeCommand:
		s.Kind, s.Args = Expose, c.Ports
	case *instructions.VolumeCommand:
		if c.Unset {
			return s, unsupported(line, "VOLUME", "--unset", "drop the flag")
		}
		s.Kind, s.Args = Volume, c.Volumes
	case *instructions.ShellCommand:
		s.Kind, s.Args = Shell, c.Shell
	case *instructions.RunCommand:
		if len(c.FlagsUsed) > 0 {
			return s, unsupported(line, "RUN", "--"+c.FlagsUsed[0], "RUN steps run in a VM with the stage's files only; drop the flag")
		}
		s.Kind, s.Args, s.ShellForm = Run, c.CmdLine, c.PrependShell
		if len(s.Args) == 0 {
			return s, invalid(line, "RUN has no command")
		}
	case *instructions.CmdCommand:
		s.Kind, s.Args, s.ShellForm = Cmd, c.CmdLine, c.PrependShell
	case *instructions.EntrypointCommand:
		s.Kind, s.Args, s.ShellForm = Entrypoint, c.CmdLine, c.PrependShell
	case *instructions.HealthCheckCommand:
		s.Kind = Healthcheck
		h := c.Health
		s.Health = &v1.HealthConfig{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout, StartPeriod: h.StartPeriod, Retries: h.Retries}
	case *instructions.CopyCommand:
		switch {
		case c.Parents:
			return s, unsupported(line, "COPY", "--parents", "copy each directory with its own COPY")
		case len(c.ExcludePatterns) > 0:
			return s, unsupported(line, "COPY", "--exclude", "list the files to leave out in .dockerignore")
		}
		s.Kind = Copy
		s.Files = &Files{Sources: c.SourcePaths, Dest: c.DestPath, Chown: c.Chown, Chmod: c.Chmod}
		if c.From != "" {
			from, _, err := lexer(p.escape).ProcessWord(c.From, shell.EnvsFromSlice(p.env))
			if err != nil {
				return s, invalid(line, "COPY --from=%s: %v", c.From, err)
			}
			b, err := p.base(line, "COPY", from, names, cur, true)
			if err != nil {
				return s, err
			}
			s.Files.From = &b
		}
	case *instructions.AddCommand:
		switch {
		case c.KeepGitDir != nil:
			return s, unsupported(line, "ADD", "--keep-git-dir", "ADD takes local files only")
		case c.Checksum != "":
			return s, unsupported(line, "ADD", "--checksum", "ADD takes local files only")
		case c.Unpack != nil:
			return s, unsupported(line, "ADD", "--unpack", "drop the flag")
		case len(c.ExcludePatterns) > 0:
			return s, unsupported(line, "ADD", "--exclude", "list the files to leave out in .dockerignore")
		}
		s.Kind = Add
		s.Files = &Files{Sources: c.SourcePaths, Dest: c.DestPath, Chown: c.Chown, Chmod: c.Chmod}
		if err := checkLocal(line, s.Files.Sources); err != nil {
			return s, err
		}
	case *instructions.OnbuildCommand:
		return s, unsupported(line, "ONBUILD", "triggers", "run the steps in the image that builds FROM this one")
	default:
		return s, unsupported(line, strings.ToUpper(c.Name()), "instructions", "remove it")
	}
	return s, nil
}

// checkLocal refuses ADD of a URL or a git repository: the daemon
// fetches nothing on a build's behalf.
func checkLocal(line int, sources []string) error {
	for _, src := range sources {
		if strings.Contains(src, "://") || strings.HasPrefix(src, "git@") {
			return unsupported(line, "ADD", "URL sources ("+src+")", "download the file into the build context first")
		}
	}
	return nil
}

func pairs(kv instructions.KeyValuePairs) []Pair {
	out := make([]Pair, 0, len(kv))
	for _, p := range kv {
		out = append(out, Pair{Key: p.Key, Value: p.Value, HasValue: true})
	}
	return out
}
