package dockerapi

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/moby/moby/api/types/system"
	"golang.org/x/sys/unix"

	"github.com/bangerdev/banger/internal/vms"
)

// systemRoutes: the version handshake and the host's description.
func (s *Server) systemRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /_ping", s.ping)
	mux.HandleFunc("HEAD /_ping", s.ping)
	mux.HandleFunc("GET /version", s.version)
	mux.HandleFunc("GET /info", s.info)
	mux.HandleFunc("GET /system/df", s.diskUsageAnswer)
}

// ping answers the handshake a client starts with: API-Version (set on
// every answer) is the version it negotiates down from.
func (s *Server) ping(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-cache, no-store, must-revalidate")
	w.Header().Set("Pragma", "no-cache")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write([]byte("OK"))
	}
}

func (s *Server) version(w http.ResponseWriter, _ *http.Request) {
	h := hostFacts()
	writeJSON(w, http.StatusOK, system.VersionResponse{
		Platform: system.PlatformInfo{Name: "banger"},
		Version:  s.opts.Version, APIVersion: APIVersion, MinAPIVersion: MinAPIVersion,
		Os: "linux", Arch: runtime.GOARCH, KernelVersion: h.kernel, GoVersion: runtime.Version(),
		Components: []system.ComponentVersion{{
			Name: "Engine", Version: s.opts.Version,
			Details: map[string]string{"ApiVersion": APIVersion, "MinAPIVersion": MinAPIVersion, "Os": "linux", "Arch": runtime.GOARCH, "KernelVersion": h.kernel},
		}},
	})
}

// info describes the host and counts its VMs and images: the numbers
// `docker info` prints are the services' own.
func (s *Server) info(w http.ResponseWriter, _ *http.Request) {
	list, err := s.opts.VMs.List(true)
	if err != nil {
		writeError(w, err)
		return
	}
	imgs, err := s.opts.Images.List()
	if err != nil {
		writeError(w, err)
		return
	}
	h := hostFacts()
	info := system.Info{
		ID: h.id(s.opts.StateDir), Containers: len(list), Images: len(imgs),
		Driver: "banger", DockerRootDir: s.opts.StateDir, LoggingDriver: "json-file",
		KernelVersion: h.kernel, OperatingSystem: h.os, OSType: "linux", Architecture: h.machine,
		NCPU: runtime.NumCPU(), MemTotal: h.memTotal, Name: h.hostname, ServerVersion: s.opts.Version,
		MemoryLimit: true, SystemTime: time.Now().Format(time.RFC3339Nano), DefaultRuntime: "banger",
		NGoroutines: runtime.NumGoroutine(), IndexServerAddress: "https://index.docker.io/v1/",
	}
	for _, vm := range list {
		switch vm.State {
		case vms.Running:
			info.ContainersRunning++
		case vms.Paused:
			info.ContainersPaused++
		default:
			info.ContainersStopped++
		}
	}
	writeJSON(w, http.StatusOK, info)
}

// host is what /version and /info say of the machine.
type host struct {
	kernel, machine, os, hostname string
	memTotal                      int64
}

func hostFacts() host {
	var h host
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		h.kernel, h.machine = unix.ByteSliceToString(u.Release[:]), unix.ByteSliceToString(u.Machine[:])
	}
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) == nil {
		h.memTotal = int64(si.Totalram) * int64(si.Unit)
	}
	h.hostname, _ = os.Hostname()
	h.os = osName("/etc/os-release")
	return h
}

// id is a stable id of this daemon: its host and state directory.
func (h host) id(state string) string {
	sum := sha256.Sum256([]byte(h.hostname + "\x00" + state))
	return hex.EncodeToString(sum[:16])
}

// osName is os-release's PRETTY_NAME, or "Linux".
func osName(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "Linux"
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "PRETTY_NAME="); ok {
			return strings.Trim(v, `"'`)
		}
	}
	return "Linux"
}
