package cli

import (
	"bytes"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/bangerdev/banger/internal/units"
)

// parseLine finds the command of a command line and parses its flags the
// way Execute does, without running it.
func parseLine(t *testing.T, args ...string) (*cobra.Command, []string) {
	t.Helper()
	root := NewRoot(&App{Stdin: strings.NewReader(""), Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}})
	cmd, rest, err := root.Find(args)
	if err != nil {
		t.Fatalf("%q: find: %v", args, err)
	}
	if err := cmd.ParseFlags(rest); err != nil {
		t.Fatalf("%q: %v", args, err)
	}
	return cmd, cmd.Flags().Args()
}

// TestFlagsAfterTheTargetAreTheCommands checks docker's argument rule on
// run, create, exec and ssh: banger's flags end at IMAGE or VM.
func TestFlagsAfterTheTargetAreTheCommands(t *testing.T) {
	tests := []struct {
		line    []string
		target  string
		command []string
		flags   map[string]string
	}{
		{[]string{"exec", "web", "ls", "-la", "/"}, "web", []string{"ls", "-la", "/"}, nil},
		{[]string{"exec", "-it", "-e", "A=1", "web", "sh", "-c", "echo $A"}, "web", []string{"sh", "-c", "echo $A"}, map[string]string{"interactive": "true", "tty": "true"}},
		{[]string{"exec", "web", "--", "ls", "-la"}, "web", []string{"ls", "-la"}, nil},
		{[]string{"exec", "--", "web", "ls"}, "web", []string{"ls"}, nil},
		{[]string{"exec", "web", "env", "--", "-x"}, "web", []string{"env", "--", "-x"}, nil},
		{[]string{"run", "--rm", "busybox", "uname", "-a"}, "busybox", []string{"uname", "-a"}, map[string]string{"rm": "true"}},
		{[]string{"run", "--rm", "busybox", "--", "uname", "-a"}, "busybox", []string{"uname", "-a"}, map[string]string{"rm": "true"}},
		{[]string{"run", "-d", "--name", "x", "busybox", "--rm"}, "busybox", []string{"--rm"}, map[string]string{"rm": "false", "detach": "true"}},
		{[]string{"create", "-m", "1G", "--cpus", "1.5", "busybox", "top", "-d", "1"}, "busybox", []string{"top", "-d", "1"}, map[string]string{"memory": "1GiB", "cpus": "1.5"}},
		{[]string{"ssh", "dev", "ls", "-l"}, "dev", []string{"ls", "-l"}, nil},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.line, " "), func(t *testing.T) {
			cmd, args := parseLine(t, tt.line...)
			target, command := splitCommand(args)
			if target != tt.target || !slices.Equal(command, tt.command) {
				t.Errorf("target %q command %q, want %q %q", target, command, tt.target, tt.command)
			}
			for name, want := range tt.flags {
				if got := cmd.Flags().Lookup(name).Value.String(); got != want {
					t.Errorf("--%s = %q, want %q", name, got, want)
				}
			}
		})
	}
}

func TestRoundCPUs(t *testing.T) {
	tests := []struct {
		in   float64
		want int
		note string
	}{
		{0, 0, ""},
		{1, 1, ""},
		{2, 2, ""},
		{1.5, 2, "--cpus 1.5 rounded up to 2"},
		{0.25, 1, "--cpus 0.25 rounded up to 1"},
		{3.01, 4, "rounded up to 4"},
	}
	for _, tt := range tests {
		got, err := roundCPUs(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("roundCPUs(%v) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
		f := vmFlags{cpus: tt.in}
		if note := f.cpuNote(); (tt.note == "") != (note == "") || !strings.Contains(note, tt.note) {
			t.Errorf("cpuNote(%v) = %q, want %q", tt.in, note, tt.note)
		}
		if s, err := f.spec("img", nil); err != nil || s.CPUs != tt.want {
			t.Errorf("spec with --cpus %v: CPUs %d, %v", tt.in, s.CPUs, err)
		}
	}
	for _, bad := range []float64{-1, math.NaN(), 5000} {
		if _, err := roundCPUs(bad); err == nil {
			t.Errorf("roundCPUs(%v) accepted", bad)
		}
	}
}

func TestParseLabels(t *testing.T) {
	got, err := parseLabels([]string{"team=web", "bare", "url=http://x/?a=b", "team=api"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"team": "api", "bare": "", "url": "http://x/?a=b"}
	if len(got) != len(want) {
		t.Fatalf("parseLabels = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("label %s = %q, want %q", k, got[k], v)
		}
	}
	for _, bad := range []string{"=x", "a b=c", ""} {
		if _, err := parseLabels([]string{bad}); err == nil {
			t.Errorf("parseLabels(%q) accepted", bad)
		}
	}
	if l, err := parseLabels(nil); l != nil || err != nil {
		t.Errorf("no labels: %v %v", l, err)
	}
	f := vmFlags{labels: []string{"a=1"}, memory: units.Size(512 * units.MiB)}
	if s, err := f.spec("img", nil); err != nil || s.Labels["a"] != "1" || s.MemoryMiB != 512 {
		t.Errorf("spec labels %v memory %d: %v", s.Labels, s.MemoryMiB, err)
	}
}
