package dockerapi

import (
	"cmp"
	"context"
	"errors"
	"io"
	"net/http"
	"path"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/moby/api/types/image"

	"github.com/bangerdev/banger/internal/imagearchive"
	"github.com/bangerdev/banger/internal/imagebuild"
	"github.com/bangerdev/banger/internal/imagepull"
	"github.com/bangerdev/banger/internal/images"
	"github.com/bangerdev/banger/internal/labels"
	"github.com/bangerdev/banger/pkg/errdefs"
	"github.com/bangerdev/banger/pkg/progress"
)

// ImageService is what the image endpoints ask of banger's image catalog
// (internal/images.Service): the calls `banger image ...` makes, each
// deciding what it decides there — nothing about images is decided here.
type ImageService interface {
	List() ([]images.Image, error)
	Find(ref string) (images.Image, error)
	// OCI is the image as it was recorded (kept manifest and config):
	// what inspect, history and the Docker id read.
	OCI(ref string) (v1.Image, error)
	Pull(ctx context.Context, ref string, opts images.PullOptions, sink progress.Sink) (images.Image, error)
	Tag(ctx context.Context, src, name string) (images.Image, error)
	Remove(ref string) error
	PushWith(ctx context.Context, ref, dest string, opts images.PushOptions, sink progress.Sink) (imagepull.PushResult, error)
	Save(refs []string) ([]imagearchive.Entry, func(), error)
	Load(ctx context.Context, r io.Reader, opts images.LoadOptions, sink progress.Sink) ([]images.Image, error)
	Prune(opts images.PruneOptions) (images.PruneReport, error)
}

// imageRoutes: pull, list, inspect, history, tag, remove, push, save,
// load, prune (this file and imagestream.go), and build (build.go).
func (s *Server) imageRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /images/create", s.imagePull)
	mux.HandleFunc("GET /images/json", s.imageList)
	mux.HandleFunc("GET /images/get", s.imageSave)
	mux.HandleFunc("POST /images/load", s.imageLoad)
	mux.HandleFunc("POST /images/prune", s.imagePrune)
	mux.HandleFunc("GET /images/{name...}", s.imageByName)
	mux.HandleFunc("POST /images/{name...}", s.imageByName)
	mux.HandleFunc("DELETE /images/{name...}", s.imageRemove)
	mux.HandleFunc("POST /build", s.build)
}

// imageByName dispatches /images/{name}/{op}: a name may hold slashes
// ("localhost:5000/team/app"), so the operation is the last element.
func (s *Server) imageByName(w http.ResponseWriter, r *http.Request) {
	full := r.PathValue("name")
	i := strings.LastIndex(full, "/")
	if i < 0 {
		writeError(w, errPageNotFound)
		return
	}
	name, op := full[:i], full[i+1:]
	switch r.Method + " " + op {
	case "GET json":
		s.imageInspect(w, name)
	case "GET history":
		s.imageHistory(w, name)
	case "GET get":
		s.saveImages(w, []string{name})
	case "POST tag":
		s.imageTag(w, r, name)
	case "POST push":
		s.imagePush(w, r, name)
	default:
		writeError(w, errPageNotFound)
	}
}

// imageList is /images/json with the filters reference (a glob over
// NAME[:TAG]), label (KEY or KEY=VALUE) and dangling (an image without a
// name: banger records none).
func (s *Server) imageList(w http.ResponseWriter, r *http.Request) {
	f, err := imageFilters(r, "reference", "label", "dangling")
	if err != nil {
		writeError(w, err)
		return
	}
	all, err := s.dockerImages()
	if err != nil {
		writeError(w, err)
		return
	}
	out := []image.Summary{}
	for _, di := range all {
		if sum := di.summary(); matchImage(sum, f) {
			out = append(out, sum)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// matchImage says sum passes every filter (any value of each).
func matchImage(sum image.Summary, f filters) bool {
	if v := f["dangling"]; len(v) > 0 && slices.Contains(v, "true") != (len(sum.RepoTags) == 0) {
		return false
	}
	if v := f["reference"]; len(v) > 0 && !slices.ContainsFunc(v, func(p string) bool { return matchReference(p, sum.RepoTags) }) {
		return false
	}
	return labels.Match(sum.Labels, f["label"])
}

// imageFilters reads r's filters, refusing a key not in keys.
func imageFilters(r *http.Request, keys ...string) (filters, error) {
	f, err := parseFilters(r.URL.Query().Get("filters"))
	if err != nil {
		return nil, err
	}
	return f, f.check(keys)
}

// matchReference is Docker's reference filter: pattern matches a
// NAME:TAG, or its NAME alone.
func matchReference(pattern string, tags []string) bool {
	return slices.ContainsFunc(tags, func(t string) bool {
		ok, _ := path.Match(pattern, t)
		okRepo, _ := path.Match(pattern, imagepull.Repository(t))
		return ok || okRepo
	})
}

func (s *Server) imageInspect(w http.ResponseWriter, name string) {
	di, _, err := s.findImage(name)
	if err != nil {
		writeError(w, err)
		return
	}
	out, err := di.inspect()
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) imageHistory(w http.ResponseWriter, name string) {
	di, _, err := s.findImage(name)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, di.history())
}

// imageTag is docker tag: ?repo=&tag= (tag "" is latest).
func (s *Server) imageTag(w http.ResponseWriter, r *http.Request, name string) {
	q := r.URL.Query()
	repo, tag := q.Get("repo"), cmp.Or(q.Get("tag"), "latest")
	if repo == "" {
		writeError(w, badParam("repository name must have at least one component"))
		return
	}
	di, rec, err := s.findImage(name)
	if err != nil {
		writeError(w, err)
		return
	}
	src := di.Recs[0].ID
	if rec != nil {
		src = rec.ID
	}
	if _, err := s.opts.ImageOps.Tag(r.Context(), src, repo+":"+tag); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusCreated)
}

// imageRemove is docker rmi: a name untags that name (the image goes
// with its last one); an id removes every name, which needs force when
// there are several. A VM's image is never removed, force or not: its
// disk is made from it.
func (s *Server) imageRemove(w http.ResponseWriter, r *http.Request) {
	ref := r.PathValue("name")
	force := boolParam(r.URL.Query().Get("force"))
	di, rec, err := s.findImage(ref)
	if err != nil {
		writeError(w, err)
		return
	}
	recs := di.Recs
	if rec != nil {
		recs = []images.Image{*rec}
	} else if len(recs) > 1 && !force {
		writeError(w, kindError(errdefs.ErrConflict, "conflict: unable to delete %s (must be forced) - image is referenced in multiple repositories", shortImageID(di.ID)))
		return
	}
	out := []image.DeleteResponse{}
	for _, rm := range recs {
		if err := s.opts.ImageOps.Remove(rm.ID); err != nil {
			writeError(w, s.inUseError(err, rm, di, force))
			return
		}
		out = append(out, image.DeleteResponse{Untagged: imagepull.FamiliarName(rm.Name)})
	}
	if len(recs) == len(di.Recs) {
		out = append(out, image.DeleteResponse{Deleted: di.ID})
	}
	writeJSON(w, http.StatusOK, out)
}

// inUseError words the catalog's refusal to remove an image a VM uses
// as Docker does, naming the container.
func (s *Server) inUseError(err error, rec images.Image, di *dockerImage, force bool) error {
	if !errors.Is(err, errdefs.ErrConflict) {
		return err
	}
	container := "a VM"
	if list, lerr := s.opts.VMs.List(true); lerr == nil {
		for _, vm := range list {
			if img, ferr := s.opts.ImageOps.Find(vm.Spec.Image); ferr == nil && img.ID == rec.ID {
				container = containerID(vm.ID)[:12]
				break
			}
		}
	}
	if force {
		return kindError(errdefs.ErrConflict, "conflict: unable to delete %s (cannot be forced) - image is being used by container %s: a VM's disk is made from it; remove the container first", shortImageID(di.ID), container)
	}
	return kindError(errdefs.ErrConflict, "conflict: unable to remove repository reference %q (must force) - container %s is using its referenced image %s", imagepull.FamiliarName(rec.Name), container, shortImageID(di.ID))
}

// imagePrune is docker image prune: filter dangling=false (-a) removes
// every image no VM uses; without it only what no name holds (build
// cache, unreferenced blobs) goes, as banger has no dangling images.
func (s *Server) imagePrune(w http.ResponseWriter, r *http.Request) {
	f, err := imageFilters(r, "dangling")
	if err != nil {
		writeError(w, err)
		return
	}
	rep, err := s.opts.ImageOps.Prune(images.PruneOptions{All: slices.Contains(f["dangling"], "false") || slices.Contains(f["dangling"], "0")})
	if err != nil {
		writeError(w, err)
		return
	}
	out := image.PruneReport{ImagesDeleted: []image.DeleteResponse{}, SpaceReclaimed: uint64(max(rep.BytesFreed, 0))}
	for _, img := range rep.Images {
		if imagebuild.IsCache(img.Name) {
			continue
		}
		out.ImagesDeleted = append(out.ImagesDeleted, image.DeleteResponse{Untagged: imagepull.FamiliarName(img.Name)}, image.DeleteResponse{Deleted: img.ID})
	}
	writeJSON(w, http.StatusOK, out)
}

// shortImageID is the 12 digits docker prints of an image id.
func shortImageID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	return id[:min(12, len(id))]
}
