package dockerapi

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"

	"github.com/bangerdev/banger/internal/vms"
)

var runningVM = vms.VM{ID: "abc000000001", Name: "web", State: vms.Running}

// execCreate makes an exec of req in the container and returns its id.
func createExec(t *testing.T, s *Server, req container.ExecCreateRequest) string {
	t.Helper()
	b, _ := json.Marshal(req)
	rec := do(s, "POST", "/v1.41/containers/web/exec", string(b))
	if rec.Code != http.StatusCreated {
		t.Fatalf("exec create: %d %s", rec.Code, rec.Body)
	}
	var id struct{ ID string }
	if err := json.Unmarshal(rec.Body.Bytes(), &id); err != nil || len(id.ID) != 64 {
		t.Fatalf("exec create answered %s: %v", rec.Body, err)
	}
	return id.ID
}

// inspectExec answers the exec's inspect, once it is no longer running.
func inspectExec(t *testing.T, s *Server, id string) container.ExecInspectResponse {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var got container.ExecInspectResponse
		rec := do(s, "GET", "/exec/"+id+"/json", "")
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Code != 200 {
			t.Fatalf("exec inspect: %d %s", rec.Code, rec.Body)
		}
		if !got.Running && got.ExitCode != nil || time.Now().After(deadline) {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestExecStreams: without a TTY the hijacked connection (101 UPGRADED)
// carries stdout and stderr in Docker's multiplexed framing, stdin comes
// from the client until it closes its side, and inspect then has the
// exit code; with a TTY the stream is raw and the terminal has the size
// asked at create (and a resize before the start).
func TestExecStreams(t *testing.T) {
	e := newOpsEnv(t, runningVM)
	e.withAgent(t)
	srv := httptest.NewServer(e.s)
	defer srv.Close()

	id := createExec(t, e.s, container.ExecCreateRequest{Cmd: []string{"sh", "-c", "read x; echo out:$x; echo err >&2; exit 3"},
		AttachStdin: true, AttachStdout: true, AttachStderr: true})
	conn, br, status := upgrade(t, srv, "POST", "/v1.41/exec/"+id+"/start", `{"Detach":false,"Tty":false}`)
	if status != "HTTP/1.1 101 UPGRADED" {
		t.Fatalf("exec start answered %q, want 101 UPGRADED", status)
	}
	_, _ = io.WriteString(conn, "hel\x10\x11lo\n") // ctrl-p ctrl-q: only a TTY's detach keys
	_ = conn.(*net.TCPConn).CloseWrite()
	var stdout, stderr bytes.Buffer
	if _, err := stdcopy.StdCopy(&stdout, &stderr, br); err != nil {
		t.Fatalf("the stream is not Docker's multiplexed framing: %v", err)
	}
	if stdout.String() != "out:hel\x10\x11lo\n" || stderr.String() != "err\n" {
		t.Errorf("stdout %q, stderr %q; want the piped bytes as they were, err", stdout.String(), stderr.String())
	}
	got := inspectExec(t, e.s, id)
	if got.ExitCode == nil || *got.ExitCode != 3 || got.ContainerID != containerID(runningVM.ID) || got.ProcessConfig.Entrypoint != "sh" {
		t.Errorf("inspect after exit: %+v, want exit 3 in %s", got, runningVM.ID)
	}

	id = createExec(t, e.s, container.ExecCreateRequest{Cmd: []string{"sh", "-c", "stty size; test -t 0 && echo tty"}, Tty: true, AttachStdout: true, ConsoleSize: &[2]uint{30, 100}})
	if rec := do(e.s, "POST", "/exec/"+id+"/resize?h=40&w=120", ""); rec.Code != 200 {
		t.Fatalf("resize before start: %d %s", rec.Code, rec.Body)
	}
	_, br, _ = upgrade(t, srv, "POST", "/exec/"+id+"/start", `{"Tty":true}`)
	raw, _ := io.ReadAll(br)
	if out := strings.ReplaceAll(string(raw), "\r", ""); out != "40 120\ntty\n" {
		t.Errorf("tty exec printed %q, want the resized size and a terminal", out)
	}
	if got := inspectExec(t, e.s, id); *got.ExitCode != 0 || !got.ProcessConfig.Tty {
		t.Errorf("tty exec inspect: %+v", got)
	}
}

// TestExecDetachAndKeys: a detached start answers at once and the
// process runs on to its exit; typing the detach keys on a TTY ends the
// attachment, not the process.
func TestExecDetachAndKeys(t *testing.T) {
	e := newOpsEnv(t, runningVM)
	e.withAgent(t)
	srv := httptest.NewServer(e.s)
	defer srv.Close()

	id := createExec(t, e.s, container.ExecCreateRequest{Cmd: []string{"sh", "-c", "sleep 0.3; exit 5"}})
	start := time.Now()
	if rec := do(e.s, "POST", "/exec/"+id+"/start", `{"Detach":true}`); rec.Code != 200 {
		t.Fatalf("detached start: %d %s", rec.Code, rec.Body)
	}
	if d := time.Since(start); d > 250*time.Millisecond {
		t.Errorf("a detached start took %v: it waited for the process", d)
	}
	if rec := do(e.s, "GET", "/exec/"+id+"/json", ""); !strings.Contains(rec.Body.String(), `"Running":true`) {
		t.Errorf("inspect right after a detached start: %s, want running", rec.Body)
	}
	if got := inspectExec(t, e.s, id); got.ExitCode == nil || *got.ExitCode != 5 {
		t.Errorf("detached exec's exit: %+v, want 5", got)
	}
	if rec := do(e.s, "POST", "/exec/"+id+"/start", `{"Detach":true}`); rec.Code != http.StatusConflict {
		t.Errorf("a second start: %d %s, want 409", rec.Code, rec.Body)
	}

	id = createExec(t, e.s, container.ExecCreateRequest{Cmd: []string{"sh", "-c", "head -c 3; sleep 0.5; exit 7"}, Tty: true, AttachStdin: true, AttachStdout: true, DetachKeys: "ctrl-x"})
	conn, br, _ := upgrade(t, srv, "POST", "/exec/"+id+"/start", `{}`)
	_, _ = conn.Write([]byte("abc\n\x18"))
	out, _ := io.ReadAll(br) // the server ends the stream at the detach
	if bytes.Contains(out, []byte{0x18}) || bytes.Contains(out, []byte("^X")) {
		t.Errorf("the process printed %q: the detach key reached it", out)
	}
	if rec := do(e.s, "GET", "/exec/"+id+"/json", ""); !strings.Contains(rec.Body.String(), `"Running":true`) {
		t.Errorf("inspect right after the detach: %s, want the process running on", rec.Body)
	}
	// head got the three bytes typed before the keys (else it never
	// ends): the process ran on to its exit.
	if got := inspectExec(t, e.s, id); got.ExitCode == nil || *got.ExitCode != 7 {
		t.Errorf("after a detach the exec ended with %v, want it to run on to its exit 7", got.ExitCode)
	}
}

// TestExecRefusals: exec needs a running, unpaused container, a command,
// no --privileged; unknown execs are Docker's 404.
func TestExecRefusals(t *testing.T) {
	e := newOpsEnv(t, runningVM, vms.VM{ID: "abc000000002", Name: "frozen", State: vms.Paused}, vms.VM{ID: "abc000000003", Name: "done", State: vms.Exited})
	for _, tc := range []struct {
		path, body string
		code       int
		msg        string
	}{
		{"/containers/frozen/exec", `{"Cmd":["true"]}`, 409, "Container frozen is paused, unpause the container before exec"},
		{"/containers/done/exec", `{"Cmd":["true"]}`, 409, "Container done is not running"},
		{"/containers/nope/exec", `{"Cmd":["true"]}`, 404, "No such container: nope"},
		{"/containers/web/exec", `{"Cmd":[]}`, 400, "No exec command specified"},
		{"/containers/web/exec", `{"Cmd":["true"],"Privileged":true}`, 400, "exec --privileged (Privileged) is not supported by banger"},
		{"/containers/web/exec", `{"Cmd":["true"],"DetachKeys":"ctrl-ü"}`, 400, "Invalid detach keys"},
		{"/containers/web/exec", `not json`, 400, "not an exec config"},
		{"/exec/0123/start", `{}`, 404, "No such exec instance: 0123"},
		{"/exec/0123/resize?h=1&w=1", ``, 404, "No such exec instance"},
	} {
		rec := do(e.s, "POST", tc.path, tc.body)
		if rec.Code != tc.code || !strings.Contains(message(t, rec), tc.msg) {
			t.Errorf("POST %s %s: %d %q, want %d %q", tc.path, tc.body, rec.Code, rec.Body, tc.code, tc.msg)
		}
	}
	id := createExec(t, e.s, container.ExecCreateRequest{Cmd: []string{"true"}})
	for _, q := range []string{"h=0&w=80", "h=x&w=80", "w=80"} {
		if rec := do(e.s, "POST", "/exec/"+id+"/resize?"+q, ""); rec.Code != 400 {
			t.Errorf("resize %s: %d, want 400", q, rec.Code)
		}
	}
	if rec := do(e.s, "POST", "/exec/"+id+"/resize?h=10&w=10", ""); rec.Code != 409 {
		t.Errorf("resize of an exec without a TTY: %d %s, want 409", rec.Code, rec.Body)
	}
}
