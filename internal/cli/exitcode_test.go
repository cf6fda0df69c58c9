package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/bangerdev/banger/pkg/errdefs"
)

func TestExitCodeOfEachKindOfError(t *testing.T) {
	interruptedBy := func(sig syscall.Signal) context.Context {
		ctx, cancel := context.WithCancelCause(context.Background())
		cancel(interrupted{sig})
		return ctx
	}
	plain := context.Background()
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want int
	}{
		{"success", plain, nil, 0},
		{"the guest command's own status", plain, &ExitError{Code: 3}, 3},
		{"a guest command killed by SIGKILL", plain, fmt.Errorf("exec: %w", &ExitError{Code: 137}), 137},
		{"the guest could not find the command", plain, &ExitError{Code: ExitNotFound}, 127},
		{"the guest could not execute the command", plain, &ExitError{Code: ExitCannotInvoke}, 126},
		{"daemon unreachable", plain, fmt.Errorf("%w: cannot reach the banger daemon", errdefs.ErrUnavailable), ExitBanger},
		{"image missing", plain, fmt.Errorf("image %q: %w", "x", errdefs.ErrNotFound), ExitBanger},
		{"bad flag", plain, errors.New("unknown flag: --bogus"), ExitBanger},
		{"bad argument", plain, fmt.Errorf("%w: --format", errdefs.ErrInvalid), ExitBanger},
		{"boot failure", plain, errors.New("start vm web: vmm: qemu exited"), ExitBanger},
		{"interrupted by Ctrl-C", interruptedBy(syscall.SIGINT), fmt.Errorf("pull: %w", context.Canceled), 130},
		{"interrupted by SIGTERM", interruptedBy(syscall.SIGTERM), context.Canceled, 143},
		{"canceled without a signal", plain, context.Canceled, ExitBanger},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exitCode(tt.ctx, tt.err); got != tt.want {
				t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}

func TestCommandLineErrorsExit125(t *testing.T) {
	tests := []struct {
		args      []string
		code      int
		stderrHas []string
	}{
		{[]string{"image", "foo"}, ExitBanger, []string{`unknown command "foo" for "banger image"`, "See 'banger image --help'."}},
		{[]string{"kernel", "lss"}, ExitBanger, []string{`unknown command "lss"`, `did you mean "ls"?`}},
		{[]string{"nosuch"}, ExitBanger, []string{`unknown command "nosuch" for "banger"`}},
		{[]string{"run", "--bogus", "img"}, ExitBanger, []string{"unknown flag: --bogus", "See 'banger run --help'."}},
		{[]string{"exec", "onlyvm"}, ExitBanger, []string{"requires at least 2 arg(s)"}},
		{[]string{"ps"}, ExitBanger, []string{"cannot reach the banger daemon"}},
		{[]string{"image"}, 0, nil},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			app := &App{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb}
			code := app.Run(append([]string{"--host", "unix:///nonexistent/banger.sock"}, tt.args...))
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstderr: %s", code, tt.code, errb.String())
			}
			for _, want := range tt.stderrHas {
				if !strings.Contains(errb.String(), want) {
					t.Errorf("stderr %q lacks %q", errb.String(), want)
				}
			}
		})
	}
}
