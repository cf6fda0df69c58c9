// Package kconfig reads Linux kernel configurations: the `.config` text a
// build leaves in /boot/config-<release>, or the copy a kernel built with
// CONFIG_IKCONFIG embeds in itself. Kernel packages come from anywhere
// (a .deb, a tarball, an OCI layer), so the parser treats its input as
// untrusted: it never fails on odd lines, it bounds what it keeps, and it
// is fuzzed.
package kconfig

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strings"
)

// State is how a kernel provides one option.
type State string

// The states of an option.
const (
	Builtin State = "builtin" // =y
	Module  State = "module"  // =m
	Missing State = "missing" // "is not set", absent, or =n
)

// maxLine bounds one config line; real ones are under 1 KiB.
const maxLine = 64 << 10

// Config is a parsed kernel configuration: option name (with its CONFIG_
// prefix) to raw value ("y", "m", "\"string\"", "0x1000").
type Config map[string]string

// Parse reads a kernel .config. Comments, blank lines and lines that are not
// assignments are ignored ("# CONFIG_X is not set" is recorded as "n").
// Only I/O errors and over-long lines fail.
func Parse(r io.Reader) (Config, error) {
	c := Config{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, "# "); ok {
			if name, ok := strings.CutSuffix(rest, " is not set"); ok && validName(name) {
				c[name] = "n"
			}
			continue
		}
		name, val, ok := strings.Cut(line, "=")
		if !ok || !validName(name) {
			continue
		}
		c[name] = val
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read kernel config: %w", err)
	}
	return c, nil
}

// validName accepts CONFIG_ followed by [A-Za-z0-9_]+.
func validName(s string) bool {
	rest, ok := strings.CutPrefix(s, "CONFIG_")
	if !ok || rest == "" {
		return false
	}
	for _, r := range rest {
		if r != '_' && (r < '0' || r > '9') && (r < 'A' || r > 'Z') && (r < 'a' || r > 'z') {
			return false
		}
	}
	return true
}

// State classifies option (with or without the CONFIG_ prefix).
func (c Config) State(option string) State {
	if !strings.HasPrefix(option, "CONFIG_") {
		option = "CONFIG_" + option
	}
	switch c[option] {
	case "y":
		return Builtin
	case "m":
		return Module
	default:
		return Missing
	}
}

// Value returns an option's raw value, unquoted when it is a string.
func (c Config) Value(option string) string {
	if !strings.HasPrefix(option, "CONFIG_") {
		option = "CONFIG_" + option
	}
	v := c[option]
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		return v[1 : len(v)-1]
	}
	return v
}

// String renders the config as .config text, options sorted.
func (c Config) String() string {
	names := make([]string, 0, len(c))
	for n := range c {
		names = append(names, n)
	}
	slices.Sort(names)
	var b strings.Builder
	for _, n := range names {
		if c[n] == "n" {
			fmt.Fprintf(&b, "# %s is not set\n", n)
			continue
		}
		fmt.Fprintf(&b, "%s=%s\n", n, c[n])
	}
	return b.String()
}
