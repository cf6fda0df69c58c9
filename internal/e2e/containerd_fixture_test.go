package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	rt "github.com/bangerdev/banger/internal/imagepull/registrytest"
	"github.com/bangerdev/banger/internal/testutil"
	"github.com/bangerdev/banger/internal/testutil/containerdrun"
)

// containerd is a containerd daemon of the test's own
// (containerdrun.Start) pointing the shim at the fixture's banger daemon.
type containerd struct {
	*containerdrun.Containerd
	log bytes.Buffer
}

// containerdBinDir is where scripts/containerd.sh put containerd and ctr
// of the release go.mod pins; it skips when they are not there.
func containerdBinDir(t *testing.T) string {
	t.Helper()
	dir, err := containerdrun.BinDir(t.Context(), testutil.RepoRoot(t))
	if err != nil {
		testutil.Skip(t, err.Error())
	}
	return dir
}

// startContainerd starts the test's containerd (the CRI plugin off) and
// stops it (and removes its directory) when the test ends.
func startContainerd(t *testing.T, f *fixture) *containerd {
	t.Helper()
	return launchContainerd(t, f, containerdrun.TaskConfig)
}

// launchContainerd starts a containerd of the config config answers for
// its directory and socket, with the shim on its PATH, and stops it when
// the test ends.
func launchContainerd(t *testing.T, f *fixture, config func(dir, sock string) string) *containerd {
	t.Helper()
	bin := containerdBinDir(t)
	shim := testutil.BuildBinary(t, "./cmd/containerd-shim-banger-v2")
	c := &containerd{}
	run, err := containerdrun.StartWith(t.Context(), bin, filepath.Dir(shim), f.host, &c.log, config)
	if err != nil {
		t.Fatalf("%v:\n%s", err, c.log.String())
	}
	c.Containerd = run
	t.Cleanup(func() {
		run.Stop()
		if t.Failed() {
			t.Logf("containerd log:\n%s\nbanger daemon log tail:\n%s", c.log.String(), f.logTail())
		}
	})
	return c
}

// pullBusybox pushes the busybox root file system as an image to an
// in-process registry and pulls it into containerd; it returns the
// image's reference.
func (c *containerd) pullBusybox(t *testing.T) string {
	t.Helper()
	img, err := rt.NewImage([]v1.Layer{busyboxLayer(t)})
	if err != nil {
		t.Fatal(err)
	}
	reg := rt.Start(t)
	ref, _ := reg.Push(t, "ctr/busybox:1", img)
	if out, errOut, code := c.Ctr(t.Context(), "images", "pull", "--plain-http", ref); code != 0 {
		t.Fatalf("ctr images pull %s: exit %d\n%s%s", ref, code, out, errOut)
	}
	return ref
}

// shimSocket is the path of the socket of task id's shim, as containerd
// recorded it in the bundle.
func (c *containerd) shimSocket(t *testing.T, id string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(c.Dir, "state", "io.containerd.runtime.v2.task", "default", id, "bootstrap.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Address string `json:"address"`
	}
	if err := json.Unmarshal(data, &res); err != nil || !strings.HasPrefix(res.Address, "unix://") {
		t.Fatalf("bootstrap.json %s: %v; want a unix:// address", data, err)
	}
	return strings.TrimPrefix(res.Address, "unix://")
}

// busyboxLayer is the busybox root file system as one gzipped layer.
func busyboxLayer(t *testing.T) v1.Layer {
	t.Helper()
	tarball, err := os.ReadFile(busyboxTar(t))
	if err != nil {
		t.Fatal(err)
	}
	layer, err := rt.LayerFromTar(tarball, rt.Gzip)
	if err != nil {
		t.Fatal(err)
	}
	return layer
}
