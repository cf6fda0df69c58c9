package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// walk calls fn on every command of the tree.
func walk(cmd *cobra.Command, fn func(*cobra.Command)) {
	fn(cmd)
	for _, c := range cmd.Commands() {
		walk(c, fn)
	}
}

// TestFlagHelpRendersAsWritten: pflag takes a `backquoted` word in a
// flag's usage as the name of its value, so "kernel from `banger kernel
// ls`" rendered as "--kernel banger kernel ls   kernel from banger kernel
// ls". No usage may carry a backquote.
func TestFlagHelpRendersAsWritten(t *testing.T) {
	root := NewRoot(&App{Stdin: strings.NewReader(""), Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}})
	walk(root, func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if strings.Contains(f.Usage, "`") {
				t.Errorf("%s --%s: usage %q has a backquote", c.CommandPath(), f.Name, f.Usage)
			}
		})
		if usage := c.Flags().FlagUsages(); strings.Contains(usage, "(default 0B)") {
			t.Errorf("%s --help shows a size flag's zero default:\n%s", c.CommandPath(), usage)
		}
		if c.Runnable() && c.Short == "" {
			t.Errorf("%s has no short help", c.CommandPath())
		}
	})
	run, _, _ := root.Find([]string{"run"})
	if usage := run.Flags().FlagUsages(); !strings.Contains(usage, "--kernel string") {
		t.Errorf("run --help shows the kernel flag as:\n%s", usage)
	}
}
