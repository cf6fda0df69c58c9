package dockerapi

import (
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/image"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bangerdev/banger/internal/vms"
)

// newImageServer is a Server over fake images (and fake VMs, which rmi
// asks who uses an image).
func newImageServer(ops *fakeImageOps, f *fakeVMs) *Server {
	return New(Options{VMs: f, Images: fakeImages{}, ImageOps: ops, Volumes: fakeVolumes{}, Version: "test"})
}

// catalog: alpine and its tag mine:1 (one Docker image), app:2 with a
// label, and an imported rootfs.
func catalog() (*fakeImageOps, v1.Image, v1.Image) {
	ops := newFakeImageOps()
	alpine := testImage(2, v1.Config{Env: []string{"PATH=/bin"}, Cmd: []string{"sh"}, ExposedPorts: map[string]struct{}{"80/tcp": {}}})
	app := testImage(1, v1.Config{Labels: map[string]string{"team": "a", "tier": "web"}})
	ops.add("aaaa000000000001", "docker.io/library/alpine:latest", "pull", alpine)
	ops.add("bbbb000000000002", "docker.io/library/mine:1", "pull", alpine)
	ops.add("cccc000000000003", "127.0.0.1:5000/team/app:2", "build", app)
	ops.add("dddd000000000004", "docker.io/library/rootfs:latest", "import", nil)
	ops.add("eeee000000000005", "banger.build/cache:k1", "build", app)
	return ops, alpine, app
}

func configID(t *testing.T, img v1.Image) string {
	t.Helper()
	h, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

func decode[T any](t *testing.T, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("answer %d %q: %v", rec.Code, rec.Body, err)
	}
	return v
}

// TestImageList: names sharing a config digest are one Docker image
// with several RepoTags; a build's cache entries are not listed; the
// filters reference, label and dangling select, in both encodings.
func TestImageList(t *testing.T) {
	ops, alpine, app := catalog()
	s := newImageServer(ops, newFakeVMs())
	for _, tc := range []struct {
		filters string
		want    []string // ids
	}{
		{"", []string{configID(t, alpine), configID(t, app), "imported"}},
		{`{"reference":["alpine"]}`, []string{configID(t, alpine)}},
		{`{"reference":{"mine:*":true}}`, []string{configID(t, alpine)}},
		{`{"reference":["127.0.0.1:5000/team/*"]}`, []string{configID(t, app)}},
		{`{"label":["team=a"]}`, []string{configID(t, app)}},
		{`{"label":["tier"],"reference":["alpine"]}`, nil},
		{`{"dangling":["true"]}`, nil},
		{`{"dangling":{"false":true}}`, []string{configID(t, alpine), configID(t, app), "imported"}},
	} {
		rec := do(s, "GET", "/v1.41/images/json?filters="+url.QueryEscape(tc.filters), "")
		list := decode[[]image.Summary](t, rec)
		var ids []string
		for _, sum := range list {
			id := sum.ID
			if sum.RepoTags[0] == "rootfs:latest" {
				id = "imported"
			}
			ids = append(ids, id)
		}
		if !slices.Equal(ids, tc.want) {
			t.Errorf("filters %s: ids %v, want %v", tc.filters, ids, tc.want)
		}
		if tc.filters == "" && !slices.Equal(list[0].RepoTags, []string{"alpine:latest", "mine:1"}) {
			t.Errorf("alpine's RepoTags %v", list[0].RepoTags)
		}
	}
	rec := do(s, "GET", "/images/json?filters="+url.QueryEscape(`{"before":["x"]}`), "")
	if rec.Code != 400 || !strings.Contains(message(t, rec), "invalid filter 'before'") {
		t.Errorf("an unknown filter: %d %s", rec.Code, rec.Body)
	}
}

// TestImageInspect: the Id is the config digest, found by name, by
// Docker id (with or without sha256:, any prefix) and by banger id; the
// config, platform, layers and RepoDigests are the kept image's.
func TestImageInspect(t *testing.T) {
	ops, alpine, app := catalog()
	s := newImageServer(ops, newFakeVMs())
	id := configID(t, alpine)
	digest, _ := alpine.Digest()
	cf, _ := alpine.ConfigFile()
	for _, ref := range []string{"alpine", "docker.io/library/alpine:latest", id, id[7:19], "sha256:" + id[7:15], "aaaa0000", "mine:1"} {
		rec := do(s, "GET", "/v1.41/images/"+ref+"/json", "")
		got := decode[image.InspectResponse](t, rec)
		if rec.Code != 200 || got.ID != id {
			t.Errorf("inspect %s: %d id %s, want %s", ref, rec.Code, got.ID, id)
			continue
		}
		if !slices.Equal(got.RepoTags, []string{"alpine:latest", "mine:1"}) || !slices.Equal(got.RepoDigests, []string{"alpine@" + digest.String(), "mine@" + digest.String()}) {
			t.Errorf("inspect %s: tags %v digests %v", ref, got.RepoTags, got.RepoDigests)
		}
		if got.Os != "linux" || got.Architecture != "amd64" || got.Author != "tester" || got.Size != 1000 || got.Created != "2023-11-14T22:13:20Z" {
			t.Errorf("inspect %s: %+v", ref, got)
		}
		if got.Config == nil || !slices.Equal(got.Config.Env, []string{"PATH=/bin"}) || !slices.Equal(got.Config.Cmd, []string{"sh"}) || len(got.Config.ExposedPorts) != 1 {
			t.Errorf("inspect %s: config %+v", ref, got.Config)
		}
		if len(got.RootFS.Layers) != 2 || got.RootFS.Layers[0] != cf.RootFS.DiffIDs[0].String() {
			t.Errorf("inspect %s: rootfs %+v", ref, got.RootFS)
		}
	}
	rec := do(s, "GET", "/images/rootfs/json", "")
	got := decode[image.InspectResponse](t, rec)
	if !strings.HasPrefix(got.ID, "sha256:") || len(got.ID) != 71 || !slices.Equal(got.Config.Cmd, []string{"sh"}) || len(got.RepoDigests) != 0 {
		t.Errorf("an imported image: %+v", got)
	}
	rec = do(s, "GET", "/images/nope:1/json", "")
	if rec.Code != 404 || message(t, rec) != "No such image: nope:1" {
		t.Errorf("an unknown image: %d %s", rec.Code, rec.Body)
	}
	// A name that is also an id prefix names the image of that name, as
	// in Docker; "sha256:" makes it an id.
	ops.add("ffff000000000006", "docker.io/library/"+id[7:15]+":latest", "build", app)
	if got := decode[image.InspectResponse](t, do(s, "GET", "/images/"+id[7:15]+"/json", "")); got.ID != configID(t, app) {
		t.Errorf("a name that is an id prefix: %s", got.ID)
	}
	if got := decode[image.InspectResponse](t, do(s, "GET", "/images/sha256:"+id[7:15]+"/json", "")); got.ID != id {
		t.Errorf("sha256:PREFIX: %s", got.ID)
	}
	rec = do(s, "GET", "/images/127.0.0.1:5000/team/app:2/json", "")
	if got := decode[image.InspectResponse](t, rec); rec.Code != 200 || got.Config.Labels["team"] != "a" || len(got.RepoDigests) != 0 {
		t.Errorf("a built image by a registry name: %d %+v", rec.Code, got)
	}
}

// TestImageHistory: newest first, the top entry carries the id and
// tags, layer entries their layer's size, empty ones none.
func TestImageHistory(t *testing.T) {
	ops, alpine, _ := catalog()
	s := newImageServer(ops, newFakeVMs())
	m, _ := alpine.Manifest()
	got := decode[[]image.HistoryResponseItem](t, do(s, "GET", "/images/alpine/history", ""))
	want := []image.HistoryResponseItem{
		{ID: configID(t, alpine), CreatedBy: "ENV x", Tags: []string{"alpine:latest", "mine:1"}},
		{ID: "<missing>", CreatedBy: "layer 1", Size: m.Layers[1].Size},
		{ID: "<missing>", CreatedBy: "ENV x"},
		{ID: "<missing>", CreatedBy: "layer 0", Size: m.Layers[0].Size},
	}
	if len(got) != len(want) {
		t.Fatalf("history %+v", got)
	}
	for i := range want {
		g := got[i]
		g.Created = 0
		if g.ID != want[i].ID || g.CreatedBy != want[i].CreatedBy || g.Size != want[i].Size || !slices.Equal(g.Tags, want[i].Tags) {
			t.Errorf("history[%d] = %+v, want %+v", i, g, want[i])
		}
	}
}

// TestImageTagAndRemove: tag names the catalog record; rmi of a name
// untags it, of the last name also deletes; rmi of an id several names
// share needs force; a VM's image is refused in Docker's words, force
// or not.
func TestImageTagAndRemove(t *testing.T) {
	ops, alpine, _ := catalog()
	id := configID(t, alpine)
	f := newFakeVMs(vms.VM{ID: "0123456789ab", Name: "box", Spec: vms.Spec{Image: "127.0.0.1:5000/team/app:2"}})
	s := newImageServer(ops, f)
	if rec := do(s, "POST", "/v1.41/images/alpine/tag?repo=localhost:5000/x&tag=v2", ""); rec.Code != 201 || ops.calls[0] != "tag aaaa000000000001 localhost:5000/x:v2" {
		t.Fatalf("tag: %d %s %v", rec.Code, rec.Body, ops.calls)
	}
	if rec := do(s, "POST", "/images/alpine/tag?tag=v2", ""); rec.Code != 400 {
		t.Errorf("tag without repo: %d", rec.Code)
	}
	rec := do(s, "DELETE", "/images/"+id[7:19], "")
	if rec.Code != 409 || !strings.Contains(message(t, rec), "conflict: unable to delete "+id[7:19]+" (must be forced) - image is referenced in multiple repositories") {
		t.Errorf("rmi of a shared id: %d %s", rec.Code, rec.Body)
	}
	got := decode[[]image.DeleteResponse](t, do(s, "DELETE", "/images/mine:1", ""))
	if len(got) != 1 || got[0].Untagged != "mine:1" {
		t.Errorf("rmi of one name: %+v", got)
	}
	got = decode[[]image.DeleteResponse](t, do(s, "DELETE", "/images/"+id+"?force=1", ""))
	if len(got) != 3 || got[0].Untagged != "alpine:latest" || got[1].Untagged != "localhost:5000/x:v2" || got[2].Deleted != id {
		t.Errorf("rmi -f of an id: %+v", got)
	}
	ops.inUse["cccc000000000003"] = true
	rec = do(s, "DELETE", "/images/127.0.0.1:5000/team/app:2", "")
	want := `conflict: unable to remove repository reference "127.0.0.1:5000/team/app:2" (must force) - container 0123456789ab is using its referenced image`
	if rec.Code != 409 || !strings.Contains(message(t, rec), want) {
		t.Errorf("rmi of a VM's image: %d %s", rec.Code, rec.Body)
	}
	rec = do(s, "DELETE", "/images/127.0.0.1:5000/team/app:2?force=true", "")
	if rec.Code != 409 || !strings.Contains(message(t, rec), "(cannot be forced) - image is being used by container 0123456789ab") {
		t.Errorf("rmi -f of a VM's image: %d %s", rec.Code, rec.Body)
	}
	if rec := do(s, "DELETE", "/images/nope", ""); rec.Code != 404 {
		t.Errorf("rmi of nothing: %d", rec.Code)
	}
}

// TestImagePrune: -a (dangling=false) is the catalog's prune of every
// unused image; the build cache's entries are not reported as images.
func TestImagePrune(t *testing.T) {
	ops, _, _ := catalog()
	s := newImageServer(ops, newFakeVMs())
	got := decode[image.PruneReport](t, do(s, "POST", "/images/prune?filters="+url.QueryEscape(`{"dangling":{"false":true}}`), ""))
	if ops.calls[0] != "prune all=true" || got.SpaceReclaimed != 4096 || len(got.ImagesDeleted) != 2 || got.ImagesDeleted[0].Untagged != "old:1" {
		t.Errorf("prune -a: %v %+v", ops.calls, got)
	}
	do(s, "POST", "/images/prune", "")
	if ops.calls[1] != "prune all=false" {
		t.Errorf("prune: %v", ops.calls)
	}
	if rec := do(s, "POST", "/images/prune?filters="+url.QueryEscape(`{"until":["1h"]}`), ""); rec.Code != 400 {
		t.Errorf("prune until: %d", rec.Code)
	}
}
