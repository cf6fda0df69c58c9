package dockerapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/bangerdev/banger/internal/hostaccess"
	"github.com/bangerdev/banger/internal/images"
	"github.com/bangerdev/banger/internal/vms"
	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// maxCreateBody bounds a create request's JSON.
const maxCreateBody = 4 << 20

// containerRoutes: the container endpoints; a container is a VM.
func (s *Server) containerRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /containers/create", s.create)
	mux.HandleFunc("GET /containers/json", s.list)
	mux.HandleFunc("GET /containers/{id}/json", s.inspect)
	mux.HandleFunc("POST /containers/{id}/start", s.start)
	mux.HandleFunc("POST /containers/{id}/stop", s.stop)
	mux.HandleFunc("POST /containers/{id}/restart", s.restart)
	mux.HandleFunc("POST /containers/{id}/kill", s.kill)
	mux.HandleFunc("POST /containers/{id}/wait", s.wait)
	mux.HandleFunc("DELETE /containers/{id}", s.remove)
	mux.HandleFunc("POST /containers/{id}/attach", s.attach)
	mux.HandleFunc("GET /containers/{id}/logs", s.logs)
	mux.HandleFunc("POST /containers/{id}/resize", s.resize)
}

func (s *Server) create(w http.ResponseWriter, r *http.Request) {
	var req container.CreateRequest
	// Not strict: older clients send fields the current types dropped.
	if err := json.NewDecoder(io.LimitReader(r.Body, maxCreateBody)).Decode(&req); err != nil {
		writeError(w, badParam("invalid JSON: %v", err))
		return
	}
	if req.Config == nil {
		writeError(w, badParam("config cannot be empty in order to create a container"))
		return
	}
	in := createInput{Config: *req.Config, Networking: req.NetworkingConfig}
	if req.HostConfig != nil {
		in.HostConfig = *req.HostConfig
	}
	spec, warnings, err := specFromCreate(in)
	if err == nil {
		// A host path is shared only if the caller could use it
		// themselves, as on banger's own socket.
		spec, err = vms.Authorize(hostaccess.FromPeer(api.PeerOf(r.Context())), spec)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	img, err := s.opts.Images.Find(spec.Image)
	if isNotFound(err) {
		err = kindError(errdefs.ErrNotFound, "No such image: %s", spec.Image)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	if len(vms.Argv(spec, img.Config)) == 0 {
		writeError(w, badParam("No command specified"))
		return
	}
	name := r.URL.Query().Get("name")
	if len(name) > 0 && name[0] == '/' {
		name = name[1:]
	}
	vm, err := s.opts.VMs.Create(r.Context(), name, spec)
	if errors.Is(err, errdefs.ErrExists) && name != "" {
		if other, gerr := s.opts.VMs.Get(name); gerr == nil {
			err = kindError(errdefs.ErrConflict, "Conflict. The container name \"/%s\" is already in use by container \"%s\". You have to remove (or rename) that container to be able to reuse that name.", name, containerID(other.ID))
		}
	}
	if err != nil {
		writeError(w, err)
		return
	}
	if warnings == nil {
		warnings = []string{}
	}
	writeJSON(w, http.StatusCreated, container.CreateResponse{ID: containerID(vm.ID), Warnings: warnings})
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, err := parseFilters(q.Get("filters"))
	if err == nil {
		err = f.check(containerFilters)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	all := boolParam(q.Get("all"))
	// A status filter other than running lists stopped containers too.
	if len(f["status"]) > 0 {
		all = true
	}
	list, err := s.opts.VMs.List(all)
	if err != nil {
		writeError(w, err)
		return
	}
	limit, _ := strconv.Atoi(q.Get("limit"))
	imgs := s.imageCache()
	now := time.Now()
	out := []container.Summary{}
	for _, vm := range list {
		if !f.match(vm, imgs.runs) {
			continue
		}
		img := imgs.get(vm.ImageID)
		out = append(out, summary(vm, commandLine(vms.Argv(vm.Spec, img.Config)), now))
		if limit > 0 && len(out) == limit {
			break
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// imageCache looks images up once per request.
type imageCache struct {
	s    *Server
	byID map[string]images.Image
}

func (s *Server) imageCache() *imageCache {
	return &imageCache{s: s, byID: map[string]images.Image{}}
}

func (c *imageCache) get(ref string) images.Image {
	if img, ok := c.byID[ref]; ok {
		return img
	}
	img, _ := c.s.opts.Images.Find(ref)
	c.byID[ref] = img
	return img
}

// runs says whether vm runs the image ref names (by name or id).
func (c *imageCache) runs(vm vms.VM, ref string) bool {
	if vm.Spec.Image == ref || vm.ImageID == ref {
		return true
	}
	img := c.get(ref)
	return img.ID != "" && img.ID == vm.ImageID
}

func (s *Server) inspect(w http.ResponseWriter, r *http.Request) {
	vm, err := s.vm(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	img := s.imageCache().get(vm.ImageID)
	resp := inspectResponse(vm, img)
	s.fillEndpoints(resp.NetworkSettings.Networks)
	writeJSON(w, http.StatusOK, inspectFor(requestVersion(r), resp))
}

func (s *Server) start(w http.ResponseWriter, r *http.Request) {
	vm, err := s.vm(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	if vm.State.Live() {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if _, err := s.opts.VMs.Start(r.Context(), vm.ID); err != nil {
		// As Docker's: a container to remove when it exits is removed
		// when it cannot start (docker run --rm waits for that).
		if vm.Spec.AutoRemove {
			if rerr := s.opts.VMs.RemoveWith(context.WithoutCancel(r.Context()), vm.ID, vms.RemoveOptions{Force: true, MissingOK: true}); rerr != nil {
				s.opts.Log.Warn("remove a --rm container that failed to start", "vm", vm.ID, "error", rerr)
			}
		}
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// stopOptions reads a stop's or restart's t (seconds, -1 for no
// SIGKILL: the longest grace) and signal, else vm.stop_timeout.
func (s *Server) stopOptions(r *http.Request) (vms.StopOptions, error) {
	q := r.URL.Query()
	o := vms.StopOptions{Signal: q.Get("signal"), Timeout: s.opts.StopTimeout}
	if t := q.Get("t"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < -1 {
			return o, badParam("invalid value for t: %q: want seconds", t)
		}
		o.Timeout = time.Duration(n) * time.Second
		if n == -1 {
			o.Timeout = 24 * time.Hour
		}
	}
	return o, nil
}

// stopRequest resolves a stop's or restart's container and options; it
// answers the error itself.
func (s *Server) stopRequest(w http.ResponseWriter, r *http.Request) (vms.VM, vms.StopOptions, bool) {
	vm, err := s.vm(r.PathValue("id"))
	var o vms.StopOptions
	if err == nil {
		o, err = s.stopOptions(r)
	}
	if err != nil {
		writeError(w, err)
		return vm, o, false
	}
	return vm, o, true
}

func (s *Server) stop(w http.ResponseWriter, r *http.Request) {
	vm, o, ok := s.stopRequest(w, r)
	if !ok {
		return
	}
	if !vm.State.Live() && vm.State != vms.Restarting {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if _, err := s.opts.VMs.StopWith(r.Context(), vm.ID, o); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) restart(w http.ResponseWriter, r *http.Request) {
	vm, o, ok := s.stopRequest(w, r)
	if !ok {
		return
	}
	if _, err := s.opts.VMs.RestartWith(r.Context(), vm.ID, o); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) kill(w http.ResponseWriter, r *http.Request) {
	vm, err := s.vm(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	if !vm.State.Live() {
		writeError(w, kindError(errdefs.ErrConflict, "Cannot kill container: %s: Container %s is not running", r.PathValue("id"), containerID(vm.ID)))
		return
	}
	sig := r.URL.Query().Get("signal")
	if sig == "" {
		sig = "KILL"
	}
	if _, err := s.opts.VMs.Kill(r.Context(), vm.ID, sig); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) remove(w http.ResponseWriter, r *http.Request) {
	vm, err := s.vm(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	force := boolParam(r.URL.Query().Get("force"))
	if vm.State.Live() && !force {
		writeError(w, kindError(errdefs.ErrConflict, "You cannot remove a running container %s. Stop the container before attempting removal or force remove", containerID(vm.ID)))
		return
	}
	// v=1 removes a container's anonymous volumes: banger makes none.
	if err := s.opts.VMs.RemoveWith(r.Context(), vm.ID, vms.RemoveOptions{Force: force, MissingOK: true}); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// boolParam reads Docker's boolean query values: 1, true, True.
func boolParam(v string) bool {
	b, err := strconv.ParseBool(v)
	return err == nil && b
}
