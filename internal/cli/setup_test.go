package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSetupChecksTheHost: setup ends with doctor's host checks, run
// without a daemon, from the config it was given (the agent it names);
// --dry-run lists the steps and creates nothing.
func TestSetupChecksTheHost(t *testing.T) {
	root := t.TempDir()
	agent := filepath.Join(root, "my-agent")
	if err := os.WriteFile(agent, []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(root, "config.toml")
	toml := "[daemon]\nsocket_group = \"\"\n[qemu]\nuser = \"\"\naccel = \"tcg\"\n[image]\nagent_binary = \"" + agent + "\"\n"
	if err := os.WriteFile(conf, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(root, "state")
	out, errOut, code := run(t, "unix:///x.sock", "setup", "--root", state, "--config", conf, "--dry-run", "--format", "json")
	if code != 0 {
		t.Fatalf("setup: exit %d: %s", code, errOut)
	}
	var rep struct {
		DryRun bool `json:"dry_run"`
		Steps  []struct {
			Dir string `json:"dir"`
		} `json:"steps"`
		Host struct {
			Checks []struct {
				Name   string `json:"name"`
				OK     bool   `json:"ok"`
				Detail string `json:"detail"`
			} `json:"checks"`
		} `json:"host"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if !rep.DryRun || len(rep.Steps) == 0 || rep.Steps[0].Dir != state {
		t.Errorf("steps %+v, want the directories from %s", rep.Steps, state)
	}
	if _, err := os.Stat(state); err == nil {
		t.Errorf("--dry-run created %s", state)
	}
	checks := map[string]string{}
	for _, c := range rep.Host.Checks {
		checks[c.Name] = c.Detail
		if c.Name == "guest agent" && (!c.OK || c.Detail != agent) {
			t.Errorf("guest agent check %+v, want the configured %s", c, agent)
		}
	}
	for _, name := range []string{"qemu", "qemu confinement", "device-mapper", "virtiofsd", "guest agent"} {
		if _, ok := checks[name]; !ok {
			t.Errorf("no %q check in %v", name, checks)
		}
	}
	out, _, code = run(t, "unix:///x.sock", "setup", "--root", state, "--config", conf, "--dry-run")
	if code != 0 || !strings.Contains(out, "would: create directory "+state) || !strings.Contains(out, "banger will use:") {
		t.Errorf("setup's table: exit %d\n%s", code, out)
	}
}
