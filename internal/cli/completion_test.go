package cli

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// Every visible command that takes a VM (its usage names VM) completes VM
// names: a command added without an argCompletions entry would complete
// file names instead.
func TestVMCommandsCompleteNames(t *testing.T) {
	root := NewRoot(&App{Stdin: strings.NewReader(""), Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}})
	walk(root, func(c *cobra.Command) {
		if c.Hidden || !slices.ContainsFunc(strings.Fields(c.Use), func(w string) bool {
			return strings.Trim(w, "[].") == "VM"
		}) {
			return
		}
		ac, ok := argCompletions[c.CommandPath()]
		if !ok || !slices.Contains(ac.kinds, kindVM) && !slices.Contains(ac.kinds, kindRunning) {
			t.Errorf("%s (%q) completes no VM names; add it to argCompletions", c.CommandPath(), c.Use)
		}
	})
}
