package qemu_test

import (
	"bytes"
	"crypto/rand"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/testutil"
	"github.com/bangerdev/banger/internal/testutil/guest"
	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/internal/vmm/qemu"
	"github.com/bangerdev/banger/internal/vmm/vmmtest"
)

// testAccel is the accelerator VM tests ask for: "auto" unless
// BANGER_TEST_QEMU_ACCEL says otherwise (tcg saves the KVM probe).
func testAccel() string {
	if a := os.Getenv("BANGER_TEST_QEMU_ACCEL"); a != "" {
		return a
	}
	return "auto"
}

// echoHarness boots the busybox echo guest (guest.EchoScript).
func echoHarness(t *testing.T) vmmtest.Harness {
	if testing.Short() {
		t.Skip("boots VMs; skipped in -short mode")
	}
	testutil.RequireQEMU(t)
	k, initrd := guest.Echo(t)
	return vmmtest.Harness{
		NewBackend: func(*testing.T) vmm.Backend { return qemu.New(qemu.WithAccel(testAccel())) },
		Spec: func(*testing.T) vmm.Spec {
			return vmm.Spec{
				Kernel:    vmm.Kernel{BzImage: k.BzImage, Vmlinux: k.Vmlinux, Initrd: initrd},
				Cmdline:   "quiet",
				CPUs:      1,
				MemoryMiB: 256,
			}
		},
		Guest: echoRoundTrip,
	}
}

// echoRoundTrip proves bytes go to the guest and back on the agent stream.
func echoRoundTrip(t *testing.T, conn net.Conn) {
	t.Helper()
	msg := make([]byte, 4096)
	_, _ = rand.Read(msg)
	errc := make(chan error, 1)
	go func() { _, err := conn.Write(msg); errc <- err }()
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(conn, got); err != nil {
		t.Fatalf("read echo from the guest: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("write to the guest: %v", err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatal("the guest echoed different bytes")
	}
}

func TestConformance(t *testing.T) {
	vmmtest.Run(t, echoHarness(t))
}

// firstEcho measures the time from just before Start to its return (QEMU
// answers on QMP) and to the first byte the guest echoes on the agent
// channel (0 when none came).
func firstEcho(t *testing.T, b *qemu.Backend, spec vmm.Spec) (started, echoed time.Duration, _ vmm.Machine) {
	t.Helper()
	ctx := t.Context()
	start := time.Now()
	m, err := b.Start(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	started = time.Since(start)
	t.Cleanup(func() { _ = m.Kill(ctx); _ = m.Cleanup() })
	conn, err := m.DialAgent(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	_ = conn.SetDeadline(time.Now().Add(90 * time.Second))
	if _, err := conn.Write([]byte{'x'}); err != nil {
		t.Fatal(err)
	}
	var one [1]byte
	if _, err := io.ReadFull(conn, one[:]); err != nil {
		return started, 0, m
	}
	return started, time.Since(start), m
}
