package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/testutil"
)

// TestOpenSSHThroughSSHConfig: OpenSSH's own ssh and scp reach a VM by
// name through `banger ssh-config` (ProxyCommand), with the daemon's host
// key pinned — a client nobody here wrote.
func TestOpenSSHThroughSSHConfig(t *testing.T) {
	f := env(t)
	sshBin := testutil.RequireBinary(t, "ssh", "openssh-client")
	scpBin := testutil.RequireBinary(t, "scp", "openssh-client")
	id := strings.TrimSpace(f.must(t, "run", "-d", "--name", "sshbox", "busybox"))
	t.Cleanup(func() { f.cli(nil, "rm", "-f", id) })

	home := t.TempDir()
	// The real banger binary, so the ProxyCommand it writes is itself.
	cmd := exec.Command(f.banger, "--host", f.host, "ssh-config", "sshbox")
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+home)
	cfgText, err := cmd.Output()
	if err != nil {
		t.Fatalf("ssh-config: %v", err)
	}
	if !strings.Contains(string(cfgText), "ProxyCommand "+f.banger) {
		t.Fatalf("ssh-config:\n%s", cfgText)
	}
	cfg := filepath.Join(home, "ssh_config")
	if err := os.WriteFile(cfg, cfgText, 0o600); err != nil {
		t.Fatal(err)
	}
	ssh := func(bin string, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c := exec.CommandContext(ctx, bin, append([]string{"-F", cfg, "-o", "BatchMode=yes"}, args...)...)
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", bin, args, err, out)
		}
		return string(out)
	}
	if out := ssh(sshBin, "sshbox", "uname -s; id -u"); out != "Linux\n0\n" {
		t.Errorf("ssh: %q", out)
	}
	local := filepath.Join(t.TempDir(), "up.txt")
	if err := os.WriteFile(local, []byte("via scp"), 0o644); err != nil {
		t.Fatal(err)
	}
	ssh(scpBin, local, "sshbox:/tmp/up.txt")
	if out := f.must(t, "exec", "sshbox", "--", "cat", "/tmp/up.txt"); out != "via scp" {
		t.Errorf("scp'd file reads %q", out)
	}
	// A tampered known_hosts must make OpenSSH refuse the daemon.
	kh := filepath.Join(home, "banger", "known_hosts")
	if err := os.WriteFile(kh, []byte("banger-daemon ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGtCS3c1v6pL4U6o3w0yH7zR5o1b6mJ5eXg1Y7n0cW8q\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := exec.Command(sshBin, "-F", cfg, "-o", "BatchMode=yes", "sshbox", "true")
	if out, err := c.CombinedOutput(); err == nil {
		t.Errorf("ssh with a wrong pinned key succeeded:\n%s", out)
	}
}

// TestPublishedPort: -p publishes a guest port on the host, reachable via
// 127.0.0.1.
func TestPublishedPort(t *testing.T) {
	f := env(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	id := strings.TrimSpace(f.must(t, "run", "-d", "-p", fmt.Sprintf("%d:80", port), "busybox", "--",
		"sh", "-c", "mkdir -p /www && echo served-by-guest > /www/index.html && exec httpd -f -p 80 -h /www"))
	t.Cleanup(func() { f.cli(nil, "rm", "-f", id) })
	var body string
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			body = string(b)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if body != "served-by-guest\n" {
		t.Fatalf("GET 127.0.0.1:%d = %q", port, body)
	}
	f.must(t, "rm", "-f", id)
	f.assertNoTrace(t, id)
}
