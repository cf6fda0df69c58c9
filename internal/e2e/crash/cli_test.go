package crash

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/bangerdev/banger/pkg/api"
)

// cli runs the real CLI against the lab's daemon.
func (l *lab) cli(args ...string) (stdout, stderr string, code int) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, l.banger, append([]string{"--host", "unix://" + l.layout.Socket}, args...)...)
	cmd.Env = cleanEnv()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		code = -1
		errb.WriteString(err.Error())
	}
	return out.String(), errb.String(), code
}

// must runs the CLI and fails the test unless it exits 0; it returns
// stdout.
func (l *lab) must(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := l.cli(args...)
	if code != 0 {
		t.Fatalf("banger %s: exit %d\nstdout: %s\nstderr: %s\ndaemon log:\n%s", strings.Join(args, " "), code, out, errOut, l.logTail())
	}
	return out
}

// mustJSON runs the CLI with --format json and decodes its output.
func mustJSON[T any](t *testing.T, l *lab, args ...string) T {
	t.Helper()
	var v T
	out := l.must(t, append(args, "--format", "json")...)
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("banger %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return v
}

// mustInspect runs an inspect command, which prints an array as docker
// does, and returns its one object.
func mustInspect[T any](t *testing.T, l *lab, args ...string) T {
	t.Helper()
	vs := mustJSON[[]T](t, l, args...)
	if len(vs) != 1 {
		t.Fatalf("banger %s: %d objects, want 1", strings.Join(args, " "), len(vs))
	}
	return vs[0]
}

// inventory is the daemon's own inventory (GET /v1/inventory).
func (l *lab) inventory(t *testing.T) []api.HostObject {
	t.Helper()
	c, err := api.NewClient("unix://" + l.layout.Socket)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := api.Do(context.Background(), c, api.Inventory, api.None{})
	if err != nil {
		t.Fatalf("inventory: %v", err)
	}
	return objs
}
