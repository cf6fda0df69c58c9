package dockerapi

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/bangerdev/banger/internal/images"
	"github.com/bangerdev/banger/internal/vmlogs"
	"github.com/bangerdev/banger/internal/vms"
	"github.com/bangerdev/banger/internal/volumes"
	"github.com/bangerdev/banger/pkg/api"
)

// The Engine API versions served: Debian 12's docker CLI speaks 1.41; the
// wire types are the module's, of 1.57.
const (
	MinAPIVersion = "1.41"
	APIVersion    = "1.57"
)

// VMs is what the Engine API asks of the VM service (internal/vms): a
// container is a VM.
type VMs interface {
	Get(ref string) (vms.VM, error)
	List(all bool, labels ...string) ([]vms.VM, error)
	Create(ctx context.Context, name string, spec vms.Spec) (vms.VM, error)
	Start(ctx context.Context, ref string) (vms.StartResult, error)
	StopWith(ctx context.Context, ref string, o vms.StopOptions) (vms.VM, error)
	Kill(ctx context.Context, ref, sig string) (vms.VM, error)
	RestartWith(ctx context.Context, ref string, o vms.StopOptions) (vms.StartResult, error)
	Wait(ctx context.Context, ref string) (vms.VM, error)
	RemoveWith(ctx context.Context, ref string, o vms.RemoveOptions) error
}

// Outputs is the daemon's attachment to each VM's main process
// (internal/vmlogs): logs and attach read it.
type Outputs interface {
	Subscribe(id string, o vmlogs.SubOptions) ([]vmlogs.Entry, *vmlogs.Sub, error)
	Attached(id string, wait time.Duration) bool
}

// Images is what the Engine API asks of the image catalog.
type Images interface {
	Find(ref string) (images.Image, error)
	List() ([]images.Image, error)
}

// Volumes is what the Engine API asks of the named volumes.
type Volumes interface {
	List() ([]volumes.Volume, error)
}

// Options build a Server. The services are the daemon's own.
type Options struct {
	VMs     VMs
	Outputs Outputs
	Images  Images
	Volumes Volumes
	// Networks are the user-defined networks (networks.go); nil serves
	// the predefined ones alone.
	Networks Networks
	// ImageOps and Builder serve the image endpoints and /build
	// (images.go, build.go).
	ImageOps ImageService
	Builder  Builder
	// Version is banger's version, StateDir its state directory (Docker's
	// DockerRootDir).
	Version  string
	StateDir string
	// StopTimeout is the grace of a stop that names none (vm.stop_timeout).
	StopTimeout time.Duration
	Log         *slog.Logger
	// Ctx ends when the daemon closes: long-lived streams (attach, logs
	// -f, wait) end with it.
	Ctx context.Context
	// Ops are the services of exec, cp, top, stats, volumes, events and
	// system df (ops.go).
	Ops Ops
}

// Server is the Engine API over banger's services.
type Server struct {
	opts  Options
	mux   *http.ServeMux
	execs execTable
}

// New returns a Server over opts' services.
func New(opts Options) *Server {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Ctx == nil {
		opts.Ctx = context.Background()
	}
	s := &Server{opts: opts, mux: http.NewServeMux()}
	s.routes(s.mux)
	return s
}

// routes registers every area's routes; each area is its own file.
func (s *Server) routes(mux *http.ServeMux) {
	s.systemRoutes(mux)
	s.containerRoutes(mux)
	s.imageRoutes(mux)
	s.execRoutes(mux)
	s.networkRoutes(mux)
	s.volumeRoutes(mux)
	s.eventRoutes(mux)
}

type versionKey struct{}

// requestVersion is the API version a request's path asked for, or
// APIVersion when it named none.
func requestVersion(r *http.Request) string {
	if v, ok := r.Context().Value(versionKey{}).(string); ok {
		return v
	}
	return APIVersion
}

// ServeHTTP strips the optional /vMAJOR.MINOR prefix, refuses a version
// outside the served range, and routes the rest. Every answer carries
// API-Version; an unknown path is Docker's 404 "page not found".
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	w.Header().Set("Api-Version", APIVersion)
	w.Header().Set("Server", "banger/"+s.opts.Version+" (linux)")
	w.Header().Set("Docker-Experimental", "false")
	w.Header().Set("Ostype", "linux")
	version, rest, ok := splitVersion(r.URL.Path)
	if ok {
		if err := checkVersion(version); err != nil {
			writeError(w, err)
			return
		}
		r2 := r.Clone(context.WithValue(r.Context(), versionKey{}, version))
		r2.URL.Path, r2.URL.RawPath = rest, ""
		r = r2
	}
	if _, pattern := s.mux.Handler(r); pattern == "" {
		writeError(w, errPageNotFound)
		return
	}
	s.mux.ServeHTTP(w, r)
	attrs := []any{"method", r.Method, "path", r.URL.Path, "duration", time.Since(start).Round(time.Microsecond)}
	if p, ok := api.PeerOf(r.Context()); ok {
		attrs = append(attrs, "uid", p.UID, "pid", p.PID)
	}
	s.opts.Log.Debug("docker api request", attrs...)
}

// splitVersion splits "/v1.41/containers/json" into "1.41" and
// "/containers/json".
func splitVersion(path string) (version, rest string, ok bool) {
	if !strings.HasPrefix(path, "/v") {
		return "", path, false
	}
	head, tail, _ := strings.Cut(path[2:], "/")
	major, minor, found := strings.Cut(head, ".")
	if !found || !digits(major) || !digits(minor) {
		return "", path, false
	}
	return head, "/" + tail, true
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
