package cli_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/cli"
	"github.com/bangerdev/banger/internal/daemon/daemontest"
)

// run executes the CLI in-process against host and returns its output and
// exit code.
func run(t *testing.T, host string, args ...string) (string, string, int) {
	t.Helper()
	return runIn(host, nil, args...)
}

func TestInfoAgainstDaemon(t *testing.T) {
	td := daemontest.Start(t)
	out, errOut, code := run(t, td.Host, "info", "--format", "json")
	if code != 0 {
		t.Fatalf("info: exit %d: %s", code, errOut)
	}
	var got struct {
		Daemon struct {
			PID      int    `json:"pid"`
			StateDir string `json:"state_dir"`
		} `json:"daemon"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("info --format json is not JSON: %v\n%s", err, out)
	}
	if got.Daemon.PID != os.Getpid() || got.Daemon.StateDir != td.Layout.State {
		t.Fatalf("info = %+v", got)
	}
	out, _, code = run(t, td.Host, "info")
	if code != 0 || !strings.Contains(out, td.Layout.Socket) {
		t.Fatalf("info table: exit %d\n%s", code, out)
	}
}

func TestErrorsNameTheProblem(t *testing.T) {
	_, errOut, code := run(t, "unix:///nonexistent/banger.sock", "info")
	if code != cli.ExitBanger || !strings.Contains(errOut, "cannot reach the banger daemon at /nonexistent/banger.sock") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	_, errOut, code = run(t, "unix:///x.sock", "info", "--format", "yaml")
	if code != cli.ExitBanger || !strings.Contains(errOut, `--format "yaml"`) {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

func TestConfigDefaultPrintsDocumentedDefaults(t *testing.T) {
	out, _, code := run(t, "unix:///x.sock", "config", "default")
	if code != 0 || !strings.Contains(out, `bridge = "banger0"`) || !strings.Contains(out, "# ") {
		t.Fatalf("exit %d\n%s", code, out)
	}
}

// TestEventsAgainstDaemon: the daemon's own start and ready are its first
// events; --until ends the command, --format json is one object a line,
// a bad filter is refused naming it.
func TestEventsAgainstDaemon(t *testing.T) {
	td := daemontest.Start(t)
	out, errOut, code := run(t, td.Host, "events", "--since", "0", "--until", "2")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 || !strings.Contains(lines[0], " 1      daemon     start    ") || !strings.Contains(lines[1], " ready ") {
		t.Fatalf("events: exit %d, stderr %q\n%s", code, errOut, out)
	}
	out, _, code = run(t, td.Host, "events", "--since", "0", "--until", "2", "--filter", "action=ready", "--format", "json")
	var ev struct {
		Seq    uint64 `json:"seq"`
		Type   string `json:"type"`
		Action string `json:"action"`
	}
	if err := json.Unmarshal([]byte(out), &ev); code != 0 || err != nil || ev.Seq != 2 || ev.Type != "daemon" || ev.Action != "ready" {
		t.Fatalf("events --format json: exit %d, %v\n%s", code, err, out)
	}
	out, _, code = run(t, td.Host, "events", "--since", "10m", "--until", "0s", "--format", "table {{.Seq}}\t{{.Action}}")
	if code != 0 || out != "SEQ\tACTION\n1\tstart\n2\tready\n" {
		t.Fatalf("events --since 10m --until 0s with a table template: exit %d\n%q", code, out)
	}
	_, errOut, code = run(t, td.Host, "events", "--filter", "type=container")
	if code != cli.ExitBanger || !strings.Contains(errOut, `filter "type=container": unknown type`) {
		t.Fatalf("a bad filter: exit %d, stderr %q", code, errOut)
	}
}
