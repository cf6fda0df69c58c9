package dockerfile

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// Expand substitutes variables and removes quotes in the step's words as docker does, from
// env (KEY=VALUE, the stage's ENV and ARG values; a later entry wins).
// Every word of one instruction sees the same env: in `ENV A=1 B=$A`, B
// gets the A from before the line. RUN, CMD, ENTRYPOINT, SHELL and
// HEALTHCHECK are left as written: the shell expands them in the guest.
// The words of a plan's steps are raw (ENV's values keep their quotes)
// until expanded: use a step only through Expand.
func (s Step) Expand(env []string) (Step, error) {
	lex := lexer(s.escape)
	get := shell.EnvsFromSlice(env)
	var err error
	word := func(w string) string {
		if err != nil {
			return w
		}
		var out string
		out, _, err = lex.ProcessWord(w, get)
		return out
	}
	out := s
	out.Args = slices.Clone(s.Args)
	out.Pairs = slices.Clone(s.Pairs)
	switch s.Kind {
	case Env, Label, Arg:
		for i, p := range out.Pairs {
			out.Pairs[i].Key = word(p.Key)
			if p.HasValue {
				out.Pairs[i].Value = word(p.Value)
			}
		}
	case Workdir, User, StopSignal, Expose, Volume:
		for i, a := range out.Args {
			out.Args[i] = word(a)
		}
	case Copy, Add:
		f := *s.Files
		f.Sources = slices.Clone(f.Sources)
		for i, src := range f.Sources {
			f.Sources[i] = word(src)
		}
		f.Dest, f.Chown, f.Chmod = word(f.Dest), word(f.Chown), word(f.Chmod)
		out.Files = &f
	}
	if err != nil {
		return s, invalid(s.Line, "%s: %v", s.Kind, err)
	}
	if s.Kind == Add {
		if err := checkLocal(s.Line, out.Files.Sources); err != nil {
			return s, err
		}
	}
	return out, nil
}

// Key is the step's identity for a build cache: its kind and fields
// after expansion, without its line or spelling.
func (s Step) Key() string {
	b, err := json.Marshal(s)
	if err != nil {
		// Every field marshals; a failure is a bug, and keying on the
		// source text still keys on what the step does.
		return fmt.Sprintf("%s %q", s.Kind, s.Source)
	}
	return string(b)
}
