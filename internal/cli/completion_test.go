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

// TestDefinesFlagIsLocalFlags: the cheap test addCompletions uses says
// what cobra's LocalFlags says, for every command and completed flag.
func TestDefinesFlagIsLocalFlags(t *testing.T) {
	app := &App{Stdin: strings.NewReader(""), Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}}
	cheap, slow := NewRoot(app), NewRoot(app)
	var walk func(a, b *cobra.Command)
	found := 0
	walk = func(a, b *cobra.Command) {
		for name := range flagCompletions {
			got, want := definesFlag(a, name), b.LocalFlags().Lookup(name) != nil
			if got != want {
				t.Errorf("%s --%s: definesFlag %v, LocalFlags %v", a.CommandPath(), name, got, want)
			}
			if got {
				found++
			}
		}
		for i, c := range a.Commands() {
			walk(c, b.Commands()[i])
		}
	}
	walk(cheap, slow)
	if found < 5 {
		t.Fatalf("only %d commands define a completed flag: the walk saw too little", found)
	}
}
