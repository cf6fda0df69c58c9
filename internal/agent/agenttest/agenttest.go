// Package agenttest runs a real banger-agent Service in the test process,
// serving its SSH protocol on a unix socket, with fresh host and client
// keys: the guest agent without a VM, for agentclient's tests and for any
// host-side test that needs an agent to talk to. Halting the "VM" is
// recorded instead of powering off.
package agenttest

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/agent"
	"github.com/bangerdev/banger/internal/agentclient"
	"github.com/bangerdev/banger/internal/bootcfg"
	"github.com/bangerdev/banger/internal/testutil"
)

// Agent is a running in-process agent.
type Agent struct {
	Service   *agent.Service
	Socket    string
	HostKey   agentclient.Key
	ClientKey agentclient.Key
	// Console collects the agent's console lines.
	Console *Buffer
	// Halted receives the reboot flag when the service ends the "VM".
	Halted chan bool
}

// Start runs an agent for cfg. SSH keys and channels are filled in when
// cfg leaves them empty. Everything stops when the test ends.
func Start(t testing.TB, cfg bootcfg.Config) *Agent {
	t.Helper()
	return StartWith(t, cfg, nil)
}

// StartWith is Start with the service's options changed by opts (a
// Configure hook, say) before it starts.
func StartWith(t testing.TB, cfg bootcfg.Config, opts func(*agent.ServiceOptions)) *Agent {
	t.Helper()
	a := &Agent{Console: &Buffer{}, Halted: make(chan bool, 1)}
	var err error
	if a.HostKey, err = agentclient.NewHostKey(); err != nil {
		t.Fatal(err)
	}
	if a.ClientKey, err = agentclient.NewClientKey(); err != nil {
		t.Fatal(err)
	}
	if cfg.SSH.HostKey == "" {
		cfg.SSH.HostKey = string(a.HostKey.PEM)
	} else if a.HostKey, err = agentclient.ParseKey([]byte(cfg.SSH.HostKey)); err != nil {
		t.Fatal(err)
	}
	cfg.SSH.AuthorizedKeys = append(cfg.SSH.AuthorizedKeys, a.ClientKey.AuthorizedKey())
	if cfg.Channels == (bootcfg.Channels{}) {
		cfg.Channels.VirtioPort = "test"
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	// Unix socket paths are short (108 bytes); test temp dirs can be long.
	dir, err := os.MkdirTemp("", "agt") //nolint:usetesting // unix socket paths must be short; t.TempDir paths are long
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	a.Socket = filepath.Join(dir, "agent.sock")
	o := agent.ServiceOptions{
		Console: a.Console,
		Halt:    func(reboot bool) { a.Halted <- reboot },
		Logf:    t.Logf,
		// The real sftp server child, as in a VM.
		SFTPServer: []string{testutil.BuildBinary(t, "./cmd/banger-agent"), "sftp-server"},
	}
	if opts != nil {
		opts(&o)
	}
	a.Service, err = agent.NewService(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "unix", a.Socket)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = a.Service.Serve(l) })
	wg.Go(func() { a.Service.Run(ctx) })
	t.Cleanup(func() {
		cancel()
		_ = a.Service.Close()
		wg.Wait()
	})
	return a
}

// ClientConfig is an agentclient config that the agent accepts. The SSH
// user is the current one (root in a VM; whoever runs the test here).
func (a *Agent) ClientConfig() agentclient.Config {
	return agentclient.Config{HostKey: a.HostKey.PublicKey(), Signer: a.ClientKey.Signer, User: CurrentUser()}
}

// CurrentUser is the name of the user running the test.
func CurrentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "root"
}

// Dial connects a client, closed when the test ends.
func (a *Agent) Dial(t testing.TB) *agentclient.Client {
	t.Helper()
	c, err := a.DialConfig(t, a.ClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// DialConfig connects a client with cfg (another pinned host key, say)
// and returns the handshake's error; a client is closed when the test
// ends.
func (a *Agent) DialConfig(t testing.TB, cfg agentclient.Config) (*agentclient.Client, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "unix", a.Socket)
	if err != nil {
		t.Fatal(err)
	}
	c, err := agentclient.Dial(ctx, conn, cfg)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, nil
}

// WaitConsole waits until the console holds s.
func (a *Agent) WaitConsole(t testing.TB, s string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !bytes.Contains(a.Console.Bytes(), []byte(s)) {
		if time.Now().After(deadline) {
			t.Fatalf("console never showed %q; it has:\n%s", s, a.Console.Bytes())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Buffer is a goroutine-safe bytes.Buffer.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// Bytes returns a copy of the contents.
func (b *Buffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.b.Bytes())
}

// String returns the contents.
func (b *Buffer) String() string { return string(b.Bytes()) }
