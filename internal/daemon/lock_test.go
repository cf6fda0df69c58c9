package daemon

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// A second daemon on a state directory fails with a clear conflict once
// lockWait has passed; one whose predecessor lets go within it starts
// (a daemon that just exited may still hold the lock a moment through a
// child it was starting).
func TestStateLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "daemon.lock")
	first, err := lockState(path)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	if _, err := lockState(path); !errors.Is(err, errdefs.ErrConflict) || time.Since(t0) < lockWait {
		t.Fatalf("second lock after %v: %v; want a conflict after %v", time.Since(t0), err, lockWait)
	}
	go func() {
		time.Sleep(lockWait / 4)
		_ = first.Close()
	}()
	second, err := lockState(path)
	if err != nil {
		t.Fatalf("the lock let go within the wait: %v", err)
	}
	_ = second.Close()
}
