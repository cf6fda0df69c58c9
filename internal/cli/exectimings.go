package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/bangerdev/banger/pkg/client"
)

// stepTimes is `exec --timings`: how long each step of one exec took, in
// milliseconds, the CLI's own and the daemon's (asked from its proxy once
// the command ended, keys "daemon_…"). A nil *stepTimes records nothing.
//
// The CLI's steps: "cli" (from main to the command: the command tree,
// flags), "version" (the API version handshake, the process's first
// call), "info" (the daemon's host key), "connect" (the upgrade of a
// connection to SSH), "handshake", "open" (the session channel), "start"
// (until the agent accepted the command), "command" (until its exit
// status and output arrived) and "total". The daemon's: "lookup" (the VM
// and its agent), "upgrade", "handshake", and the agent's answers as the
// proxy saw them: "open", "reply" (to the command's start) and "exit"
// (from that reply to the exit status).
type stepTimes struct {
	first, last time.Time
	steps       map[string]float64
}

func newStepTimes(started time.Time) *stepTimes {
	return &stepTimes{first: started, last: started, steps: map[string]float64{}}
}

// mark ends step name, which took the time since the previous mark.
func (t *stepTimes) mark(name string) {
	if t == nil {
		return
	}
	now := time.Now()
	t.steps[name] = ms(now.Sub(t.last))
	t.last = now
}

// daemon adds the daemon's steps of s's connection (none from an older
// daemon: the CLI's steps alone).
func (t *stepTimes) daemon(s *client.Session) {
	if t == nil {
		return
	}
	for k, v := range s.Timings() {
		t.steps["daemon_"+k] = v
	}
}

// print writes the steps and the total as one JSON line.
func (t *stepTimes) print(w io.Writer) {
	if t == nil {
		return
	}
	t.steps["total"] = ms(time.Since(t.first))
	b, _ := json.Marshal(t.steps)
	_, _ = fmt.Fprintln(w, string(b))
}
