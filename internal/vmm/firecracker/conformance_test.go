package firecracker_test

import (
	"bytes"
	"crypto/rand"
	"io"
	"net"
	"os"
	"testing"

	"github.com/bangerdev/banger/internal/config"
	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/internal/vmm/firecracker"
	"github.com/bangerdev/banger/internal/vmm/firecracker/fctest"
	"github.com/bangerdev/banger/internal/vmm/vmmtest"
)

// VMMs outlive their parent on purpose; vmmtest.Main kills those of a test
// binary that died.
func TestMain(m *testing.M) { os.Exit(vmmtest.Main(m)) }

// TestConformance runs the shared vmm suite against the Firecracker
// backend driving the contract-checking fake: every API call the backend
// makes is validated against the v1.16.1 spec, the fake's "guest" answers
// the hybrid-vsock agent port with an echo, and Ctrl-Alt-Del powers it off.
func TestConformance(t *testing.T) {
	fake := fctest.Binaries(t)
	cfg := config.Default().Firecracker
	cfg.Binary, cfg.Jailer = fake.Firecracker, ""
	vmmtest.Run(t, vmmtest.Harness{
		NewBackend: func(*testing.T) vmm.Backend { return firecracker.New(cfg) },
		Spec:       func(t *testing.T) vmm.Spec { return fctest.Spec(t, "conf") },
		Guest:      conformanceEcho,
	})
}

// conformanceEcho proves bytes reach the guest side of the vsock muxer and
// come back (the suite closes the stream).
func conformanceEcho(t *testing.T, conn net.Conn) {
	t.Helper()
	msg := make([]byte, 512)
	_, _ = rand.Read(msg)
	if _, err := conn.Write(msg); err != nil {
		t.Fatalf("write: %v", err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(conn, got); err != nil {
		t.Fatalf("read the echo: %v", err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatal("the guest echoed different bytes")
	}
}
