package cli

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"

	"github.com/spf13/cobra"

	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// stop's and restart's -t reaches the daemon only when given: without it
// the daemon's vm.stop_timeout applies, and -t 0 is a real timeout.
func TestStopTimeFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want *int
	}{
		{nil, nil},
		{[]string{"-t", "0"}, new(int)},
		{[]string{"--time", "7"}, func() *int { n := 7; return &n }()},
	} {
		cmd := &cobra.Command{}
		query := stopFlags(cmd)
		if err := cmd.ParseFlags(tc.args); err != nil {
			t.Fatal(err)
		}
		got := query().Timeout
		if (got == nil) != (tc.want == nil) || got != nil && *got != *tc.want {
			t.Errorf("%q: timeout %v, want %v", tc.args, got, tc.want)
		}
	}
}

func TestRestartPolicy(t *testing.T) {
	for in, want := range map[string]api.RestartPolicy{
		"":             {},
		"no":           {},
		"always":       {Name: "always"},
		"on-failure:3": {Name: "on-failure", MaxRetries: 3},
	} {
		if got, err := restartPolicy(in); err != nil || got != want {
			t.Errorf("restartPolicy(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	if _, err := restartPolicy("sometimes"); !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("restartPolicy(sometimes): %v, want ErrInvalid", err)
	}
}

// eachVM goes on past a failed VM and fails with ExitBanger after printing
// each error; a single VM's error comes back as it is, so an interrupt
// still exits 128+N.
func TestEachVM(t *testing.T) {
	var out, errOut strings.Builder
	app := &App{Stdout: &out, Stderr: &errOut, host: "unix:///nonexistent/banger.sock"}
	boom := errors.New("vm b: boom")
	do := func(_ context.Context, _ *api.Client, ref string) error {
		if ref == "b" {
			return boom
		}
		return nil
	}
	err := app.eachVM(context.Background(), []string{"a", "b", "c"}, do)
	var exit *ExitError
	if !errors.As(err, &exit) || exit.Code != ExitBanger || out.String() != "a\nc\n" || errOut.String() != "banger: vm b: boom\n" {
		t.Errorf("a, b (failing), c: %v; stdout %q, stderr %q", err, out.String(), errOut.String())
	}
	out.Reset()
	errOut.Reset()
	if err := app.eachVM(context.Background(), []string{"b"}, do); !errors.Is(err, boom) || out.Len()+errOut.Len() != 0 {
		t.Errorf("one failing VM: %v; stdout %q, stderr %q", err, out.String(), errOut.String())
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(interrupted{syscall.SIGINT})
	err = app.eachVM(ctx, []string{"a"}, func(ctx context.Context, _ *api.Client, _ string) error { return ctx.Err() })
	if code := exitCode(ctx, err); code != 130 {
		t.Errorf("one VM interrupted: exit %d, want 130", code)
	}
}
