package dockerapi

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/vmlogs"
	"github.com/bangerdev/banger/internal/vms"
)

// attachTTY runs a TTY main process that echoes its stdin on the
// container "t" and attaches to it with query; it returns the hijacked
// connection and its reader, past the 101.
func attachTTY(t *testing.T, query string) (*net.TCPConn, *bufio.Reader, *vmlogs.Service) {
	t.Helper()
	f := newFakeVMs(vms.VM{ID: "tttttttttttt", Name: "t", State: vms.Running, Spec: vms.Spec{Interactive: true, TTY: true}})
	s, out := newTestServer(f, t.TempDir())
	runMain(t, out, "tttttttttttt", &fakeMain{code: 4}, true, true)
	url := serve(t, s)
	c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	conn := c.(*net.TCPConn) //nolint:forcetypeassert // a tcp dial
	t.Cleanup(func() { _ = conn.Close() })
	_, _ = io.WriteString(conn, "POST /v1.41/containers/t/attach?stream=1&stdin=1&stdout=1"+query+" HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("attach answer %+v, %v; want 101", resp, err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	return conn, br, out
}

// stillRunning checks that the main process got before (and only that)
// through the attachment and runs on with its stdin open: a line written
// to it now comes back (the process echoes), and closing it ends the
// process with its own code.
func stillRunning(t *testing.T, out *vmlogs.Service, before string) {
	t.Helper()
	time.Sleep(100 * time.Millisecond) // a wrongly closed stdin would end the run by now
	backlog, sub, err := out.Subscribe("tttttttttttt", vmlogs.SubOptions{Follow: true, Backlog: &vmlogs.Query{Tail: -1}})
	if err != nil || sub == nil {
		t.Fatalf("the process ended with the attachment (%v)", err)
	}
	defer sub.Close()
	if _, err := sub.WriteStdin([]byte("after\n")); err != nil {
		t.Fatalf("stdin closed with the attachment: %v", err)
	}
	sub.CloseStdin()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var got string
	for _, e := range backlog {
		got += string(e.Data)
	}
	for {
		ev, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("after the attachment: %v (output %q)", err, got)
		}
		if ev.Exit != nil {
			if got != before+"after\n" || ev.Exit.Code != 4 {
				t.Errorf("the process printed %q and exited %+v; want %q and 4", got, ev.Exit, before+"after\n")
			}
			return
		}
		got += string(ev.Entry.Data)
	}
}

// TestAttachDetachKeys: on a TTY the detach keys (the default
// ctrl-p,ctrl-q or detachKeys) end the attachment; what came before them
// reaches the process, they do not, and it runs on with its stdin open.
func TestAttachDetachKeys(t *testing.T) {
	for _, tc := range []struct{ name, query, keys string }{
		{"default keys", "", "\x10\x11"},
		{"detachKeys", "&detachKeys=ctrl-x,z", "\x18z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, br, out := attachTTY(t, tc.query)
			_, _ = io.WriteString(conn, "ab\x10c\n"+tc.keys+"never\n")
			// The server ends the stream at the keys (the echo of what
			// came before may or may not make it: Docker's too).
			got, err := io.ReadAll(br)
			if err != nil || strings.Contains(string(got), "never") {
				t.Errorf("attached output %q (%v); want the end at the keys", got, err)
			}
			stillRunning(t, out, "ab\x10c\n")
		})
	}
}

// TestAttachTTYClientEOF: a TTY's client closing its input (the docker
// CLI does when it detaches by itself) does not close the process's
// stdin, as Docker's.
func TestAttachTTYClientEOF(t *testing.T) {
	conn, br, out := attachTTY(t, "")
	_, _ = io.WriteString(conn, "hi\n")
	if line, err := br.ReadString('\n'); err != nil || line != "hi\n" {
		t.Fatalf("echo %q (%v)", line, err)
	}
	_ = conn.CloseWrite()
	stillRunning(t, out, "hi\n")
}

// TestAttachBadDetachKeys: detach keys docker would not parse are its
// 400, before the connection is taken over.
func TestAttachBadDetachKeys(t *testing.T) {
	f := newFakeVMs(vms.VM{ID: "tttttttttttt", Name: "t", State: vms.Running, Spec: vms.Spec{Interactive: true, TTY: true}})
	s, _ := newTestServer(f, t.TempDir())
	if rec := do(s, "POST", "/containers/t/attach?stream=1&stdin=1&detachKeys=ctrl-%C3%BC", ""); rec.Code != 400 || !strings.Contains(rec.Body.String(), "Invalid detach keys (ctrl-ü) provided") {
		t.Errorf("bad detach keys: %d %s; want 400", rec.Code, rec.Body)
	}
}
