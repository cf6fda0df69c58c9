package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"

	"github.com/bangerdev/banger/internal/agent/proto"
	"github.com/bangerdev/banger/internal/agentclient"
	"github.com/bangerdev/banger/pkg/api"
)

// stepHelp says what each step of `exec --timings` covers.
var stepHelp = map[string]string{
	"process":          "fork+exec of the CLI to its main (wall clock minus the CLI's total, and exit)",
	"cli":              "main to the exec command: command tree, flags",
	"version":          "the API version handshake (an API round trip)",
	"info":             "the daemon's host key (an API round trip)",
	"connect":          "the upgrade of a socket connection to SSH",
	"handshake":        "SSH handshake with the daemon's proxy",
	"open":             "channel open (through the proxy to the agent)",
	"start":            "exec request until the agent accepted it (0 when the open carried it)",
	"command":          "until the exit status and output arrived",
	"total":            "main to the end of the command, inside the CLI",
	"daemon_lookup":    "daemon: the VM and its agent connection",
	"daemon_upgrade":   "daemon: 101 Switching Protocols",
	"daemon_handshake": "daemon: its side of the handshake",
	"daemon_open":      "daemon: the agent's channel open (an exec channel: and its start)",
	"daemon_reply":     "daemon: the agent's reply to the exec request (a session channel)",
	"daemon_exit":      "daemon: that reply, or the open, to the agent's exit status (the guest's spawn and wait)",
}

// wall returns a case that runs argv and times it, wall clock.
func wall(argv ...string) func() (float64, error) {
	return func() (float64, error) {
		t0 := time.Now()
		err := runCmd(argv, nil)
		return ms(time.Since(t0)), err
	}
}

func runCmd(argv []string, stderr *bytes.Buffer) error {
	cmd := exec.CommandContext(context.Background(), argv[0], argv[1:]...)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, errb.String())
	}
	if stderr != nil {
		*stderr = errb
	}
	return nil
}

// timing is one `exec --timings`: its steps in the order printed.
type timing struct {
	order []string
	steps map[string]float64
}

// timedExec runs `banger exec --timings VM true` and reads its steps; a
// banger without the flag gives none.
func timedExec(banger, host, vm string) (timing, error) {
	var stderr bytes.Buffer
	t0 := time.Now()
	err := runCmd([]string{banger, "--host", host, "exec", "--timings", vm, "true"}, &stderr)
	total := ms(time.Since(t0))
	if err != nil {
		if strings.Contains(err.Error(), "unknown flag") {
			return timing{}, nil
		}
		return timing{}, err
	}
	t := timing{steps: map[string]float64{}}
	if json.Unmarshal(bytes.TrimSpace(stderr.Bytes()), &t.steps) != nil {
		return timing{}, fmt.Errorf("exec --timings printed %q", stderr.String())
	}
	t.steps["process"] = total - t.steps["total"]
	for _, k := range []string{"process", "cli", "info", "connect", "handshake", "open", "start", "command", "total",
		"daemon_lookup", "daemon_upgrade", "daemon_handshake", "daemon_open", "daemon_reply", "daemon_exit"} {
		if _, ok := t.steps[k]; ok {
			t.order = append(t.order, k)
		}
	}
	return t, nil
}

// inProcess is one SSH connection to the daemon's front door for a VM,
// made once: an exec on it costs the proxy, the agent and the guest.
type inProcess struct {
	client *agentclient.Client
}

func dialInProcess(host, vm string) (*inProcess, error) {
	ctx := context.Background()
	c, err := api.NewClient(host)
	if err != nil {
		return nil, err
	}
	info, err := api.Do(ctx, c, api.GetInfo, api.None{})
	if err != nil {
		return nil, err
	}
	hostKey, err := agentclient.ParsePublicKey(info.ProxyHostKey)
	if err != nil {
		return nil, err
	}
	conn, err := api.Dial(ctx, c, api.VMSSH, api.None{}, vm)
	if err != nil {
		return nil, err
	}
	key, err := agentclient.NewClientKey()
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	client, err := agentclient.Dial(ctx, conn, agentclient.Config{HostKey: hostKey, Signer: key.Signer})
	if err != nil {
		return nil, err
	}
	return &inProcess{client: client}, nil
}

func (p *inProcess) exec() (float64, error) {
	t0 := time.Now()
	code, err := p.client.Exec(context.Background(), agentclient.ExecRequest{Argv: []string{"true"}})
	d := ms(time.Since(t0))
	if err == nil && code != 0 {
		err = fmt.Errorf("in-process exec of true: exit status %d", code)
	}
	return d, err
}

// sessionExec is an exec the way agents before proto.ChannelExec take
// it: a session channel, then the exec request, two round trips to the
// guest before the command starts.
func (p *inProcess) sessionExec() (float64, error) {
	t0 := time.Now()
	ch, reqs, err := p.client.SSH().OpenChannel("session", nil)
	if err != nil {
		return 0, err
	}
	defer func() { _ = ch.Close() }()
	payload := proto.Marshal(proto.ExecPayload{Argv: []string{"true"}})
	ok, err := ch.SendRequest(proto.RequestExec, true, payload)
	if err != nil {
		return 0, fmt.Errorf("session exec of true: %w", err)
	}
	if !ok {
		return 0, errors.New("session exec of true: refused")
	}
	_ = ch.CloseWrite()
	go func() { _, _ = io.Copy(io.Discard, ch) }()
	for r := range reqs {
		if r.Type == "exit-status" {
			return ms(time.Since(t0)), nil
		}
	}
	return 0, errors.New("session exec of true: no exit status")
}

func (p *inProcess) close() { _ = p.client.Close() }
