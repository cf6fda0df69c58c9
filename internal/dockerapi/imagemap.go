package dockerapi

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/storage"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bangerdev/banger/internal/imagebuild"
	"github.com/bangerdev/banger/internal/imagepull"
	"github.com/bangerdev/banger/internal/images"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// dockerImage is one Docker image: the catalog records (one per name,
// as banger keeps tags) that share a config digest, which is Docker's
// image id.
type dockerImage struct {
	ID   string
	Recs []images.Image
	// Config is the kept OCI config; nil for an image imported from a
	// root file system tarball, which has none.
	Config *v1.ConfigFile
	// Manifest is the kept manifest (nil with Config).
	Manifest *v1.Manifest
}

// imageID is the Docker id of rec: its config's digest, what docker
// prints and what `docker save | docker load` keeps. An image imported
// from a root file system tarball has no config; its id is derived
// from its tarball's digest, stable across its tags.
func (s *Server) imageID(rec images.Image) (string, *v1.ConfigFile, *v1.Manifest) {
	if oci, err := s.opts.ImageOps.OCI(rec.ID); err == nil {
		if h, err := oci.ConfigName(); err == nil {
			cf, _ := oci.ConfigFile()
			m, _ := oci.Manifest()
			return h.String(), cf, m
		}
	}
	seed := "banger-image:" + rec.Digest
	if !strings.HasPrefix(rec.Digest, "sha256:") {
		seed += rec.ID
	}
	sum := sha256.Sum256([]byte(seed))
	return "sha256:" + hex.EncodeToString(sum[:]), nil, nil
}

// dockerImages groups the catalog's user images (a build's cache entries
// are its own) by Docker id, in catalog (name) order.
func (s *Server) dockerImages() ([]*dockerImage, error) {
	recs, err := s.opts.ImageOps.List()
	if err != nil {
		return nil, err
	}
	var out []*dockerImage
	byID := map[string]*dockerImage{}
	for _, rec := range recs {
		if imagebuild.IsCache(rec.Name) {
			continue
		}
		id, cf, m := s.imageID(rec)
		if di := byID[id]; di != nil {
			di.Recs = append(di.Recs, rec)
			continue
		}
		di := &dockerImage{ID: id, Recs: []images.Image{rec}, Config: cf, Manifest: m}
		byID[id] = di
		out = append(out, di)
	}
	return out, nil
}

// findImage resolves ref as Docker does: a name first (tag or digest
// reference), then a Docker id or a prefix of one ("sha256:" makes it
// an id only), then a banger image id. tag is the record ref named when
// it named one (a name, not an id).
func (s *Server) findImage(ref string) (di *dockerImage, tag *images.Image, err error) {
	all, err := s.dockerImages()
	if err != nil {
		return nil, nil, err
	}
	hexRef, idOnly := strings.CutPrefix(ref, "sha256:")
	if name, err := imagepull.NormalizeName(ref); err == nil && !idOnly {
		for _, di := range all {
			for i := range di.Recs {
				if di.Recs[i].Name == name {
					return di, &di.Recs[i], nil
				}
			}
		}
	}
	if isHex(hexRef) && len(hexRef) >= 4 {
		var found []*dockerImage
		for _, di := range all {
			if strings.HasPrefix(strings.TrimPrefix(di.ID, "sha256:"), hexRef) {
				found = append(found, di)
			}
		}
		if len(found) == 1 {
			return found[0], nil, nil
		}
		if len(found) > 1 {
			return nil, nil, badParam("%s matches several images; give more of the id", ref)
		}
	}
	if !idOnly {
		rec, err := s.opts.ImageOps.Find(ref)
		if err != nil && !isNotFound(err) {
			return nil, nil, err
		}
		for _, di := range all {
			if err == nil && slices.ContainsFunc(di.Recs, func(r images.Image) bool { return r.ID == rec.ID }) {
				return di, nil, nil
			}
		}
	}
	return nil, nil, kindError(errdefs.ErrNotFound, "No such image: %s", ref)
}

// repoTags are the image's names as docker prints them.
func (di *dockerImage) repoTags() []string {
	out := []string{}
	for _, r := range di.Recs {
		if !strings.Contains(r.Name, "@") {
			out = append(out, imagepull.FamiliarName(r.Name))
		}
	}
	return out
}

// repoDigests are repository@digest for the names whose manifest a
// registry has: what was pulled.
func (di *dockerImage) repoDigests() []string {
	out := []string{}
	for _, r := range di.Recs {
		if r.Source != "pull" || !strings.HasPrefix(r.Digest, "sha256:") {
			continue
		}
		if d := imagepull.Repository(imagepull.FamiliarName(r.Name)) + "@" + r.Digest; !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

// created is the config's creation time, else the record's.
func (di *dockerImage) created() time.Time {
	if di.Config != nil && !di.Config.Created.IsZero() {
		return di.Config.Created.Time
	}
	return di.Recs[0].Created
}

// labels are the config's labels.
func (di *dockerImage) labels() map[string]string {
	if di.Config != nil && di.Config.Config.Labels != nil {
		return di.Config.Config.Labels
	}
	if l := di.Recs[0].Config.Labels; l != nil {
		return l
	}
	return map[string]string{}
}

// summary is the image as /images/json lists it. Size is what the
// image's files hold (banger keeps one flattened file system, not
// layers, so nothing is shared).
func (di *dockerImage) summary() image.Summary {
	return image.Summary{
		ID: di.ID, RepoTags: di.repoTags(), RepoDigests: di.repoDigests(), Created: di.created().Unix(),
		Size: di.Recs[0].ContentBytes, SharedSize: -1, Containers: -1, Labels: di.labels(),
	}
}

// inspect is the image as /images/{name}/json describes it, from its
// kept config: what docker image inspect -f reads.
func (di *dockerImage) inspect() (image.InspectResponse, error) {
	rec := di.Recs[0]
	out := image.InspectResponse{
		ID: di.ID, RepoTags: di.repoTags(), RepoDigests: di.repoDigests(),
		Created: di.created().UTC().Format(time.RFC3339Nano), Size: rec.ContentBytes,
		GraphDriver: &storage.DriverData{Name: "banger", Data: map[string]string{"Rootfs": rec.Rootfs}},
		RootFS:      image.RootFS{Type: "layers"},
	}
	out.Os, out.Architecture, _ = strings.Cut(rec.Platform, "/")
	out.Architecture, out.Variant, _ = strings.Cut(out.Architecture, "/")
	if di.Config == nil {
		out.Config = importedConfig(rec.Config)
		return out, nil
	}
	cf := di.Config
	// A config naming no platform is the record's (the host's, assumed).
	out.Author, out.OsVersion = cf.Author, cf.OSVersion
	if cf.OS != "" {
		out.Os, out.Architecture, out.Variant = cf.OS, cf.Architecture, cf.Variant
	}
	for _, d := range cf.RootFS.DiffIDs {
		out.RootFS.Layers = append(out.RootFS.Layers, d.String())
	}
	// The OCI config's field names are Docker's: one encoding carries it.
	b, err := json.Marshal(cf.Config)
	if err != nil {
		return out, fmt.Errorf("image %s: config: %w", di.ID, err)
	}
	out.Config = &dockerspec.DockerOCIImageConfig{}
	if err := json.Unmarshal(b, out.Config); err != nil {
		return out, fmt.Errorf("image %s: config: %w", di.ID, err)
	}
	return out, nil
}

// importedConfig is the config banger recorded for an image imported
// from a root file system tarball.
func importedConfig(c imagepull.Config) *dockerspec.DockerOCIImageConfig {
	out := &dockerspec.DockerOCIImageConfig{}
	out.Entrypoint, out.Cmd, out.Env, out.WorkingDir, out.User = c.Entrypoint, c.Cmd, c.Env, c.WorkingDir, c.User
	out.StopSignal, out.Labels = c.StopSignal, c.Labels
	if len(c.ExposedPorts) > 0 {
		out.ExposedPorts = map[string]struct{}{}
		for _, p := range c.ExposedPorts {
			out.ExposedPorts[p] = struct{}{}
		}
	}
	return out
}

// history is the config's history, newest first, as docker history
// shows it: the newest entry carries the image id, the layer-making
// ones the size of their layer as the registry holds it (compressed).
func (di *dockerImage) history() []image.HistoryResponseItem {
	out := []image.HistoryResponseItem{}
	if di.Config == nil {
		return append(out, image.HistoryResponseItem{ID: di.ID, Created: di.created().Unix(), CreatedBy: "banger image import", Size: di.Recs[0].ContentBytes, Tags: di.repoTags()})
	}
	layer := 0
	for _, h := range di.Config.History {
		item := image.HistoryResponseItem{ID: "<missing>", Created: h.Created.Unix(), CreatedBy: h.CreatedBy, Comment: h.Comment}
		if !h.EmptyLayer && di.Manifest != nil && layer < len(di.Manifest.Layers) {
			item.Size = di.Manifest.Layers[layer].Size
			layer++
		}
		out = append(out, item)
	}
	slices.Reverse(out)
	if len(out) == 0 {
		out = append(out, image.HistoryResponseItem{Created: di.created().Unix()})
	}
	out[0].ID, out[0].Tags = di.ID, di.repoTags()
	return out
}
