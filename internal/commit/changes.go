package commit

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// Change is one `--change` instruction: Dockerfile syntax, one of CMD,
// ENTRYPOINT, ENV, WORKDIR, USER, EXPOSE, LABEL, as `docker commit
// --change` takes them.
type Change struct {
	// Instruction is upper case ("CMD").
	Instruction string
	// Args are the instruction's arguments: a command's argv (the shell
	// form already wrapped in /bin/sh -c), KEY=VALUE pairs for ENV and
	// LABEL, ports for EXPOSE, the one word of WORKDIR and USER.
	Args []string
}

// Changes lists the instructions --change takes.
var Changes = []string{"CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "USER", "WORKDIR"}

// ParseChange parses one --change value ("CMD [\"nginx\", \"-g\", \"daemon off;\"]",
// "ENV A=1 B=\"two words\"", "EXPOSE 80/tcp 53/udp"). Variables are not
// expanded: the value is taken as written.
func ParseChange(s string) (Change, error) {
	s = strings.TrimSpace(s)
	word, rest := s, ""
	if i := strings.IndexAny(s, " \t\n"); i >= 0 {
		word, rest = s[:i], s[i+1:]
	}
	c := Change{Instruction: strings.ToUpper(word)}
	rest = strings.TrimSpace(rest)
	fail := func(format string, args ...any) (Change, error) {
		return Change{}, fmt.Errorf("%w: --change %q: %s", errdefs.ErrInvalid, s, fmt.Sprintf(format, args...))
	}
	switch c.Instruction {
	case "CMD", "ENTRYPOINT":
		if strings.HasPrefix(rest, "[") {
			if err := json.Unmarshal([]byte(rest), &c.Args); err != nil {
				return fail("the exec form is a JSON array of strings: %v", err)
			}
			if c.Args == nil {
				c.Args = []string{}
			}
			return c, nil
		}
		if rest == "" {
			return fail("%s needs a command", c.Instruction)
		}
		c.Args = []string{"/bin/sh", "-c", rest}
	case "ENV", "LABEL":
		words, err := splitWords(rest)
		if err != nil {
			return fail("%v", err)
		}
		if len(words) == 0 {
			return fail("%s needs KEY=VALUE", c.Instruction)
		}
		if !strings.Contains(words[0], "=") {
			if c.Instruction == "LABEL" || len(words) < 2 {
				return fail("%s takes KEY=VALUE pairs", c.Instruction)
			}
			// ENV's legacy form: ENV KEY the rest of the line.
			key, value, _ := strings.Cut(rest, " ")
			words = []string{key + "=" + strings.TrimSpace(value)}
		}
		for _, w := range words {
			k, _, ok := strings.Cut(w, "=")
			if !ok || k == "" {
				return fail("%q is not KEY=VALUE", w)
			}
		}
		c.Args = words
	case "WORKDIR", "USER":
		words, err := splitWords(rest)
		if err != nil {
			return fail("%v", err)
		}
		if len(words) != 1 || words[0] == "" {
			return fail("%s takes one argument", c.Instruction)
		}
		c.Args = words
	case "EXPOSE":
		words, err := splitWords(rest)
		if err != nil {
			return fail("%v", err)
		}
		if len(words) == 0 {
			return fail("EXPOSE needs a port")
		}
		for _, w := range words {
			p, err := port(w)
			if err != nil {
				return fail("%v", err)
			}
			c.Args = append(c.Args, p)
		}
	default:
		return fail("%q is not an instruction --change takes (%s)", word, strings.Join(Changes, ", "))
	}
	return c, nil
}

// port normalizes PORT[/PROTO] to docker's config key ("80/tcp").
func port(w string) (string, error) {
	num, proto, ok := strings.Cut(strings.ToLower(w), "/")
	if !ok {
		proto = "tcp"
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("%q is not a port (1-65535, optionally /tcp, /udp or /sctp)", w)
	}
	if proto != "tcp" && proto != "udp" && proto != "sctp" {
		return "", fmt.Errorf("%q: protocol %q is not tcp, udp or sctp", w, proto)
	}
	return strconv.Itoa(n) + "/" + proto, nil
}

// Apply makes the changes to cfg, in order, as the instructions would in
// a Dockerfile: CMD and ENTRYPOINT replace (an ENTRYPOINT also clears the
// image's CMD, unless a change before it set one, as docker does), ENV
// sets keys in place (a new one at the end) and LABEL sets keys, EXPOSE
// adds ports, a relative WORKDIR is taken from the current one.
func Apply(cfg *v1.Config, changes []Change) {
	cmdSet := false
	for _, c := range changes {
		switch c.Instruction {
		case "CMD":
			cfg.Cmd, cmdSet = slices.Clone(c.Args), true
		case "ENTRYPOINT":
			cfg.Entrypoint = slices.Clone(c.Args)
			if !cmdSet {
				cfg.Cmd = nil
			}
		case "ENV":
			for _, kv := range c.Args {
				cfg.Env = setEnv(cfg.Env, kv)
			}
		case "LABEL":
			if cfg.Labels == nil {
				cfg.Labels = map[string]string{}
			}
			for _, kv := range c.Args {
				k, v, _ := strings.Cut(kv, "=")
				cfg.Labels[k] = v
			}
		case "EXPOSE":
			if cfg.ExposedPorts == nil {
				cfg.ExposedPorts = map[string]struct{}{}
			}
			for _, p := range c.Args {
				cfg.ExposedPorts[p] = struct{}{}
			}
		case "WORKDIR":
			cfg.WorkingDir = path.Join("/", cfg.WorkingDir, c.Args[0])
			if path.IsAbs(c.Args[0]) {
				cfg.WorkingDir = path.Clean(c.Args[0])
			}
		case "USER":
			cfg.User = c.Args[0]
		}
	}
}

// setEnv sets kv (KEY=VALUE) in env: in the place of the key's entry,
// as docker does, else at the end.
func setEnv(env []string, kv string) []string {
	k, _, _ := strings.Cut(kv, "=")
	if i := slices.IndexFunc(env, func(e string) bool { ek, _, _ := strings.Cut(e, "="); return ek == k }); i >= 0 {
		env[i] = kv
		return env
	}
	return append(env, kv)
}

// splitWords splits s on unquoted white space as a shell would, without
// expansions: '...' is literal, "..." takes \" and \\, a backslash
// outside quotes escapes the next character.
func splitWords(s string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch ch {
		case ' ', '\t', '\n':
			if inWord {
				words, inWord = append(words, w.String()), false
				w.Reset()
			}
			continue
		case '\\':
			if i+1 == len(s) {
				return nil, errors.New("a trailing backslash")
			}
			i++
			w.WriteByte(s[i])
		case '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, errors.New("an unterminated ' quote")
			}
			w.WriteString(s[i+1 : i+1+end])
			i += end + 1
		case '"':
			closed := false
			for i++; i < len(s); i++ {
				if s[i] == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\') {
					i++
				} else if s[i] == '"' {
					closed = true
					break
				}
				w.WriteByte(s[i])
			}
			if !closed {
				return nil, errors.New(`an unterminated " quote`)
			}
		default:
			w.WriteByte(ch)
		}
		inWord = true
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}
