package vmmtest

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/proc"
)

// A process whose owning test binary is gone is killed; one whose owner
// lives is left alone.
func TestSweepOrphans(t *testing.T) {
	self, err := proc.Lookup(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	start := func(owner string) (*exec.Cmd, chan struct{}) {
		cmd := exec.Command("sleep", "60")
		cmd.Env = append(os.Environ(), EnvTestOwner+"="+owner)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
		return cmd, done
	}
	dead := fmt.Sprintf("%d:%d", self.PID, self.StartTime+1)
	_, orphanDone := start(dead)
	_, keptDone := start(fmt.Sprintf("%d:%d", self.PID, self.StartTime))
	sweepOrphans()
	select {
	case <-orphanDone:
	case <-time.After(10 * time.Second):
		t.Fatal("the orphan survived the sweep")
	}
	select {
	case <-keptDone:
		t.Fatal("a process whose owner lives was killed")
	case <-time.After(100 * time.Millisecond):
	}
}
