package agent_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/agent"
	"github.com/bangerdev/banger/internal/agent/agenttest"
	"github.com/bangerdev/banger/internal/agent/mainproc"
	"github.com/bangerdev/banger/internal/agentclient"
	"github.com/bangerdev/banger/internal/bootcfg"
)

// reidentified records what a re-identify handed PID 1's part.
type reidentified struct {
	prev, cfg string // VM ids
	host      string
	now       time.Time
	fail      error
}

func withReidentify(r *reidentified) func(*agent.ServiceOptions) {
	return func(o *agent.ServiceOptions) {
		o.Reidentify = func(prev, cfg bootcfg.Config, now time.Time) error {
			r.prev, r.cfg, r.host, r.now = prev.VMID, cfg.VMID, cfg.Hostname, now
			return r.fail
		}
	}
}

// A running agent (booted from its own config) re-identified as a fork:
// PID 1's part gets the old and new config and the host's clock; the main
// process is the same one, still running; connections made after see the
// fork's host key and exec defaults, the one it came on keeps its own;
// info names the fork. A fork can be re-identified again (a fork of a
// fork).
func TestReidentifyRunningAgent(t *testing.T) {
	rec := &reidentified{}
	main := &bootcfg.Process{Argv: []string{"sleep", "60"}, Env: []string{"PATH=/usr/bin:/bin", "WHO=source"}}
	a := agenttest.StartWith(t, bootcfg.Config{VMID: "source", Main: main}, withReidentify(rec))
	c := a.Dial(t)
	m0 := startedMain(t, a)
	fork, key := ownConfig(t, a, &bootcfg.Process{Argv: []string{"sleep", "60"}, Env: []string{"PATH=/usr/bin:/bin", "WHO=fork"}})
	fork.VMID, fork.Hostname = "fork1", "fork-1"
	now := time.Now().Add(-time.Minute)
	if err := c.Reidentify(ctxT(t), fork, now); err != nil {
		t.Fatal(err)
	}
	if rec.prev != "source" || rec.cfg != "fork1" || rec.host != "fork-1" || !rec.now.Equal(now) {
		t.Errorf("PID 1's part got %+v; want source → fork1, fork-1, %v", rec, now)
	}
	select {
	case <-m0.Done():
		t.Fatal("the main process ended at the re-identify")
	default:
	}
	if m := a.Service.Main(); m != m0 {
		t.Fatal("the re-identify started another main process")
	}
	if _, err := a.DialConfig(t, a.ClientConfig()); !errors.Is(err, agentclient.ErrHostKeyMismatch) {
		t.Errorf("a new connection pinning the source's key: %v; want a host key mismatch", err)
	}
	cfg := a.ClientConfig()
	cfg.HostKey = key.PublicKey()
	nc, err := a.DialConfig(t, cfg)
	if err != nil {
		t.Fatalf("a new connection pinning the fork's key: %v", err)
	}
	if info, err := nc.Info(ctxT(t)); err != nil || info.VMID != "fork1" || info.Main != "running" || info.Held {
		t.Errorf("info of the fork: %+v, %v", info, err)
	}
	if got := run(t, nc, "sh", "-c", "echo $WHO"); got != "fork\n" {
		t.Errorf("exec on a new connection: WHO=%q, want the fork's defaults", got)
	}
	if got := run(t, c, "sh", "-c", "echo $WHO"); got != "source\n" {
		t.Errorf("exec on the connection made before: WHO=%q; it keeps its identity", got)
	}
	again, _ := ownConfig(t, a, nil)
	again.VMID = "fork2"
	if err := nc.Reidentify(ctxT(t), again, time.Now()); err != nil || rec.prev != "fork1" || rec.cfg != "fork2" {
		t.Errorf("a fork of the fork: %v, %+v", err, rec)
	}
}

// A held agent never applied refuses a re-identify, saying it takes an
// apply; once applied it takes one.
func TestReidentifyHeld(t *testing.T) {
	rec := &reidentified{}
	a := agenttest.StartWith(t, bootcfg.Config{VMID: "held", Hold: true}, withReidentify(rec))
	c := a.Dial(t)
	own, _ := ownConfig(t, a, nil)
	err := c.Reidentify(ctxT(t), own, time.Now())
	if err == nil || !strings.Contains(err.Error(), "never applied: it takes an apply") || rec.cfg != "" {
		t.Fatalf("a re-identify of a held agent: %v (PID 1's part got %+v); want it refused", err, rec)
	}
	if info, err := c.Info(ctxT(t)); err != nil || !info.Held {
		t.Fatalf("still held after the refusal: %+v, %v", info, err)
	}
	if err := c.Apply(ctxT(t), own, time.Now()); err != nil {
		t.Fatalf("the apply after a refused re-identify: %v", err)
	}
	fork, _ := ownConfig(t, a, nil)
	fork.VMID = "fork"
	if err := c.Reidentify(ctxT(t), fork, time.Now()); err != nil || rec.prev != "own" || rec.cfg != "fork" {
		t.Errorf("a re-identify once applied: %v, %+v", err, rec)
	}
}

// A failing re-identify says what failed and changes nothing the
// service holds (the SSH identity, info); it can be tried again. A
// config without a seed is refused before PID 1 is asked; an agent that
// is not PID 1 refuses, saying why.
func TestReidentifyFailures(t *testing.T) {
	rec := &reidentified{fail: errors.New("network: flush eth0: boom")}
	a := agenttest.StartWith(t, bootcfg.Config{VMID: "source"}, withReidentify(rec))
	c := a.Dial(t)
	fork, _ := ownConfig(t, a, nil)
	fork.VMID = "fork"
	if err := c.Reidentify(ctxT(t), fork, time.Now()); err == nil || !strings.Contains(err.Error(), "re-identify: the guest agent: network: flush eth0: boom") {
		t.Fatalf("a failing re-identify: %v", err)
	}
	if info, err := c.Info(ctxT(t)); err != nil || info.VMID != "source" {
		t.Errorf("info after a failed re-identify: %+v, %v; want the source's", info, err)
	}
	if _, err := a.DialConfig(t, a.ClientConfig()); err != nil {
		t.Errorf("the source's key after a failed re-identify: %v; want it still served", err)
	}
	rec.fail, rec.cfg = nil, ""
	bad := fork
	bad.EntropySeed = nil
	if err := c.Reidentify(ctxT(t), bad, time.Now()); err == nil || !strings.Contains(err.Error(), "entropy_seed") || rec.cfg != "" {
		t.Errorf("a config without a seed: %v, PID 1's part got %+v", err, rec)
	}
	if err := c.Reidentify(ctxT(t), fork, time.Now()); err != nil || rec.cfg != "fork" {
		t.Errorf("a re-identify after a failed one: %v, %+v", err, rec)
	}

	served := agenttest.Start(t, bootcfg.Config{VMID: "served"})
	err := served.Dial(t).Reidentify(ctxT(t), fork, time.Now())
	if err == nil || !strings.Contains(err.Error(), "not the VM's PID 1") {
		t.Errorf("a re-identify of an agent that is not PID 1: %v", err)
	}
}

// startedMain waits for a's main process to be started.
func startedMain(t *testing.T, a *agenttest.Agent) *mainproc.Main {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := a.Service.Main(); m != nil {
			return m
		}
	}
	t.Fatal("the main process never started")
	return nil
}
