package daemon

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bangerdev/banger/internal/config"
	rt "github.com/bangerdev/banger/internal/imagepull/registrytest"
	"github.com/bangerdev/banger/internal/paths"
	"github.com/bangerdev/banger/internal/store"
	"github.com/bangerdev/banger/internal/testutil"
	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// serveDaemon runs a daemon in-process and returns it with a client. (An
// internal test: it reaches into the store to plant VM records.)
func serveDaemon(t *testing.T) (*Daemon, *api.Client) {
	t.Helper()
	testutil.RequireBinary(t, "debugfs", "e2fsprogs")
	root, err := os.MkdirTemp("", "bgi") //nolint:usetesting // a short path for the socket
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(root) })
	cfg := config.Default()
	d, err := New(Options{Layout: paths.Rooted(root), Config: cfg, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(root, "api.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: d.Handler()}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close(); _ = d.Close() })
	c, err := api.NewClient("unix://" + sock)
	if err != nil {
		t.Fatal(err)
	}
	return d, c
}

func pushSmall(t *testing.T, reg *rt.Registry, repoTag string) string {
	t.Helper()
	img, err := rt.NewImage([]v1.Layer{rt.MustLayer(rt.File("etc/hostname", "small\n"))})
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := reg.Push(t, repoTag, img)
	return ref
}

func pullVia(c *api.Client, ref string) (*api.Image, []string, error) {
	var msgs []string
	var mu sync.Mutex
	img, err := api.Stream(context.Background(), c, api.PullImage, api.PullRequest{Reference: ref}, api.Watch{Message: func(m string) {
		mu.Lock()
		msgs = append(msgs, m)
		mu.Unlock()
	}})
	return &img, msgs, err
}

func TestRemoveRefusedWhileAVMUsesTheImage(t *testing.T) {
	d, c := serveDaemon(t)
	reg := rt.Start(t)
	ref := pushSmall(t, reg, "used:1")
	img, _, err := pullVia(c, ref)
	if err != nil {
		t.Fatal(err)
	}
	for _, vm := range []api.VM{
		{ID: "vm1", Name: "by-id", ImageID: img.ID},
		{ID: "vm2", Name: "by-name", Spec: api.VMSpec{Image: ref}},
	} {
		if err := d.store.Put(store.VMs, vm.ID, vm); err != nil {
			t.Fatal(err)
		}
		_, err := api.Do(context.Background(), c, api.RemoveImage, api.None{}, ref)
		if !errors.Is(err, errdefs.ErrConflict) || !strings.Contains(err.Error(), vm.Name) {
			t.Fatalf("rm while VM %s uses the image: %v", vm.Name, err)
		}
		if _, err := os.Stat(img.Rootfs); err != nil {
			t.Fatalf("a refused rm removed the rootfs: %v", err)
		}
		if err := d.store.Delete(store.VMs, vm.ID); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := api.Do(context.Background(), c, api.RemoveImage, api.None{}, img.ID[:6]); err != nil {
		t.Fatalf("rm by id prefix once unused: %v", err)
	}
	if _, err := os.Stat(filepath.Dir(img.Rootfs)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("image dir after rm: %v", err)
	}
}

// New sweeps what an interrupted build left before it serves.
func TestNewReconcilesImages(t *testing.T) {
	layout := paths.Rooted(t.TempDir())
	orphan := layout.Image("0123456789abcdef")
	scratch := filepath.Join(layout.Tmp(), "image-fedcba9876543210")
	for _, dir := range []string{orphan, scratch} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	d, err := New(Options{Layout: layout, Config: config.Default()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	for _, dir := range []string{orphan, scratch} {
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s survived the daemon's start: %v", dir, err)
		}
	}
}

func TestImportRequestValidation(t *testing.T) {
	_, c := serveDaemon(t)
	for q, want := range map[api.ImageImportQuery]string{
		{}:                    "?name=",
		{Name: "UPPER"}:       "image name",
		{Name: "x", Size: -5}: "size",
		{Name: "x@sha256:" + strings.Repeat("a", 64)}: "NAME[:TAG]",
	} {
		_, err := api.Upload(context.Background(), c, api.ImportImage, q, strings.NewReader("x"), api.Watch{})
		if !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), want) {
			t.Errorf("import %+v: %v, want ErrInvalid mentioning %q", q, err, want)
		}
	}
}

// The daemon wires prune to the build's cache names and the VMs' use of
// images: a cache entry goes by default, a named image only with --all
// and only once no VM uses it, and a dry run says so without removing.
func TestPruneImagesAPI(t *testing.T) {
	d, c := serveDaemon(t)
	ctx := context.Background()
	reg := rt.Start(t)
	img, _, err := pullVia(c, pushSmall(t, reg, "kept:1"))
	if err != nil {
		t.Fatal(err)
	}
	cache := "banger.build/cache:" + strings.Repeat("e", 64)
	if _, err := api.Do(ctx, c, api.TagImage, api.TagImageRequest{Source: img.Name, Name: cache}); err != nil {
		t.Fatal(err)
	}
	if err := d.store.Put(store.VMs, "vm1", api.VM{ID: "vm1", Name: "web", ImageID: img.ID}); err != nil {
		t.Fatal(err)
	}
	res, err := api.Do(ctx, c, api.PruneImages, api.PruneImagesRequest{All: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Images) != 0 || len(res.CacheImages) != 1 || res.CacheImages[0] != cache || len(res.Blobs) != 0 {
		t.Fatalf("prune --all while a VM uses the image: %+v", res)
	}
	if err := d.store.Delete(store.VMs, "vm1"); err != nil {
		t.Fatal(err)
	}
	res, err = api.Do(ctx, c, api.PruneImages, api.PruneImagesRequest{All: true, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if !res.DryRun || len(res.Images) != 1 || res.Images[0].Name != img.Name || len(res.Blobs) != 1 || res.BytesFreed <= 0 {
		t.Fatalf("dry run of --all once unused: %+v", res)
	}
	if _, err := os.Stat(img.Rootfs); err != nil {
		t.Fatalf("a dry run removed the image: %v", err)
	}
	if _, err := api.Do(ctx, c, api.PruneImages, api.PruneImagesRequest{All: true, BuildCache: true}); !errors.Is(err, errdefs.ErrInvalid) {
		t.Fatalf("--all --build-cache: %v", err)
	}
}
