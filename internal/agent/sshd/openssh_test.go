package sshd_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/agent/agenttest"
	"github.com/bangerdev/banger/internal/agentclient"
	"github.com/bangerdev/banger/internal/bootcfg"
	"github.com/bangerdev/banger/internal/testutil"
)

// envProxy makes this test binary a ProxyCommand: it relays stdin/stdout
// to the agent's unix socket, as `banger ssh-proxy` will.
const envProxy = "BANGER_TEST_PROXY_SOCKET"

func TestMain(m *testing.M) {
	if sock := os.Getenv(envProxy); sock != "" {
		os.Exit(proxy(sock))
	}
	os.Exit(m.Run())
}

func proxy(sock string) int {
	c, err := net.Dial("unix", sock)
	if err != nil {
		return 1
	}
	go func() {
		_, _ = io.Copy(c, os.Stdin)
		_ = c.(*net.UnixConn).CloseWrite()
	}()
	_, _ = io.Copy(os.Stdout, c)
	return 0
}

type opensshEnv struct {
	a          *agenttest.Agent
	dir        string
	knownHosts string
	key        string
}

func newOpenSSH(t *testing.T) *opensshEnv {
	testutil.RequireBinary(t, "ssh", "openssh-client")
	e := &opensshEnv{a: agenttest.Start(t, bootcfg.Config{}), dir: t.TempDir()}
	e.key = filepath.Join(e.dir, "id_ed25519")
	if err := os.WriteFile(e.key, e.a.ClientKey.PEM, 0o600); err != nil {
		t.Fatal(err)
	}
	e.knownHosts = filepath.Join(e.dir, "known_hosts")
	line := agentclient.KnownHostsLine("agent-test", e.a.HostKey.PublicKey())
	if err := os.WriteFile(e.knownHosts, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

// opts are what `banger ssh-config` will write for a VM.
func (e *opensshEnv) opts() []string {
	self, _ := os.Executable()
	return []string{
		"-F", "/dev/null",
		"-o", "BatchMode=yes",
		"-o", "StrictHostKeyChecking=yes",
		"-o", "UserKnownHostsFile=" + e.knownHosts,
		"-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "IdentitiesOnly=yes",
		"-o", "IdentityFile=" + e.key,
		"-o", "User=" + agenttest.CurrentUser(),
		"-o", "ProxyCommand=" + self + " -test.run=^$",
	}
}

func (e *opensshEnv) run(t *testing.T, stdin string, name string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.CommandContext(context.Background(), name, args...)
	cmd.Env = append(os.Environ(), envProxy+"="+e.a.Socket)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("%s: %v", name, err)
	}
	return out.String(), errb.String(), cmd.ProcessState.ExitCode()
}

func (e *opensshEnv) ssh(t *testing.T, stdin string, args ...string) (string, string, int) {
	return e.run(t, stdin, "ssh", append(e.opts(), args...)...)
}

func TestOpenSSHClient(t *testing.T) {
	e := newOpenSSH(t)
	out, errOut, code := e.ssh(t, "", "agent-test", "echo hello; echo oops >&2; exit 3")
	if out != "hello\n" || !strings.Contains(errOut, "oops") || code != 3 {
		t.Fatalf("ssh exec: out %q err %q code %d", out, errOut, code)
	}
	out, _, code = e.ssh(t, "twelve bytes", "agent-test", "wc -c")
	if strings.TrimSpace(out) != "12" || code != 0 {
		t.Fatalf("ssh stdin: %q %d", out, code)
	}
	out, errOut, code = e.ssh(t, "", "-tt", "agent-test", "tty; stty size")
	if !strings.Contains(out, "/dev/pts/") || code != 0 {
		t.Fatalf("ssh -tt: out %q err %q code %d", out, errOut, code)
	}
	out, _, code = e.ssh(t, "", "-o", "SetEnv=BANGER_X=42", "agent-test", "echo $BANGER_X")
	if out != "42\n" || code != 0 {
		t.Fatalf("ssh SetEnv: %q %d", out, code)
	}

	// ssh -W is direct-tcpip over stdio.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		b, _ := io.ReadAll(c)
		_, _ = c.Write(bytes.ToUpper(b))
		_ = c.Close()
	}()
	out, errOut, code = e.ssh(t, "forwarded", "-W", l.Addr().String(), "agent-test")
	if out != "FORWARDED" || code != 0 {
		t.Fatalf("ssh -W: out %q err %q code %d", out, errOut, code)
	}
}

func TestOpenSSHRejectsAnUnpinnedHostKey(t *testing.T) {
	e := newOpenSSH(t)
	other, _ := agentclient.NewHostKey()
	if err := os.WriteFile(e.knownHosts, []byte(agentclient.KnownHostsLine("agent-test", other.PublicKey())+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := e.ssh(t, "", "agent-test", "true")
	if code != 255 || !strings.Contains(errOut, "REMOTE HOST IDENTIFICATION HAS CHANGED") {
		t.Fatalf("ssh with a wrong known_hosts: code %d, %s", code, errOut)
	}
}

func TestOpenSSHScp(t *testing.T) {
	e := newOpenSSH(t)
	testutil.RequireBinary(t, "scp", "openssh-client")
	src := filepath.Join(e.dir, "src")
	if err := os.MkdirAll(filepath.Join(src, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "sub", "run.sh"), []byte("#!/bin/sh\n"), 0o750); err != nil {
		t.Fatal(err)
	}
	guest := filepath.Join(t.TempDir(), "guest")
	_, errOut, code := e.run(t, "", "scp", append(e.opts(), "-r", "-p", src, "agent-test:"+guest)...)
	if code != 0 {
		t.Fatalf("scp up: %d %s", code, errOut)
	}
	fi, err := os.Stat(filepath.Join(guest, "sub", "run.sh"))
	if err != nil || fi.Mode().Perm() != 0o750 {
		t.Fatalf("uploaded file: %v %v", fi, err)
	}
	back := filepath.Join(e.dir, "back.sh")
	_, errOut, code = e.run(t, "", "scp", append(e.opts(), "-p", "agent-test:"+filepath.Join(guest, "sub", "run.sh"), back)...)
	if b, _ := os.ReadFile(back); code != 0 || string(b) != "#!/bin/sh\n" {
		t.Fatalf("scp down: %d %s %q", code, errOut, b)
	}
}
