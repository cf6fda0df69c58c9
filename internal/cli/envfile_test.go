package cli

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode"
)

func lookupHome(k string) (string, bool) {
	if k == "HOME" {
		return "/home/u", true
	}
	return "", false
}

func TestParseEnvFile(t *testing.T) {
	in := "\xef\xbb\xbf# a comment\n" +
		"A=1\n" +
		"\n" +
		"   B= spaced value \n" + // leading space goes; the value stays literal
		"  # indented comment\n" +
		"QUOTED=\"not unquoted\"\n" +
		"EMPTY=\n" +
		"HOME\n" +
		"UNSET\n" +
		"URL=http://x/?a=b\n" +
		"NOEOL=last"
	got, err := parseEnvFile("web.env", strings.NewReader(in), lookupHome)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"A=1", "B= spaced value ", `QUOTED="not unquoted"`, "EMPTY=", "HOME=/home/u", "URL=http://x/?a=b", "NOEOL=last"}
	if !slices.Equal(got, want) {
		t.Errorf("parseEnvFile =\n%q\nwant\n%q", got, want)
	}
	for _, tt := range []struct{ in, want string }{
		{"B = x\n", `web.env, line 1: variable "B " contains white space`},
		{"OK=1\n=2\n", "web.env, line 2: no variable name"},
		{"X=\xff\n", "web.env, line 1: not valid UTF-8"},
	} {
		if _, err := parseEnvFile("web.env", strings.NewReader(tt.in), lookupHome); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseEnvFile(%q) = %v, want %q", tt.in, err, tt.want)
		}
	}
}

func TestEnvFilesThenEnvFlags(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.env"), filepath.Join(dir, "b.env")
	if err := os.WriteFile(a, []byte("X=from-a\nY=from-a\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b, []byte("Y=from-b\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := vmFlags{envFiles: []string{a, b}, env: []string{"X=from-flag"}}
	s, err := f.spec("img", nil)
	if err != nil {
		t.Fatal(err)
	}
	// The guest's environment takes the last of each key: -e wins, then
	// the later file.
	if want := []string{"X=from-a", "Y=from-a", "Y=from-b", "X=from-flag"}; !slices.Equal(s.Env, want) {
		t.Errorf("env %q, want %q", s.Env, want)
	}
	f = vmFlags{envFiles: []string{filepath.Join(dir, "missing.env")}}
	if _, err := f.spec("img", nil); err == nil || !strings.Contains(err.Error(), "missing.env") {
		t.Errorf("a missing env file: %v", err)
	}
}

// FuzzParseEnvFile: whatever the file holds, every variable parsed is
// KEY=VALUE with a non-empty KEY free of white space.
func FuzzParseEnvFile(f *testing.F) {
	for _, seed := range []string{"A=1\n", "# c\n\nB\n", " C= x \n", "=x\n", "A B=1", "\xef\xbb\xbfD=4\r\n", "E=\xff"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		env, err := parseEnvFile("fuzz.env", strings.NewReader(in), lookupHome)
		if err != nil {
			return
		}
		for _, kv := range env {
			k, _, ok := strings.Cut(kv, "=")
			if !ok || k == "" || strings.IndexFunc(k, unicode.IsSpace) >= 0 {
				t.Fatalf("parsed %q from %q", kv, in)
			}
		}
	})
}
