package e2e

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/agent/pty"
)

// waitLogs polls `logs VM` until its stdout contains want.
func waitLogs(t *testing.T, cli func(args ...string) (string, string, int), vm, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		out, _, _ := cli("logs", vm)
		if strings.Contains(out, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("logs %s never showed %q; last:\n%s", vm, want, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestLogsAndAttach: a detached VM's main process output is kept on the
// host with its streams apart; logs -f and attach (which missed the
// first lines) see everything and end with the process, attach with its
// exit status; --tail, --timestamps and --since select; a stop/start
// appends.
func TestLogsAndAttach(t *testing.T) {
	f := env(t)
	cli := func(args ...string) (string, string, int) { return f.cli(nil, args...) }
	script := "echo out1; echo err1 >&2; echo out2; echo err2 >&2; sleep 4; echo late; sleep 3; echo last; exit 5"
	id := strings.TrimSpace(f.must(t, "run", "-d", "--name", "lg", "busybox", "sh", "-c", script))
	t.Cleanup(func() { f.cli(nil, "rm", "-f", id) })
	waitLogs(t, cli, "lg", "out2", 30*time.Second)

	type result struct {
		out, errOut string
		code        int
	}
	follow, attach := make(chan result, 1), make(chan result, 1)
	go func() { o, e, c := f.cli(nil, "logs", "-f", "lg"); follow <- result{o, e, c} }()
	go func() { o, e, c := f.cli(nil, "attach", "lg"); attach <- result{o, e, c} }()
	for name, ch := range map[string]chan result{"logs -f": follow, "attach": attach} {
		select {
		case r := <-ch:
			wantCode := 0
			if name == "attach" {
				wantCode = 5
			}
			if r.out != "out1\nout2\nlate\nlast\n" || r.errOut != "err1\nerr2\n" || r.code != wantCode {
				t.Errorf("%s: exit %d (want %d)\nstdout %q\nstderr %q", name, r.code, wantCode, r.out, r.errOut)
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("%s did not end when the main process did", name)
		}
	}
	if out, _, _ := cli("wait", "lg"); out != "5\n" {
		t.Errorf("wait printed %q, want 5", out)
	}

	if out, errOut, _ := cli("logs", "lg"); out != "out1\nout2\nlate\nlast\n" || errOut != "err1\nerr2\n" {
		t.Errorf("logs: stdout %q stderr %q", out, errOut)
	}
	if out, errOut, _ := cli("logs", "--tail", "2", "lg"); out != "late\nlast\n" || errOut != "" {
		t.Errorf("logs --tail 2: stdout %q stderr %q", out, errOut)
	}
	stamped, _, _ := cli("logs", "-t", "lg")
	var lateAt string
	for _, line := range strings.Split(strings.TrimSuffix(stamped, "\n"), "\n") {
		ts, text, _ := strings.Cut(line, " ")
		if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
			t.Errorf("logs -t line %q: %v", line, err)
		}
		if text == "late" {
			lateAt = ts
		}
	}
	if out, errOut, _ := cli("logs", "--since", lateAt, "lg"); out != "late\nlast\n" || errOut != "" {
		t.Errorf("logs --since %s: stdout %q stderr %q", lateAt, out, errOut)
	}
	if out, _, _ := cli("logs", "--since", "1h", "lg"); out != "out1\nout2\nlate\nlast\n" {
		t.Errorf("logs --since 1h: %q", out)
	}
	if out, _, _ := cli("logs", "--until", lateAt, "lg"); out != "out1\nout2\n" {
		t.Errorf("logs --until %s: %q", lateAt, out)
	}

	// A second run, stopped midway, appends to what was kept.
	f.must(t, "start", "lg")
	waitLogs(t, cli, "lg", "out1\nout2\nlate\nlast\nout1\nout2\n", 30*time.Second)
	f.must(t, "stop", "lg")
	if out, errOut, _ := cli("logs", "lg"); out != "out1\nout2\nlate\nlast\nout1\nout2\n" || errOut != "err1\nerr2\nerr1\nerr2\n" {
		t.Errorf("logs after stop/start: stdout %q stderr %q", out, errOut)
	}
	if _, errOut, code := cli("attach", "lg"); code == 0 || !strings.Contains(errOut, "not running") {
		t.Errorf("attach to a stopped VM: exit %d, %q", code, errOut)
	}
}

// TestLogsSurviveDaemonKill: the daemon is SIGKILLed while the main
// process prints; the next daemon adopts the VM and re-attaches, and the
// kept log has every line exactly once, on its stream; a second run
// appends.
func TestLogsSurviveDaemonKill(t *testing.T) {
	f := env(t)
	pd := newProcDaemon(t, f)
	script := `i=0; while [ $i -lt 16 ]; do echo line$i; if [ $((i % 2)) = 1 ]; then echo err$i >&2; fi; i=$((i+1)); sleep 0.5; done`
	pd.run(t, "run", "-d", "--name", "keep", "busybox", "sh", "-c", script)
	waitLogs(t, pd.cli, "keep", "line3\n", 30*time.Second)

	pd.kill()
	time.Sleep(2 * time.Second) // the guest prints while no daemon is there
	pd.start(t)
	pd.run(t, "wait", "keep")

	var wantOut, wantErr strings.Builder
	for i := range 16 {
		wantOut.WriteString("line" + strconv.Itoa(i) + "\n")
		if i%2 == 1 {
			wantErr.WriteString("err" + strconv.Itoa(i) + "\n")
		}
	}
	out, errOut, _ := pd.cli("logs", "keep")
	if out != wantOut.String() || errOut != wantErr.String() {
		t.Fatalf("after a daemon SIGKILL the log lost or repeated lines:\nstdout %q\nstderr %q", out, errOut)
	}
	pd.run(t, "start", "keep")
	pd.run(t, "wait", "keep")
	if out, _, _ := pd.cli("logs", "keep"); out != wantOut.String()+wantOut.String() {
		t.Errorf("a second run did not append:\n%q", out)
	}
}

// TestAttachOnATerminal: attach to a `run -d -it` VM from a real
// terminal: the output it missed, input reaching the process, and the
// detach keys leave the VM running.
func TestAttachOnATerminal(t *testing.T) {
	f := env(t)
	id := strings.TrimSpace(f.must(t, "run", "-d", "-it", "--name", "tty", "busybox", "sh", "-c", "echo ready; while read l; do echo got:$l; done"))
	t.Cleanup(func() { f.cli(nil, "rm", "-f", id) })
	waitLogs(t, func(args ...string) (string, string, int) { return f.cli(nil, args...) }, "tty", "ready", 30*time.Second)

	master, slave, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = master.Close() }()
	cmd := exec.Command(f.banger, "--host", f.host, "attach", "tty")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	_ = slave.Close()
	var seen strings.Builder
	lines := make(chan string, 64)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			if n > 0 {
				lines <- string(buf[:n])
			}
			if err != nil {
				close(lines)
				return
			}
		}
	}()
	expect := func(want string) {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for !strings.Contains(seen.String(), want) {
			select {
			case s, ok := <-lines:
				if !ok {
					t.Fatalf("the terminal closed before %q:\n%q", want, seen.String())
				}
				seen.WriteString(s)
			case <-deadline:
				t.Fatalf("the terminal never showed %q:\n%q", want, seen.String())
			}
		}
	}
	expect("ready")
	_, _ = master.Write([]byte("hello\r"))
	expect("got:hello")
	_, _ = master.Write([]byte{0x10, 0x11}) // ctrl-p ctrl-q
	expect("detached")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("attach after the detach keys: %v", err)
		}
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("attach did not return after the detach keys")
	}
	if vm := f.inspect(t, "tty"); vm.State != "running" {
		t.Errorf("after detaching the VM is %s, want running", vm.State)
	}
	if out, _, _ := f.cli(nil, "logs", "tty"); !strings.Contains(out, "got:hello") {
		t.Errorf("the kept log lacks what the attach saw: %q", out)
	}
}
