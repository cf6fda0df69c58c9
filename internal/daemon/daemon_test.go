package daemon_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/bangerdev/banger/internal/config"
	"github.com/bangerdev/banger/internal/daemon"
	"github.com/bangerdev/banger/internal/daemon/daemontest"
	"github.com/bangerdev/banger/internal/hostnet"
	"github.com/bangerdev/banger/internal/paths"
	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/errdefs"
)

func TestDaemonServesInfo(t *testing.T) {
	td := daemontest.Start(t)
	info, err := api.Do(context.Background(), td.Client, api.GetInfo, api.None{})
	if err != nil {
		t.Fatal(err)
	}
	if info.StateDir != td.Layout.State || info.Socket != td.Layout.Socket || info.PID != os.Getpid() {
		t.Fatalf("info = %+v, layout = %+v", info, td.Layout)
	}
	fi, err := os.Stat(td.Layout.Socket)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o660 || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("socket mode %v, want 0660 socket", fi.Mode())
	}
	for dir := range td.Layout.Dirs() {
		if _, err := os.Stat(dir); err != nil {
			t.Errorf("layout dir %s not created: %v", dir, err)
		}
	}
	raw, err := api.Do(context.Background(), td.Client, api.GetConfig, api.None{})
	var cfg config.Config
	if err == nil {
		err = json.Unmarshal(raw, &cfg)
	}
	// Under --root, the network the config leaves at its defaults is the
	// daemon's own.
	if own := hostnet.OwnNetwork(td.Config.Network, td.Layout.State, td.Config.IsSet); err != nil || cfg.Network != own || own.Bridge == config.Default().Network.Bridge {
		t.Fatalf("config = %+v, %v; want the daemon's own network %+v", cfg.Network, err, own)
	}
}

func TestSecondDaemonOnSameStateRefused(t *testing.T) {
	td := daemontest.Start(t)
	layout := td.Layout
	layout.Socket = filepath.Join(layout.Run, "other.sock")
	_, err := daemon.New(daemon.Options{Layout: layout, Config: config.Default()})
	if !errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("second daemon on one state dir: want ErrConflict, got %v", err)
	}
}

func TestStaleSocketReplaced(t *testing.T) {
	root, err := os.MkdirTemp("", "bg") //nolint:usetesting // short path for the socket
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = os.RemoveAll(root) }()
	layout := paths.Rooted(root)
	if err := os.MkdirAll(layout.Run, 0o755); err != nil {
		t.Fatal(err)
	}
	// A socket file nobody listens on: what a SIGKILLed daemon leaves.
	l, err := net.Listen("unix", layout.Socket)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	_ = l.Close()
	if _, err := os.Stat(layout.Socket); err != nil {
		t.Fatalf("stale socket not left behind: %v", err)
	}
	td := daemontest.StartAt(t, layout)
	if _, err := api.Do(context.Background(), td.Client, api.GetInfo, api.None{}); err != nil {
		t.Fatalf("daemon on a stale socket: %v", err)
	}
}
