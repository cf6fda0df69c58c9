package agentclient_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bangerdev/banger/internal/agent/agenttest"
	"github.com/bangerdev/banger/internal/agentclient"
	"github.com/bangerdev/banger/internal/bootcfg"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestExec(t *testing.T) {
	a := agenttest.Start(t, bootcfg.Config{
		Main:     &bootcfg.Process{Argv: []string{"sleep", "60"}, Env: []string{"BASE=from-image", "PATH=/usr/bin:/bin"}, WorkingDir: "/usr"},
		Detached: true,
	})
	c := a.Dial(t)
	tmp := t.TempDir()
	for name, f := range map[string]struct {
		body string
		mode os.FileMode
	}{
		"data":      {"x", 0o644},
		"garbage":   {"\x00\x01 not a program", 0o755},
		"badinterp": {"#!/nonexistent/interpreter\n", 0o755},
	} {
		if err := os.WriteFile(tmp+"/"+name, []byte(f.body), f.mode); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name      string
		req       agentclient.ExecRequest
		code      int
		stdout    string
		stderrHas string
	}{
		{name: "exit code", req: agentclient.ExecRequest{Argv: []string{"sh", "-c", "exit 3"}}, code: 3},
		{name: "stdin", req: agentclient.ExecRequest{Argv: []string{"cat"}, Stdin: strings.NewReader("hello\nworld\n")}, stdout: "hello\nworld\n"},
		{name: "no stdin is EOF", req: agentclient.ExecRequest{Argv: []string{"wc", "-c"}}, stdout: "0\n"},
		{name: "env", req: agentclient.ExecRequest{Argv: []string{"sh", "-c", "echo $FOO $BASE"}, Env: []string{"FOO=bar"}}, stdout: "bar from-image\n"},
		{name: "env overrides image env", req: agentclient.ExecRequest{Argv: []string{"sh", "-c", "echo $BASE"}, Env: []string{"BASE=mine"}}, stdout: "mine\n"},
		{name: "default working dir is the image's", req: agentclient.ExecRequest{Argv: []string{"pwd"}}, stdout: "/usr\n"},
		{name: "working dir", req: agentclient.ExecRequest{Argv: []string{"pwd"}, WorkingDir: tmp}, stdout: tmp + "\n"},
		{name: "separate streams", req: agentclient.ExecRequest{Argv: []string{"sh", "-c", "echo out; echo err >&2; exit 1"}}, code: 1, stdout: "out\n", stderrHas: "err\n"},
		{name: "argv is exact, no shell", req: agentclient.ExecRequest{Argv: []string{"echo", "$HOME", "a  b", "*"}}, stdout: "$HOME a  b *\n"},
		{name: "PATH is the process's", req: agentclient.ExecRequest{Argv: []string{"sh", "-c", "echo $PATH"}}, stdout: "/usr/bin:/bin\n"},
		{name: "not found", req: agentclient.ExecRequest{Argv: []string{"no-such-command"}}, code: 127, stderrHas: "not found"},
		{name: "not executable", req: agentclient.ExecRequest{Argv: []string{tmp + "/data"}}, code: 126, stderrHas: "not executable"},
		{name: "killed by a signal", req: agentclient.ExecRequest{Argv: []string{"sh", "-c", "kill -9 $$"}}, code: 137},
		{name: "a signal outside RFC 4254's list", req: agentclient.ExecRequest{Argv: []string{"sh", "-c", "kill -BUS $$"}}, code: 128 + 7},
		{name: "a real-time signal", req: agentclient.ExecRequest{Argv: []string{"sh", "-c", "kill -34 $$"}}, code: 128 + 34},
		{name: "garbage with the executable bit", req: agentclient.ExecRequest{Argv: []string{tmp + "/garbage"}}, code: 126, stderrHas: "exec format error"},
		{name: "a script whose interpreter is missing", req: agentclient.ExecRequest{Argv: []string{tmp + "/badinterp"}}, code: 127, stderrHas: "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			tt.req.Stdout, tt.req.Stderr = &out, &errb
			code, err := c.Exec(ctxT(t), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if code != tt.code {
				t.Errorf("exit code %d, want %d (stderr %q)", code, tt.code, errb.String())
			}
			if tt.stdout != "" && out.String() != tt.stdout {
				t.Errorf("stdout %q, want %q", out.String(), tt.stdout)
			}
			if !strings.Contains(errb.String(), tt.stderrHas) {
				t.Errorf("stderr %q, want it to contain %q", errb.String(), tt.stderrHas)
			}
		})
	}
}

// TestExecOneWriterForBoth: one buffer given as both stdout and stderr
// gets the whole combined output, written by one stream at a time (the
// race detector fails this test when the two copies write at once).
func TestExecOneWriterForBoth(t *testing.T) {
	a := agenttest.Start(t, bootcfg.Config{})
	c := a.Dial(t)
	var both bytes.Buffer
	script := "i=0; while [ $i -lt 200 ]; do echo out$i; echo err$i >&2; i=$((i+1)); done"
	code, err := c.Exec(ctxT(t), agentclient.ExecRequest{Argv: []string{"sh", "-c", script}, Stdout: &both, Stderr: &both})
	if err != nil || code != 0 {
		t.Fatalf("exec: %d, %v", code, err)
	}
	for _, want := range []string{"out0\n", "err0\n", "out199\n", "err199\n"} {
		if !strings.Contains(both.String(), want) {
			t.Errorf("combined output lacks %q", want)
		}
	}
	if n := strings.Count(both.String(), "\n"); n != 400 {
		t.Errorf("combined output has %d lines, want 400", n)
	}
}

func TestExecUser(t *testing.T) {
	a := agenttest.Start(t, bootcfg.Config{})
	c := a.Dial(t)
	var out, errb bytes.Buffer
	code, err := c.Exec(ctxT(t), agentclient.ExecRequest{Argv: []string{"id", "-u"}, User: "nobody", Stdout: &out, Stderr: &errb})
	if err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() != 0 {
		if code != 126 || !strings.Contains(errb.String(), "not root") {
			t.Fatalf("unprivileged agent running as nobody: code %d, stderr %q", code, errb.String())
		}
		return
	}
	if code != 0 || out.String() != "65534\n" {
		t.Fatalf("id -u as nobody: code %d, out %q, err %q", code, out.String(), errb.String())
	}
	out.Reset()
	code, _ = c.Exec(ctxT(t), agentclient.ExecRequest{Argv: []string{"id", "-u"}, User: "65534:65534", Stdout: &out})
	if code != 0 || out.String() != "65534\n" {
		t.Fatalf("numeric user: code %d, out %q", code, out.String())
	}
}

// hashWriter checksums what passes through it.
type hashWriter struct {
	h interface {
		io.Writer
		Sum([]byte) []byte
	}
	n int64
}

func (w *hashWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return w.h.Write(p)
}

func TestExec100MBStdoutWithoutLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 100 MB")
	}
	a := agenttest.Start(t, bootcfg.Config{})
	c := a.Dial(t)
	const size = 100 << 20
	hw := &hashWriter{h: sha256.New()}
	var errb bytes.Buffer
	// The guest checksums what it writes and reports the sum on stderr.
	code, err := c.Exec(ctxT(t), agentclient.ExecRequest{
		Argv:   []string{"bash", "-c", fmt.Sprintf("head -c %d /dev/urandom | tee >(sha256sum >&2)", size)},
		Stdout: hw, Stderr: &errb,
	})
	if err != nil || code != 0 {
		t.Fatalf("exec: %d %v %s", code, err, errb.String())
	}
	want, _, _ := strings.Cut(errb.String(), " ")
	if hw.n != size || hex.EncodeToString(hw.h.Sum(nil)) != want {
		t.Fatalf("received %d bytes with sha256 %x; the guest sent %d with %s", hw.n, hw.h.Sum(nil), size, want)
	}
}

// syncBuf is a bytes.Buffer safe to read while a copier writes.
type syncBuf = agenttest.Buffer

func waitFor(t *testing.T, b *syncBuf, s string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(b.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("never saw %q; got %q", s, b.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestExecPTYAndResize(t *testing.T) {
	a := agenttest.Start(t, bootcfg.Config{})
	c := a.Dial(t)
	stdinR, stdinW := io.Pipe()
	out := &syncBuf{}
	p, err := c.Start(ctxT(t), agentclient.ExecRequest{
		Argv:   []string{"sh", "-c", "test -t 0 && echo is-a-tty; echo term=$TERM; stty size; read x; stty size"},
		Stdin:  stdinR,
		Stdout: out,
		TTY:    &agentclient.TTYConfig{Term: "vt100", Rows: 40, Cols: 100},
	})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, out, "40 100")
	if err := p.Resize(50, 132); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // the window-change and the newline travel separately
	_, _ = stdinW.Write([]byte("\n"))
	code, err := p.Wait()
	if err != nil || code != 0 {
		t.Fatalf("wait: %d %v", code, err)
	}
	for _, want := range []string{"is-a-tty", "term=vt100", "40 100", "50 132"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output %q lacks %q", out.String(), want)
		}
	}
}

func TestExecSignals(t *testing.T) {
	a := agenttest.Start(t, bootcfg.Config{})
	c := a.Dial(t)
	out := &syncBuf{}
	p, err := c.Start(ctxT(t), agentclient.ExecRequest{
		Argv:   []string{"sh", "-c", `trap 'echo got-usr1; exit 7' USR1; echo ready; while :; do sleep 0.02; done`},
		Stdout: out,
	})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, out, "ready")
	if err := p.Signal(ssh.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	if code, err := p.Wait(); err != nil || code != 7 || !strings.Contains(out.String(), "got-usr1") {
		t.Fatalf("after USR1: code %d, err %v, out %q", code, err, out.String())
	}

	// Signals from the request's channel; a signal death is 128+n.
	sigs := make(chan ssh.Signal, 1)
	out2 := &syncBuf{}
	done := make(chan int)
	go func() {
		code, _ := c.Exec(ctxT(t), agentclient.ExecRequest{Argv: []string{"sh", "-c", "echo ready; exec sleep 30"}, Stdout: out2, Signals: sigs})
		done <- code
	}()
	waitFor(t, out2, "ready")
	time.Sleep(50 * time.Millisecond) // let exec replace the shell
	sigs <- ssh.SIGTERM
	select {
	case code := <-done:
		if code != 128+15 {
			t.Fatalf("TERM-killed sleep: code %d, want 143", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("TERM never reached the process")
	}
}

func TestExecContextCancelKills(t *testing.T) {
	a := agenttest.Start(t, bootcfg.Config{})
	c := a.Dial(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Exec(ctx, agentclient.ExecRequest{Argv: []string{"sleep", "30"}})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Exec after deadline = %v", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatal("Exec waited for the process instead of killing it")
	}
	// The connection still serves.
	if code, err := c.Exec(ctxT(t), agentclient.ExecRequest{Argv: []string{"true"}}); err != nil || code != 0 {
		t.Fatalf("exec after a cancel: %d %v", code, err)
	}
}

func Test50ConcurrentSessions(t *testing.T) {
	a := agenttest.Start(t, bootcfg.Config{})
	c := a.Dial(t)
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		wg.Go(func() {
			var out bytes.Buffer
			code, err := c.Exec(ctxT(t), agentclient.ExecRequest{
				Argv:   []string{"sh", "-c", `echo "session $0"; exit $(($0 % 100))`, fmt.Sprint(i)},
				Stdout: &out,
			})
			if err != nil || code != i%100 || out.String() != fmt.Sprintf("session %d\n", i) {
				errs <- fmt.Errorf("session %d: code %d out %q: %w", i, code, out.String(), err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestExecTraceCallsItsSteps(t *testing.T) {
	a := agenttest.Start(t, bootcfg.Config{
		Main:     &bootcfg.Process{Argv: []string{"sleep", "60"}},
		Detached: true,
	})
	c := a.Dial(t)
	var steps []string
	code, err := c.Exec(ctxT(t), agentclient.ExecRequest{Argv: []string{"true"}, Trace: func(s string) { steps = append(steps, s) }})
	if err != nil || code != 0 {
		t.Fatalf("exec true: code %d, %v", code, err)
	}
	if strings.Join(steps, ",") != "open,start" {
		t.Fatalf("trace steps %v, want open then start", steps)
	}
	steps = nil
	if _, err := c.Exec(ctxT(t), agentclient.ExecRequest{Argv: []string{"/nonexistent"}, Trace: func(s string) { steps = append(steps, s) }}); err != nil {
		t.Fatal(err)
	}
	if len(steps) != 2 {
		t.Fatalf("a command that cannot run still opened and started (its 127 comes as the exit status): %v", steps)
	}
}
