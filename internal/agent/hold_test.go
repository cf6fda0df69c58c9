package agent_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/agent"
	"github.com/bangerdev/banger/internal/agent/agenttest"
	"github.com/bangerdev/banger/internal/agentclient"
	"github.com/bangerdev/banger/internal/bootcfg"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// ownConfig is a VM's own config for the held agent a: a new host key, a's
// client key, a fresh seed, and main.
func ownConfig(t *testing.T, a *agenttest.Agent, main *bootcfg.Process) (bootcfg.Config, agentclient.Key) {
	t.Helper()
	key, seed := newIdentity(t)
	return bootcfg.Config{
		VMID: "own", Main: main, ExitWaitMS: 30000, EntropySeed: seed,
		SSH:      bootcfg.SSH{HostKey: string(key.PEM), AuthorizedKeys: []string{a.ClientKey.AuthorizedKey()}},
		Channels: bootcfg.Channels{VirtioPort: "test"},
	}, key
}

// newIdentity is a VM's own host key and entropy seed, fresh.
func newIdentity(t *testing.T) (agentclient.Key, []byte) {
	t.Helper()
	key, err := agentclient.NewHostKey()
	if err != nil {
		t.Fatal(err)
	}
	seed, err := bootcfg.NewEntropySeed()
	if err != nil {
		t.Fatal(err)
	}
	return key, seed
}

func run(t *testing.T, c *agentclient.Client, argv ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	code, err := c.Exec(ctxT(t), agentclient.ExecRequest{Argv: argv, Stdout: &out, Stderr: &errb})
	if err != nil || code != 0 {
		t.Fatalf("%v: code %d, %v, stderr %q", argv, code, err, errb.String())
	}
	return out.String()
}

// A held agent serves exec and info but starts nothing; a kill is refused
// with why, an attach waits. The apply starts the main process (the
// waiting attach gets it), and connections made after it see the VM's
// host key and exec defaults; the hold key no longer gets in. A second
// apply is refused.
func TestHeldServiceApply(t *testing.T) {
	a := agenttest.Start(t, bootcfg.Config{VMID: "held", Hold: true})
	c := a.Dial(t)
	info, err := c.Info(ctxT(t))
	if err != nil || !info.Held || info.Main != "none" || info.VMID != "held" {
		t.Fatalf("info while held: %+v, %v", info, err)
	}
	if err := c.Signal(ctxT(t), "KILL"); err == nil || !strings.Contains(err.Error(), "held") {
		t.Fatalf("a kill while held: %v; want it refused, saying the VM is held", err)
	}
	if got := run(t, c, "echo", "serving"); got != "serving\n" {
		t.Fatalf("exec while held: %q", got)
	}
	attached := make(chan string, 1)
	go func() {
		var out bytes.Buffer
		code, err := a.Dial(t).AttachMain(ctxT(t), nil, &out, nil)
		attached <- fmt.Sprintf("%s|%d|%s", out.String(), code, errString(err))
	}()
	time.Sleep(100 * time.Millisecond)
	select {
	case got := <-attached:
		t.Fatalf("an attach while held returned %q before the apply", got)
	default:
	}

	own, key := ownConfig(t, a, &bootcfg.Process{
		Argv: []string{"sh", "-c", "echo main-$GREETING; exit 4"},
		Env:  []string{"PATH=/usr/local/bin:/usr/bin:/bin", "GREETING=applied"},
	})
	t0 := time.Now()
	if err := c.Apply(ctxT(t), own, time.Now()); err != nil {
		t.Fatal(err)
	}
	t.Logf("apply answered in %v", time.Since(t0).Round(time.Microsecond))
	select {
	case got := <-attached:
		if got != "main-applied\n|4|" {
			t.Errorf("the attach made while held got %q; want the main process's output and status 4", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the attach made while held never got the main process")
	}
	if err := c.Apply(ctxT(t), own, time.Now()); err == nil || !strings.Contains(err.Error(), "applied already") {
		t.Errorf("a second apply: %v; want it refused", err)
	}

	if _, err := a.DialConfig(t, a.ClientConfig()); !errors.Is(err, agentclient.ErrHostKeyMismatch) {
		t.Errorf("a new connection pinning the hold key: %v; want a host key mismatch", err)
	}
	cfg := a.ClientConfig()
	cfg.HostKey = key.PublicKey()
	nc, err := a.DialConfig(t, cfg)
	if err != nil {
		t.Fatalf("a new connection pinning the VM's own key: %v", err)
	}
	if info, err := nc.Info(ctxT(t)); err != nil || info.Held || info.VMID != "own" {
		t.Errorf("info after the apply: %+v, %v", info, err)
	}
	if got := run(t, nc, "sh", "-c", "echo $GREETING"); got != "applied\n" {
		t.Errorf("exec on a new connection sees GREETING=%q; want the main process's env", got)
	}
	if got := run(t, c, "sh", "-c", "echo $GREETING"); got != "\n" {
		t.Errorf("exec on the held connection sees GREETING=%q; it keeps the identity it was made with", got)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// The apply hands PID 1's part (Configure) the VM's config and the
// host's clock; its failure is the apply's, the VM stays held, and
// there is no second chance.
func TestApplyConfigure(t *testing.T) {
	var gotHost string
	var gotNow time.Time
	fail := true
	a := agenttest.StartWith(t, bootcfg.Config{Hold: true}, func(o *agent.ServiceOptions) {
		o.Configure = func(cfg bootcfg.Config, now time.Time) error {
			gotHost, gotNow = cfg.Hostname, now
			if fail {
				return errors.New("network: set-mac eth0: boom")
			}
			return nil
		}
	})
	c := a.Dial(t)
	own, _ := ownConfig(t, a, nil)
	own.Hostname = "web"
	now := time.Now().Add(-time.Hour)
	err := c.Apply(ctxT(t), own, now)
	if err == nil || !strings.Contains(err.Error(), "apply: the guest agent: network: set-mac eth0: boom") {
		t.Fatalf("a failing apply: %v; want the step's error", err)
	}
	if gotHost != "web" || !gotNow.Equal(now) {
		t.Errorf("Configure got hostname %q, clock %v; want web, %v", gotHost, gotNow, now)
	}
	if info, err := c.Info(ctxT(t)); err != nil || !info.Held {
		t.Errorf("info after a failed apply: %+v, %v; want still held", info, err)
	}
	fail = false
	if err := c.Apply(ctxT(t), own, now); err == nil || !strings.Contains(err.Error(), "earlier apply failed") {
		t.Errorf("an apply after a failed one: %v; want it refused", err)
	}
}

// An agent that booted its own config refuses an apply, saying so.
func TestApplyToAnAgentNotHeld(t *testing.T) {
	a := agenttest.Start(t, bootcfg.Config{Main: &bootcfg.Process{Argv: []string{"sleep", "30"}}})
	own, _ := ownConfig(t, a, nil)
	err := a.Dial(t).Apply(ctxT(t), own, time.Now())
	if err == nil || !strings.Contains(err.Error(), "not held") {
		t.Fatalf("apply to an agent not held: %v", err)
	}
}

// A config the agent cannot apply (no entropy seed: restored guests would
// share their random state) is refused without using up the apply.
func TestApplyRefusesAConfigWithoutSeed(t *testing.T) {
	a := agenttest.Start(t, bootcfg.Config{Hold: true})
	c := a.Dial(t)
	own, _ := ownConfig(t, a, nil)
	bad := own
	bad.EntropySeed = nil
	if err := c.Apply(ctxT(t), bad, time.Now()); err == nil || !strings.Contains(err.Error(), "entropy_seed") {
		t.Fatalf("apply without a seed: %v", err)
	}
	if err := c.Apply(ctxT(t), own, time.Now()); err != nil {
		t.Fatalf("a good apply after a refused one: %v", err)
	}
}

// A held VM shuts down like any other; an attach waiting for the main
// process that never came ends.
func TestShutdownWhileHeld(t *testing.T) {
	a := agenttest.Start(t, bootcfg.Config{Hold: true})
	c := a.Dial(t)
	attached := make(chan error, 1)
	go func() {
		_, err := a.Dial(t).AttachMain(ctxT(t), nil, nil, nil)
		attached <- err
	}()
	time.Sleep(50 * time.Millisecond)
	if err := c.Shutdown(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.Halted:
	case <-time.After(10 * time.Second):
		t.Fatal("a shutdown while held did not power off")
	}
	select {
	case err := <-attached:
		if err == nil {
			t.Error("an attach while held succeeded after a shutdown; there was no main process")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("an attach while held hangs after the shutdown")
	}
}
