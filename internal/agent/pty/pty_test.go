package pty

import (
	"errors"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestOpenSetsizeAndInterruptibleRead(t *testing.T) {
	m, s, err := Open()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	if err := Setsize(m, 33, 77); err != nil {
		t.Fatal(err)
	}
	ws, err := unix.IoctlGetWinsize(int(s.Fd()), unix.TIOCGWINSZ)
	if err != nil || ws.Row != 33 || ws.Col != 77 {
		t.Fatalf("slave sees %+v, %v; want 33x77", ws, err)
	}
	if _, err := s.Write([]byte("hi\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	n, err := m.Read(buf)
	if err != nil || string(buf[:n]) != "hi\r\n" {
		t.Fatalf("master read %q, %v", buf[:n], err)
	}
	// A read with nothing to read must end when the master is closed (the
	// reason this package exists).
	done := make(chan error)
	go func() { _, err := m.Read(buf); done <- err }()
	time.Sleep(20 * time.Millisecond)
	_ = m.Close()
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrClosed) {
			t.Fatalf("read after close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not interrupt a blocked read")
	}
}
