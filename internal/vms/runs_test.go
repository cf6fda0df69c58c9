package vms

import (
	"context"
	"testing"

	"github.com/bangerdev/banger/internal/agent/proto"
)

// How a run ended belongs to that run: a start forgets it, so a running VM
// shows none of the last run's exit.
func TestStartForgetsHowThePreviousRunEnded(t *testing.T) {
	f := newFixture(t)
	_, m := f.start("job")
	m.powerOff(proto.Exit{Status: 137, Signal: "KILL", OOM: true})
	if got, err := f.s.Wait(context.Background(), "job"); err != nil || !got.OOMKilled || got.ExitSignal != "KILL" {
		t.Fatalf("first run's end: %+v, %v", got, err)
	}
	res, err := f.s.Start(context.Background(), "job")
	if err != nil {
		t.Fatal(err)
	}
	if v := res.VM; v.ExitCode != nil || v.ExitSignal != "" || v.OOMKilled || v.ExitReason != "" {
		t.Fatalf("running VM still shows the last exit: code %v signal %q oom %v reason %q", v.ExitCode, v.ExitSignal, v.OOMKilled, v.ExitReason)
	}
}
