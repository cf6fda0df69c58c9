package agentclient_test

import (
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/agent/agenttest"
	"github.com/bangerdev/banger/internal/bootcfg"
)

// serveUpper answers each connection with its whole input upper-cased,
// after the client's half-close: it proves EOF crosses the forward.
func serveUpper(t *testing.T, l net.Listener) {
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer func() { _ = c.Close() }()
				b, _ := io.ReadAll(c)
				_, _ = c.Write([]byte(strings.ToUpper(string(b))))
			}()
		}
	}()
}

func TestDialGuestForwards(t *testing.T) {
	a := agenttest.Start(t, bootcfg.Config{})
	c := a.Dial(t)
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveUpper(t, tl)
	dir, err := os.MkdirTemp("", "fwd") //nolint:usetesting // unix socket paths must be short
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	ul, err := net.Listen("unix", filepath.Join(dir, "s"))
	if err != nil {
		t.Fatal(err)
	}
	serveUpper(t, ul)

	for _, tt := range []struct{ network, addr string }{{"tcp", tl.Addr().String()}, {"unix", filepath.Join(dir, "s")}} {
		t.Run(tt.network, func(t *testing.T) {
			conn, err := c.DialGuest(ctxT(t), tt.network, tt.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = conn.Close() }()
			if _, err := conn.Write([]byte("through the agent")); err != nil {
				t.Fatal(err)
			}
			if err := conn.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(conn)
			if err != nil || string(b) != "THROUGH THE AGENT" {
				t.Fatalf("read %q, %v", b, err)
			}
		})
	}
	// A closed port is refused with the guest's error.
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := dead.Addr().String()
	_ = dead.Close()
	if _, err := c.DialGuest(ctxT(t), "tcp", addr); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("dial to a closed port: %v", err)
	}
}

func TestAuthentication(t *testing.T) {
	a := agenttest.Start(t, bootcfg.Config{})
	dial := func(cfg func(*agenttestConfig)) error {
		conn, err := net.Dial("unix", a.Socket)
		if err != nil {
			t.Fatal(err)
		}
		c := agenttestConfig{a.ClientConfig()}
		cfg(&c)
		cl, err := dialWith(t, conn, c.Config)
		if err == nil {
			_ = cl.Close()
		}
		return err
	}
	stranger, _ := newKey(t)
	if err := dial(func(c *agenttestConfig) { c.Signer = stranger.Signer }); err == nil || !strings.Contains(err.Error(), "unable to authenticate") {
		t.Fatalf("a client with an unauthorized key: %v", err)
	}
	impostor, _ := newKey(t)
	err := dial(func(c *agenttestConfig) { c.HostKey = impostor.PublicKey() })
	if !errors.Is(err, errHostKeyMismatch) {
		t.Fatalf("a host key that is not the pinned one: %v", err)
	}
	if err := dial(func(*agenttestConfig) {}); err != nil {
		t.Fatalf("the right keys: %v", err)
	}
	// KeyExchanges is what the client offers: one the agent knows works,
	// one it does not fails the handshake.
	if err := dial(func(c *agenttestConfig) { c.KeyExchanges = []string{"curve25519-sha256"} }); err != nil {
		t.Fatalf("curve25519-sha256 only: %v", err)
	}
	if err := dial(func(c *agenttestConfig) { c.KeyExchanges = []string{"no-such-kex"} }); err == nil || !strings.Contains(err.Error(), "key exchange") {
		t.Fatalf("an unknown key exchange must fail the handshake: %v", err)
	}
}
