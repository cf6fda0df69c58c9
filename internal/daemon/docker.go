package daemon

import (
	"context"
	"errors"
	"net/http"
	"os"
	"time"

	"github.com/bangerdev/banger/internal/dockerapi"
	"github.com/bangerdev/banger/internal/version"
	"github.com/bangerdev/banger/pkg/api"
)

// dockerSocket is where the Docker Engine API is served: docker_api.socket,
// else the layout's.
func (d *Daemon) dockerSocket() string {
	if d.cfg.DockerAPI.Socket != "" {
		return d.cfg.DockerAPI.Socket
	}
	return d.layout.DockerSocket
}

// DockerHandler is the Docker Engine API over the daemon's services
// (package dockerapi).
func (d *Daemon) DockerHandler() http.Handler {
	return dockerapi.New(dockerapi.Options{
		VMs: d.vms, Outputs: d.outputs, Images: d.images, Volumes: d.volumes,
		Networks: dockerNetworks{Service: d.networks, d: d},
		ImageOps: d.images, Builder: dockerBuilder{d},
		Version: version.String(), StateDir: d.layout.State,
		StopTimeout: time.Duration(d.cfg.VM.StopTimeout) * time.Second,
		Log:         d.log, Ctx: d.ctx,
		Ops: dockerapi.Ops{Live: d.vms, Stats: d.sample, Volumes: d.volumes, Journal: d.journal, Cache: d.images},
	})
}

// dockerServer is the Docker API socket's server; the zero value is a
// disabled one.
type dockerServer struct {
	srv  *http.Server
	sock string
}

// serveDocker serves the Docker Engine API on its own socket (mode 0660,
// the socket group's, every connection carrying its caller's credentials
// as the API socket's do), unless docker_api.enabled is false.
func (d *Daemon) serveDocker() (dockerServer, error) {
	if !d.cfg.DockerAPI.Enabled {
		return dockerServer{}, nil
	}
	sock := d.dockerSocket()
	l, err := d.listen(sock, "stop it, or set docker_api.socket or docker_api.enabled = false")
	if err != nil {
		return dockerServer{}, err
	}
	srv := &http.Server{Handler: d.DockerHandler(), ReadHeaderTimeout: 10 * time.Second, ConnContext: api.ConnContext}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("the docker api socket stopped serving", "socket", sock, "error", err)
		}
	}()
	d.log.Info("docker api ready", "socket", sock)
	return dockerServer{srv: srv, sock: sock}, nil
}

// shutdown stops accepting, waits (bounded by ctx) for requests in
// flight, and removes the socket. Hijacked connections (attach) end
// with the daemon's context.
func (s dockerServer) shutdown(ctx context.Context) {
	if s.srv == nil {
		return
	}
	_ = s.srv.Shutdown(ctx)
	_ = os.Remove(s.sock)
}
