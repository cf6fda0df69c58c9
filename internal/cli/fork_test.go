package cli

import (
	"slices"
	"strings"
	"testing"
)

// One fork is named as asked (or by the daemon); several are NAME-1..N,
// as docker compose names replicas.
func TestForkNames(t *testing.T) {
	for _, tc := range []struct {
		name  string
		count int
		want  []string
	}{
		{"dev2", 1, []string{"dev2"}},
		{"", 1, []string{""}},
		{"w", 3, []string{"w-1", "w-2", "w-3"}},
		{"", 2, []string{"fork-1", "fork-2"}},
	} {
		if got := forkNames(tc.name, tc.count); !slices.Equal(got, tc.want) {
			t.Errorf("forkNames(%q, %d) = %q, want %q", tc.name, tc.count, got, tc.want)
		}
	}
}

// run --from refuses, naming them, the flags that would describe a new VM
// (the checkpoint's VM starts as it was), before asking the daemon; the
// ones that apply pass.
func TestRunFromFlags(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		refused string // "" when the flags pass
	}{
		{[]string{"-p", "8080:80", "--cpus", "2"}, "--cpus, --publish with --from"},
		{[]string{"--rm", "-it"}, "--interactive, --rm, --tty with --from"},
		{[]string{"-e", "A=1"}, "--env with --from"},
		{[]string{"-d", "--name", "dev2", "--timings"}, ""},
	} {
		var out, errOut strings.Builder
		app := &App{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut, host: "unix:///nonexistent/banger.sock"}
		code := app.Run(append([]string{"run", "--from", "warm"}, tc.args...))
		refused := strings.Contains(errOut.String(), "with --from")
		switch {
		case code == 0:
			t.Errorf("run --from warm %q succeeded without a daemon", tc.args)
		case tc.refused == "" && refused:
			t.Errorf("run --from warm %q refused: %s", tc.args, errOut.String())
		case tc.refused != "" && (!strings.Contains(errOut.String(), tc.refused) || !strings.Contains(errOut.String(), "only --name, -d and --timings apply")):
			t.Errorf("run --from warm %q: %s; want %q refused", tc.args, errOut.String(), tc.refused)
		}
	}
}
