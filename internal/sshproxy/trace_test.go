package sshproxy

import (
	"encoding/json"
	"testing"
	"time"
)

func TestTimingsAnswerTheConnectionsSteps(t *testing.T) {
	c := proxied(t)
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run("echo hi"); err != nil {
		t.Fatal(err)
	}
	ok, payload, err := c.SendRequest(RequestTimings, true, nil)
	if err != nil || !ok {
		t.Fatalf("timings request: ok=%v err=%v", ok, err)
	}
	var steps map[string]float64
	if err := json.Unmarshal(payload, &steps); err != nil {
		t.Fatalf("timings reply %q: %v", payload, err)
	}
	for _, k := range []string{"handshake", "open", "reply", "exit"} {
		if v, ok := steps[k]; !ok || v < 0 {
			t.Errorf("step %q: %v (present %v) in %s", k, v, ok, payload)
		}
	}
}

func TestTraceMarksCountFromThePreviousMark(t *testing.T) {
	// The margins are a second wide: a loaded host (-race, shared cores)
	// can stall a goroutine for tens of milliseconds between two lines.
	start := time.Now().Add(-time.Second)
	tr := NewTrace(start)
	tr.Mark("lookup")
	tr.Mark("upgrade")
	tr.Span("open", time.Now().Add(-20*time.Millisecond))
	var steps map[string]float64
	if err := json.Unmarshal(tr.JSON(), &steps); err != nil {
		t.Fatal(err)
	}
	if steps["lookup"] < 1000 || steps["upgrade"] >= 1000 || steps["open"] < 20 || steps["open"] >= 1000 {
		t.Fatalf("steps %v: want lookup ≥ 1000 ms (since the start), upgrade < 1000 (since lookup), open in [20, 1000)", steps)
	}
}
