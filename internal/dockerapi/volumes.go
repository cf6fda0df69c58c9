package dockerapi

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/volume"

	"github.com/bangerdev/banger/internal/labels"
	"github.com/bangerdev/banger/internal/units"
	"github.com/bangerdev/banger/internal/volumes"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// volumeRoutes: Docker's volumes are banger's named volumes — each an
// ext4 disk a VM mounts (internal/volumes), created, listed and removed
// by the same catalog `banger volume` uses.
func (s *Server) volumeRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /volumes", s.volumeList)
	mux.HandleFunc("POST /volumes/create", s.volumeCreate)
	mux.HandleFunc("POST /volumes/prune", s.volumePrune)
	mux.HandleFunc("GET /volumes/{name}", s.volumeInspect)
	mux.HandleFunc("DELETE /volumes/{name}", s.volumeRemove)
}

// The volume driver Docker shows: banger's named volumes are its one
// built-in kind, as "local" is Docker's.
const volumeDriver = "local"

// anonymousLabel marks a volume Docker made for a container's unnamed
// -v; a prune without all=true (API 1.42 on) removes only those.
const anonymousLabel = "com.docker.volume.anonymous"

// toVolume converts a volume: Mountpoint is its ext4 file (a disk a VM
// mounts, not a host directory), Status its size, UUID and holder.
func toVolume(in volumes.Info) volume.Volume {
	v := volume.Volume{
		Name: in.Name, Driver: volumeDriver, Scope: "local", Mountpoint: in.Path,
		CreatedAt: in.Created.Format(time.RFC3339), Labels: in.Labels, Options: map[string]string{},
		Status: map[string]any{"Size": units.FormatSize(in.SizeBytes), "SizeBytes": in.SizeBytes, "UUID": in.UUID},
	}
	if v.Labels == nil {
		v.Labels = map[string]string{}
	}
	if in.AttachedTo != "" {
		v.Status["AttachedTo"] = containerID(in.AttachedTo)
	}
	return v
}

// volumeInfos is every volume with the VMs that mount it.
func (s *Server) volumeInfos() ([]volumes.Info, error) {
	list, err := s.opts.Ops.Volumes.List()
	if err != nil {
		return nil, err
	}
	out := make([]volumes.Info, 0, len(list))
	for _, v := range list {
		in, err := s.opts.Ops.Volumes.Inspect(v.Name)
		if isNotFound(err) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	return out, nil
}

// The volume filters served.
var volumeFilterKeys = []string{"name", "label", "dangling", "driver"}

// volumeMatch says whether in passes f: name is a substring of the
// name, label KEY or KEY=VALUE (all must hold), dangling whether no VM
// mounts it, driver the driver's name.
func volumeMatch(f filters, in volumes.Info) (bool, error) {
	for _, v := range f["dangling"] {
		want, err := strconv.ParseBool(v)
		if err != nil {
			return false, badParam("invalid filter 'dangling=%s'", v)
		}
		if want != (len(in.UsedBy) == 0) {
			return false, nil
		}
	}
	return f.anyOf("name", func(v string) bool { return strings.Contains(in.Name, v) }) &&
		f.anyOf("driver", func(v string) bool { return v == volumeDriver }) &&
		labels.Match(in.Labels, f["label"]), nil
}

func (s *Server) volumeList(w http.ResponseWriter, r *http.Request) {
	f, err := parseFiltersOf(r.URL.Query().Get("filters"), volumeFilterKeys)
	var infos []volumes.Info
	if err == nil {
		infos, err = s.volumeInfos()
	}
	resp := volume.ListResponse{Volumes: []volume.Volume{}}
	for _, in := range infos {
		ok, merr := volumeMatch(f, in)
		if merr != nil {
			err = merr
			break
		}
		if ok {
			resp.Volumes = append(resp.Volumes, toVolume(in))
		}
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// volumeCreate makes a named volume, or answers the one of that name
// (Docker's create is idempotent). No name is a random one, as Docker's.
// The driver option size sets its size (banger's volume create
// --size); other drivers and options change what the volume is and are
// refused.
func (s *Server) volumeCreate(w http.ResponseWriter, r *http.Request) {
	var req volume.CreateRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, badParam("volume create: the request body is not a volume config: %v", err))
		return
	}
	o, err := volumeOptions(req)
	if err == nil && req.Name == "" {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		req.Name = hex.EncodeToString(b)
	}
	if err == nil {
		_, err = s.opts.Ops.Volumes.CreateWith(r.Context(), req.Name, o)
		if errors.Is(err, errdefs.ErrExists) {
			err = nil
		}
	}
	var in volumes.Info
	if err == nil {
		in, err = s.opts.Ops.Volumes.Inspect(req.Name)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, toVolume(in))
}

// volumeOptions reads a create's driver and options.
func volumeOptions(req volume.CreateRequest) (volumes.CreateOptions, error) {
	o := volumes.CreateOptions{Labels: maps.Clone(req.Labels)}
	if req.Driver != "" && req.Driver != volumeDriver {
		return o, refuse("--driver "+req.Driver+" (Driver)", "banger's volumes are its own ext4 disks; there are no volume plugins")
	}
	if req.ClusterVolumeSpec != nil {
		return o, refuse("cluster volumes (ClusterVolumeSpec)", "banger is not a swarm")
	}
	for _, k := range slices.Sorted(maps.Keys(req.DriverOpts)) {
		v := req.DriverOpts[k]
		if k != "size" {
			return o, refuse("--opt "+k+" (DriverOpts)", "a banger volume is an ext4 disk made by banger; only size=SIZE is an option")
		}
		n, err := units.ParseSize(v)
		if err != nil {
			return o, badParam("volume create: --opt size=%s: %v", v, err)
		}
		o.SizeBytes = n
	}
	return o, nil
}

func (s *Server) volumeInspect(w http.ResponseWriter, r *http.Request) {
	in, err := s.opts.Ops.Volumes.Inspect(r.PathValue("name"))
	if err != nil {
		writeError(w, volumeErr(err, r.PathValue("name")))
		return
	}
	writeJSON(w, http.StatusOK, toVolume(in))
}

// volumeRemove removes a volume no VM mounts; force makes a missing one
// no error, as Docker's.
func (s *Server) volumeRemove(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	err := s.opts.Ops.Volumes.Remove(name)
	if isNotFound(err) && boolParam(r.URL.Query().Get("force")) {
		err = nil
	}
	if err != nil {
		writeError(w, volumeErr(err, name))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// volumeErr is a not-found in Docker's words.
func volumeErr(err error, name string) error {
	if isNotFound(err) {
		return kindError(errdefs.ErrNotFound, "get %s: no such volume", name)
	}
	return err
}

// volumePrune removes the volumes no VM mounts that the filters take:
// before API 1.42, and with all=true, every such volume; from 1.42 on,
// only anonymous ones, as Docker's.
func (s *Server) volumePrune(w http.ResponseWriter, r *http.Request) {
	f, err := parseFiltersOf(r.URL.Query().Get("filters"), []string{"label", "label!", "all"})
	var infos []volumes.Info
	if err == nil {
		infos, err = s.volumeInfos()
	}
	if err != nil {
		writeError(w, err)
		return
	}
	all := lessVersion(requestVersion(r), "1.42") || slices.ContainsFunc(f["all"], func(v string) bool { b, _ := strconv.ParseBool(v); return b })
	rep := volume.PruneReport{VolumesDeleted: []string{}}
	for _, in := range infos {
		_, anonymous := in.Labels[anonymousLabel]
		if len(in.UsedBy) > 0 || in.AttachedTo != "" || (!all && !anonymous) || f.pruneKeeps(in.Labels) {
			continue
		}
		if err := s.opts.Ops.Volumes.Remove(in.Name); err != nil {
			s.opts.Log.Info("docker api volume prune kept a volume", "volume", in.Name, "error", err)
			continue
		}
		rep.VolumesDeleted = append(rep.VolumesDeleted, in.Name)
		rep.SpaceReclaimed += uint64(max(in.AllocatedBytes, 0)) //nolint:gosec // non-negative
	}
	writeJSON(w, http.StatusOK, rep)
}
