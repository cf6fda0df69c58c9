package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/bangerdev/banger/internal/events"
	"github.com/bangerdev/banger/internal/version"
	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// Serve serves the API until ctx ends — on the socket the service manager
// passed (Options.Listener), else on the layout's socket, made here —
// then stops accepting and waits (bounded) for requests in flight.
//
// New has adopted the running VMs by the time Serve runs, so readiness
// (READY=1) is sent once the listener is served: a unit ordered after
// banger.service finds a daemon that answers, with its VMs known.
func (d *Daemon) Serve(ctx context.Context) error {
	l, activated := d.listener, d.listener != nil
	if activated {
		if a := l.Addr().String(); a != d.layout.Socket {
			d.log.Warn("the service manager passed a socket other than the daemon's", "passed", a, "socket", d.layout.Socket)
		}
	} else {
		var err error
		if l, err = d.listen(d.layout.Socket, "stop it or use --socket"); err != nil {
			return err
		}
	}
	docker, err := d.serveDocker()
	if err != nil {
		if !activated {
			_ = l.Close()
		}
		return err
	}
	// Every request carries its caller's credentials (SO_PEERCRED) and
	// logs its uid.
	srv := &http.Server{Handler: d.Handler(), ReadHeaderTimeout: 10 * time.Second, ConnContext: api.ConnContext}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	d.log.Info("daemon ready", "socket", l.Addr().String(), "activated", activated, "state", d.layout.State, "version", version.String())
	d.publishDaemon(events.Ready)
	if err := d.notify.Ready(d.status(l)); err != nil {
		d.log.Warn("cannot tell the service manager the daemon is ready", "error", err)
	}
	select {
	case err := <-errc:
		docker.shutdown(context.Background())
		return fmt.Errorf("serve api: %w", err)
	case <-ctx.Done():
	}
	d.log.Info("daemon stopping")
	_ = d.notify.Stopping("stopping: running VMs go on, and the next start adopts them")
	// The last event; then the event streams end, telling their clients
	// where to resume, so the shutdown does not wait for them.
	d.publishDaemon(events.Stop)
	d.journal.Close()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	docker.shutdown(sctx)
	if !activated {
		// An activated socket is the service manager's: it keeps
		// listening there, and starts the next daemon on a connection.
		_ = os.Remove(d.layout.Socket)
	}
	return nil
}

// status is the daemon's line in `systemctl status`.
func (d *Daemon) status(l net.Listener) string {
	s := "serving " + l.Addr().String()
	if vms, err := d.vms.List(false); err == nil {
		n := 0
		for _, vm := range vms {
			if vm.State.Live() {
				n++
			}
		}
		s += fmt.Sprintf("; %d VMs running", n)
	}
	return s
}

// listen creates a socket (the API's, the Docker API's) with mode 0660,
// group-owned by the configured group when it exists. A stale socket left
// by a crashed daemon is replaced; a live one means another daemon
// answers there (hint says what to do).
func (d *Daemon) listen(sock, hint string) (net.Listener, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var d0 net.Dialer
	if c, err := d0.DialContext(ctx, "unix", sock); err == nil {
		_ = c.Close()
		return nil, fmt.Errorf("socket %s: %w: another daemon is serving it; %s", sock, errdefs.ErrConflict, hint)
	}
	if err := os.Remove(sock); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove stale socket %s: %w", sock, err)
	}
	if err := os.MkdirAll(filepath.Dir(sock), 0o755); err != nil {
		return nil, fmt.Errorf("socket dir: %w", err)
	}
	old := syscall.Umask(0o117)
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "unix", sock)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", sock, err)
	}
	if grp := d.cfg.Daemon.SocketGroup; grp != "" {
		if g, err := user.LookupGroup(grp); err == nil {
			gid, _ := strconv.Atoi(g.Gid)
			if err := os.Chown(sock, -1, gid); err != nil {
				d.log.Warn("cannot give the socket to its group", "group", grp, "error", err)
			}
		}
	}
	if err := os.Chmod(sock, 0o660); err != nil {
		_ = l.Close()
		return nil, fmt.Errorf("chmod %s: %w", sock, err)
	}
	return l, nil
}
