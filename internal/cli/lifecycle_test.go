package cli

import (
	"errors"
	"testing"

	"github.com/spf13/cobra"

	"github.com/bangerdev/banger/internal/api"
	"github.com/bangerdev/banger/internal/errdefs"
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
		query := stopTimeFlag(cmd)
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
