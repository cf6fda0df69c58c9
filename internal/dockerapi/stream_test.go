package dockerapi

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"

	"github.com/bangerdev/banger/internal/vmlogs"
	"github.com/bangerdev/banger/internal/vms"
)

// runMain begins a session of m on the VM's output and waits until its
// exit is recorded when m has no release to wait for.
func runMain(t *testing.T, out *vmlogs.Service, id string, m *fakeMain, tty, stdin bool) {
	t.Helper()
	if err := out.Begin(id, vmlogs.Session{Source: m, Started: time.Now(), TTY: tty, Stdin: stdin}); err != nil {
		t.Fatal(err)
	}
}

// finished waits until the VM's session has ended.
func finished(t *testing.T, out *vmlogs.Service, id string) {
	t.Helper()
	for range 200 {
		_, sub, _ := out.Subscribe(id, vmlogs.SubOptions{Follow: true})
		if sub == nil {
			return
		}
		sub.Close()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the session did not end")
}

// TestLogsFraming: without a TTY the output is stdcopy's frames that
// StdCopy splits back into stdout and stderr; with one it is raw; the
// streams, tail and timestamps select what is sent.
func TestLogsFraming(t *testing.T) {
	f := newFakeVMs(vms.VM{ID: "aaaaaaaaaaaa", Name: "plain", State: vms.Exited}, vms.VM{ID: "bbbbbbbbbbbb", Name: "tty", State: vms.Exited, Spec: vms.Spec{TTY: true}})
	s, out := newTestServer(f, t.TempDir())
	m := &fakeMain{stdout: []string{"one\n", "two\n"}, stderr: []string{"oops\n"}}
	runMain(t, out, "aaaaaaaaaaaa", m, false, false)
	finished(t, out, "aaaaaaaaaaaa")
	runMain(t, out, "bbbbbbbbbbbb", &fakeMain{stdout: []string{"raw\n"}}, true, false)
	finished(t, out, "bbbbbbbbbbbb")

	rec := do(s, "GET", "/v1.41/containers/plain/logs?stdout=1&stderr=1", "")
	var o, e bytes.Buffer
	if _, err := stdcopy.StdCopy(&o, &e, rec.Body); err != nil || o.String() != "one\ntwo\n" || e.String() != "oops\n" {
		t.Errorf("logs: stdout %q stderr %q (%v)", o.String(), e.String(), err)
	}
	if ct := rec.Header().Get("Content-Type"); ct != rawStream {
		t.Errorf("1.41's content type %q, want %q", ct, rawStream)
	}
	if ct := do(s, "GET", "/v1.44/containers/plain/logs?stdout=1", "").Header().Get("Content-Type"); ct != multiplexedStream {
		t.Errorf("1.44's content type %q, want %q", ct, multiplexedStream)
	}
	o.Reset()
	e.Reset()
	// Tail counts the log's lines, both streams, before the selection (as Docker does).
	rec = do(s, "GET", "/containers/plain/logs?stdout=1&tail=2", "")
	if _, err := stdcopy.StdCopy(&o, &e, rec.Body); err != nil || o.String() != "two\n" || e.Len() != 0 {
		t.Errorf("stdout, tail 2: stdout %q stderr %q (%v)", o.String(), e.String(), err)
	}
	o.Reset()
	rec = do(s, "GET", "/containers/plain/logs?stderr=1&timestamps=1", "")
	if _, err := stdcopy.StdCopy(&o, &o, rec.Body); err != nil || !strings.HasSuffix(o.String(), "Z oops\n") || len(o.String()) != len("2006-01-02T15:04:05.000000000Z oops\n") {
		t.Errorf("timestamps: %q (%v)", o.String(), err)
	}
	if rec := do(s, "GET", "/containers/plain/logs?stdout=1&since="+fmt.Sprint(time.Now().Add(time.Hour).Unix()), ""); rec.Body.Len() != 0 {
		t.Errorf("since an hour ahead: %q; want nothing", rec.Body)
	}
	if rec := do(s, "GET", "/containers/tty/logs?stdout=1", ""); rec.Body.String() != "raw\n" {
		t.Errorf("a TTY's logs: %q; want the bare output", rec.Body)
	}
	for _, q := range []string{"", "stdout=1&tail=x", "stdout=1&since=yesterday"} {
		if rec := do(s, "GET", "/containers/plain/logs?"+q, ""); rec.Code != 400 {
			t.Errorf("logs?%s: %d; want 400", q, rec.Code)
		}
	}
}

// TestParseUnixTime: Docker's since/until spellings.
func TestParseUnixTime(t *testing.T) {
	for in, want := range map[string]time.Time{
		"":                     {},
		"0":                    {},
		"1700000000":           time.Unix(1700000000, 0),
		"1700000000.5":         time.Unix(1700000000, 500000000),
		"1700000000.123456789": time.Unix(1700000000, 123456789),
		"2023-11-14T22:13:20Z": time.Unix(1700000000, 0),
	} {
		got, err := parseUnixTime("since", in)
		if err != nil || !got.Equal(want) {
			t.Errorf("%q: %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"x", "-5", "1.x"} {
		if _, err := parseUnixTime("since", in); err == nil {
			t.Errorf("%q parsed", in)
		}
	}
}

// serve runs s on a real HTTP server (flushes and hijacks).
func serve(t *testing.T, s *Server) string {
	t.Helper()
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestWaitBeforeStart: docker run's wait, sent before the start, answers
// its status line at once and the run's exit status when it ends.
func TestWaitBeforeStart(t *testing.T) {
	f := newFakeVMs(vms.VM{ID: "aaaaaaaaaaaa", Name: "w", State: vms.Created})
	s, out := newTestServer(f, t.TempDir())
	url := serve(t, s)
	resp, err := http.Post(url+"/v1.41/containers/w/wait?condition=next-exit", "", nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("wait: %v %v", resp, err)
	}
	defer func() { _ = resp.Body.Close() }()
	runMain(t, out, "aaaaaaaaaaaa", &fakeMain{code: 3}, false, false)
	var w container.WaitResponse
	if err := json.NewDecoder(resp.Body).Decode(&w); err != nil || w.StatusCode != 3 || w.Error != nil {
		t.Errorf("wait answer %+v (%v); want 3", w, err)
	}
	// not-running on a VM that is not running answers its last status.
	_, _ = f.set("w", func(v *vms.VM) { c := 9; v.State, v.ExitCode = vms.Exited, &c })
	resp2, err := http.Post(url+"/containers/w/wait", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp2.Body.Close() }()
	if err := json.NewDecoder(resp2.Body).Decode(&w); err != nil || w.StatusCode != 9 {
		t.Errorf("not-running wait: %+v (%v); want 9", w, err)
	}
	if rec := do(s, "POST", "/containers/w/wait?condition=sometime", ""); rec.Code != 400 {
		t.Errorf("a bad condition: %d", rec.Code)
	}
	// A running VM whose run already ended (the VMM still stopping):
	// the VM service's wait, not a next run that never comes.
	_, _ = f.set("w", func(v *vms.VM) { c := 4; v.State, v.ExitCode = vms.Running, &c })
	if rec := do(s, "POST", "/containers/w/wait", ""); !strings.Contains(rec.Body.String(), `"StatusCode":4`) || f.calls[len(f.calls)-1] != "wait aaaaaaaaaaaa" {
		t.Errorf("wait on a running VM: %s, calls %v", rec.Body, f.calls)
	}
	// removed: answers when the record goes, with its last status.
	_, _ = f.set("w", func(v *vms.VM) { c := 6; v.State, v.ExitCode = vms.Exited, &c })
	go func() {
		time.Sleep(3 * removedPoll)
		_ = f.RemoveWith(t.Context(), "w", vms.RemoveOptions{})
	}()
	if rec := do(s, "POST", "/containers/w/wait?condition=removed", ""); !strings.Contains(rec.Body.String(), `"StatusCode":6`) {
		t.Errorf("wait for removal: %s", rec.Body)
	}
}

// TestAttachHijacks: attach before the start upgrades to tcp (101
// UPGRADED), forwards the client's stdin once the run begins, closes
// it at the client's EOF, and carries the output framed.
func TestAttachHijacks(t *testing.T) {
	f := newFakeVMs(vms.VM{ID: "aaaaaaaaaaaa", Name: "a", State: vms.Created, Spec: vms.Spec{Interactive: true}})
	s, out := newTestServer(f, t.TempDir())
	url := serve(t, s)
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	_, _ = io.WriteString(conn, "POST /v1.41/containers/a/attach?stream=1&stdin=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Upgrade") != "tcp" || resp.Header.Get("Content-Type") != rawStream {
		t.Fatalf("attach answer %+v, %v; want 101 UPGRADED to tcp", resp, err)
	}
	// stdin sent before the run begins waits for it.
	_, _ = io.WriteString(conn, "from the client\n")
	_ = conn.(*net.TCPConn).CloseWrite()
	runMain(t, out, "aaaaaaaaaaaa", &fakeMain{stdout: []string{"hello\n"}, stderr: []string{"warn\n"}, code: 0}, false, true)
	var o, e bytes.Buffer
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := stdcopy.StdCopy(&o, &e, br); err != nil || o.String() != "hello\nfrom the client\n" || e.String() != "warn\n" {
		t.Errorf("attached output: stdout %q stderr %q (%v)", o.String(), e.String(), err)
	}
}

// TestListFilters: the list's filters select by id prefix, name,
// label, status and image; an unknown one is Docker's 400.
func TestListFilters(t *testing.T) {
	vmA := vms.VM{ID: "aaaaaaaaaaaa", Name: "web-1", State: vms.Running, ImageID: "img1", Spec: vms.Spec{Image: "alpine", Labels: map[string]string{"app": "web", "tier": "front"}}}
	vmB := vms.VM{ID: "bbbbbbbbbbbb", Name: "db", State: vms.Exited, ImageID: "img2", Spec: vms.Spec{Image: "postgres", Labels: map[string]string{"app": "db"}}}
	vmC := vms.VM{ID: "cccccccccccc", Name: "web-2", State: vms.Created, ImageID: "img1", Spec: vms.Spec{Image: "docker.io/library/alpine:latest"}}
	s, _ := newTestServer(newFakeVMs(vmA, vmB, vmC), t.TempDir())
	names := func(query string) string {
		t.Helper()
		rec := do(s, "GET", "/containers/json?"+query, "")
		var list []container.Summary
		if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil {
			t.Fatalf("%s: %d %s", query, rec.Code, rec.Body)
		}
		var out []string
		for _, c := range list {
			out = append(out, strings.TrimPrefix(c.Names[0], "/"))
		}
		return strings.Join(out, ",")
	}
	enc := func(f map[string]map[string]bool) string {
		b, _ := json.Marshal(f)
		return "all=1&filters=" + string(b)
	}
	for q, want := range map[string]string{
		"":      "web-1",
		"all=1": "web-1,db,web-2",
		enc(map[string]map[string]bool{"id": {containerID("bbbbbbbbbbbb")[:20]: true}}):            "db",
		enc(map[string]map[string]bool{"name": {"web": true}}):                                     "web-1,web-2",
		enc(map[string]map[string]bool{"name": {"^/?db$": true}}):                                  "db",
		enc(map[string]map[string]bool{"label": {"app=web": true}}):                                "web-1",
		enc(map[string]map[string]bool{"label": {"app": true, "tier=front": true}}):                "web-1",
		enc(map[string]map[string]bool{"status": {"exited": true, "created": true}}):               "db,web-2",
		"filters=" + `{"status":{"exited":true}}`:                                                  "db",
		enc(map[string]map[string]bool{"ancestor": {"alpine": true}}):                              "web-1,web-2",
		enc(map[string]map[string]bool{"ancestor": {"alpine": true}, "status": {"running": true}}): "web-1",
		"all=1&filters=" + `{"label":["app=db"]}`:                                                  "db",
	} {
		if got := names(q); got != want {
			t.Errorf("list?%s: %q; want %q", q, got, want)
		}
	}
	for _, q := range []string{`filters={"colour":{"red":true}}`, `filters={"status":{"sleepy":true}}`, `filters=nope`} {
		if rec := do(s, "GET", "/containers/json?"+q, ""); rec.Code != 400 {
			t.Errorf("list?%s: %d; want 400", q, rec.Code)
		}
	}
}

// TestResize: a resize reaches a TTY process's terminal; a container
// not running is Docker's conflict, a bad size a 400.
func TestResize(t *testing.T) {
	f := newFakeVMs(vms.VM{ID: "aaaaaaaaaaaa", Name: "t", State: vms.Running, Spec: vms.Spec{TTY: true}})
	s, out := newTestServer(f, t.TempDir())
	if rec := do(s, "POST", "/containers/t/resize?h=30&w=100", ""); rec.Code != 409 {
		t.Errorf("resize with no run: %d", rec.Code)
	}
	m := &fakeMain{release: make(chan struct{}), sizes: make(chan vmlogs.Size, 1)}
	defer close(m.release)
	runMain(t, out, "aaaaaaaaaaaa", m, true, false)
	if !out.Attached("aaaaaaaaaaaa", 5*time.Second) {
		t.Fatal("not attached")
	}
	if rec := do(s, "POST", "/containers/t/resize?h=30&w=100", ""); rec.Code != 200 {
		t.Fatalf("resize: %d %s", rec.Code, rec.Body)
	}
	select {
	case sz := <-m.sizes:
		if sz.Rows != 30 || sz.Cols != 100 {
			t.Errorf("the process got %+v; want 30x100", sz)
		}
	case <-time.After(5 * time.Second):
		t.Error("the size never reached the process")
	}
	if rec := do(s, "POST", "/containers/t/resize?h=0&w=x", ""); rec.Code != 400 {
		t.Errorf("a bad size: %d", rec.Code)
	}
}

// TestRunRemovedAfterFailedStart: docker run --rm waits for removal
// before it starts; a start that fails removes the container (as
// Docker's daemon does), and the wait answers instead of waiting for a
// run that never comes.
func TestRunRemovedAfterFailedStart(t *testing.T) {
	f := newFakeVMs(vms.VM{ID: "aaaaaaaaaaaa", Name: "r", State: vms.Created, Spec: vms.Spec{AutoRemove: true}})
	f.startErr = fmt.Errorf("vm r: boot: %w", errBoot)
	s, _ := newTestServer(f, t.TempDir())
	url := serve(t, s)
	resp, err := http.Post(url+"/v1.41/containers/r/wait?condition=removed", "", nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("wait: %v %v", resp, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if rec := do(s, "POST", "/containers/r/start", ""); rec.Code != 500 || !strings.Contains(message(t, rec), "boot") {
		t.Errorf("failed start: %d %s", rec.Code, rec.Body)
	}
	if _, err := f.Get("aaaaaaaaaaaa"); err == nil {
		t.Error("the --rm container outlived its failed start")
	}
	done := make(chan error, 1)
	go func() {
		var w container.WaitResponse
		done <- json.NewDecoder(resp.Body).Decode(&w)
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("wait answer: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("the wait for removal did not answer after the failed start removed the container")
	}
}

var errBoot = fmt.Errorf("the agent did not answer")
