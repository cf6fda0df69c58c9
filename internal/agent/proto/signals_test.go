package proto

import (
	"syscall"
	"testing"
)

func TestSignalTableIsLinux(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGKILL, syscall.SIGSEGV, syscall.SIGTERM, syscall.SIGBUS, syscall.SIGSYS, syscall.SIGCHLD} {
		name := SignalName(int(sig))
		if name == "" {
			t.Errorf("signal %d (%v) has no name", int(sig), sig)
			continue
		}
		if n, ok := SignalNumber(name); !ok || n != int(sig) {
			t.Errorf("SignalNumber(%q) = %d, %v; want %d", name, n, ok, int(sig))
		}
	}
	if SignalName(34) != "" {
		t.Error("a real-time signal has no RFC 4254 name")
	}
	if _, ok := SignalNumber("SIGKILL"); ok {
		t.Error(`names travel without "SIG"`)
	}
}
