package cli

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// envOf is the environment of --env-file files and -e values (run,
// create and exec): the files' variables in order, then -e's, which so
// override them.
func envOf(files, vals []string) ([]string, error) {
	fromFiles, err := readEnvFiles(files, os.LookupEnv)
	if err != nil {
		return nil, err
	}
	env, err := parseEnv(vals, os.LookupEnv)
	if err != nil {
		return nil, err
	}
	return append(fromFiles, env...), nil
}

// readEnvFiles reads --env-file files in order (see parseEnvFile).
func readEnvFiles(files []string, lookup func(string) (string, bool)) ([]string, error) {
	var out []string
	for _, name := range files {
		f, err := os.Open(name) //nolint:gosec // the user names their own file
		if err != nil {
			return nil, fmt.Errorf("%w: --env-file: %w", errdefs.ErrInvalid, err)
		}
		env, err := parseEnvFile(name, f, lookup)
		_ = f.Close()
		if err != nil {
			return nil, err
		}
		out = append(out, env...)
	}
	return out, nil
}

// parseEnvFile reads an env file with docker's rules: one KEY=VALUE a line,
// the value taken literally (no quotes, no expansion); a bare KEY takes the
// local value and is dropped when unset; blank lines and lines starting
// with # are skipped; leading white space is ignored; a key with white
// space in it is an error naming the file and line.
func parseEnvFile(name string, r io.Reader, lookup func(string) (string, bool)) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		b := sc.Bytes()
		if n == 1 {
			b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")) // a UTF-8 byte order mark
		}
		if !utf8.Valid(b) {
			return nil, fmt.Errorf("%w: env file %s, line %d: not valid UTF-8", errdefs.ErrInvalid, name, n)
		}
		line := strings.TrimLeftFunc(string(b), unicode.IsSpace)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, hasValue := strings.Cut(line, "=")
		switch {
		case key == "":
			return nil, fmt.Errorf("%w: env file %s, line %d: no variable name before '='", errdefs.ErrInvalid, name, n)
		case strings.IndexFunc(key, unicode.IsSpace) >= 0 || strings.ContainsRune(key, 0):
			return nil, fmt.Errorf("%w: env file %s, line %d: variable %q contains white space", errdefs.ErrInvalid, name, n, key)
		case hasValue:
			out = append(out, key+"="+value)
		default:
			if v, ok := lookup(key); ok {
				out = append(out, key+"="+v)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: env file %s: %w", errdefs.ErrInvalid, name, err)
	}
	return out, nil
}
