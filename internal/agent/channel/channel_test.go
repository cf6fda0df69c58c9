package channel

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fakePort makes sysDir/<dev>/name = name and devDir/<dev> a FIFO (which,
// opened read-write, loops what is written back: enough to carry bytes).
func fakePort(t *testing.T, sysDir, devDir, dev, name string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(sysDir, dev), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(devDir, dev), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sysDir, dev, "name"), []byte(name+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFindPort(t *testing.T) {
	sys, dev := t.TempDir(), t.TempDir()
	fakePort(t, sys, dev, "vport1p1", "org.qemu.guest_agent.0")
	fakePort(t, sys, dev, "vport1p2", "banger.agent")
	if got := FindPort(sys, "banger.agent"); got != "vport1p2" {
		t.Errorf("FindPort = %q, want vport1p2", got)
	}
	if got := FindPort(sys, "other"); got != "" {
		t.Errorf("FindPort(other) = %q", got)
	}
	if got := FindPort(filepath.Join(sys, "missing"), "banger.agent"); got != "" {
		t.Errorf("FindPort on a missing dir = %q", got)
	}
}

func accept(l net.Listener) chan net.Conn {
	ch := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			close(ch)
			return
		}
		ch <- c
	}()
	return ch
}

func TestVsockListenAndClose(t *testing.T) {
	l, err := ListenVsock(52000 + uint32(os.Getpid()%1000))
	if errors.Is(err, unix.EAFNOSUPPORT) || errors.Is(err, unix.ENODEV) {
		t.Skipf("no AF_VSOCK on this host: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if l.Addr().Network() != "vsock" {
		t.Errorf("addr %v", l.Addr())
	}
	done := accept(l)
	time.Sleep(20 * time.Millisecond)
	_ = l.Close()
	select {
	case _, ok := <-done:
		if ok {
			t.Fatal("Accept returned a connection nobody made")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not interrupt Accept")
	}
}
