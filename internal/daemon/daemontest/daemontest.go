// Package daemontest starts real banger daemons inside tests: each on its
// own short temporary root (unix socket paths are limited to 107 bytes),
// serving on its own socket, stopped and removed when the test ends.
package daemontest

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/config"
	"github.com/bangerdev/banger/internal/daemon"
	"github.com/bangerdev/banger/internal/paths"
	"github.com/bangerdev/banger/pkg/api"
)

// Daemon is a daemon running for one test.
type Daemon struct {
	Layout paths.Layout
	Config config.Config
	Client *api.Client
	Host   string

	cancel context.CancelFunc
	done   chan error
	d      *daemon.Daemon
}

// Option adjusts the daemon's configuration before it starts.
type Option func(*config.Config)

// Start runs a daemon until the test ends.
func Start(t testing.TB, opts ...Option) *Daemon {
	t.Helper()
	// Not t.TempDir: its long path would push VM socket paths past 107 bytes.
	root, err := os.MkdirTemp("", "bg") //nolint:usetesting // see above
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(root) })
	return StartAt(t, paths.Rooted(root), opts...)
}

// StartAt runs a daemon on an existing layout (to restart one on the same
// state).
func StartAt(t testing.TB, layout paths.Layout, opts ...Option) *Daemon {
	t.Helper()
	cfg := config.Default()
	cfg.Daemon.SocketGroup = ""
	// Skip QEMU's KVM probe (a tiny guest boot) in the many short-lived
	// daemons tests start; tests that boot VMs set what they need.
	cfg.QEMU.Accel = "tcg"
	for _, o := range opts {
		o(&cfg)
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	d, err := daemon.New(daemon.Options{Layout: layout, Config: cfg, Log: log})
	if err != nil {
		t.Fatalf("start daemon: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	td := &Daemon{Layout: layout, Config: cfg, Host: "unix://" + layout.Socket, cancel: cancel, done: make(chan error, 1), d: d}
	go func() { td.done <- d.Serve(ctx) }()
	td.Client, err = api.NewClient(td.Host)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := api.Do(context.Background(), td.Client, api.GetInfo, api.None{}); err == nil {
			break
		}
		select {
		case err := <-td.done:
			t.Fatalf("daemon exited during start: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("daemon did not answer within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Cleanup(func() { td.Stop(t) })
	return td
}

// Stop shuts the daemon down (as on SIGTERM) and waits for it. It is
// idempotent.
func (td *Daemon) Stop(t testing.TB) {
	t.Helper()
	if td.cancel == nil {
		return
	}
	td.cancel()
	td.cancel = nil
	select {
	case err := <-td.done:
		if err != nil {
			t.Errorf("daemon exited with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("daemon did not stop within 30s")
	}
	if err := td.d.Close(); err != nil {
		t.Errorf("close daemon: %v", err)
	}
}

// testWriter sends daemon logs to the test log, shown on failure or -v.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p[:len(p)-1]))
	return len(p), nil
}
