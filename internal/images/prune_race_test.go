package images

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"slices"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	rt "github.com/bangerdev/banger/internal/imagepull/registrytest"
	"github.com/bangerdev/banger/pkg/progress"
)

func digestOf(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func opener(b []byte) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

// gate holds a pull at its conversion, after its layers are in the blob
// cache and before its record is written: the moment no record names
// them.
type gate struct {
	progress.Quiet
	reached, release chan struct{}
}

func (g *gate) Progress(e progress.Event) {
	if e.ID == "rootfs" && e.Action == "convert" {
		close(g.reached)
		<-g.release
	}
}

// A prune while a pull is between its fetch and its record keeps the
// pull's blobs (its lease), so the pulled image is whole; the next prune
// still keeps them (now a record names them).
func TestPruneDuringAPullKeepsItsBlobs(t *testing.T) {
	requireE2fsprogs(t)
	f := newFixture(t)
	reg := rt.Start(t)
	l := rt.MustLayer(rt.File("srv/data", "pulled\n"))
	img, err := rt.NewImage([]v1.Layer{l})
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := reg.Push(t, "racy:1", img)
	blob := layerDigest(t, l)

	g := &gate{reached: make(chan struct{}), release: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		_, err := f.Pull(t.Context(), ref, PullOptions{}, g)
		done <- err
	}()
	<-g.reached
	if _, err := os.Stat(f.blobPath(t, blob)); err != nil {
		t.Fatalf("the pull's layer is not in the cache yet: %v", err)
	}
	rep, err := f.Prune(PruneOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	close(g.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if slices.Contains(rep.Blobs, blob) || len(rep.Images) != 0 {
		t.Fatalf("prune removed the pull's %v, images %v", rep.Blobs, names(rep.Images))
	}
	if _, _, err := f.Save([]string{ref}); err != nil {
		t.Fatalf("the pulled image lost its layer: %v", err)
	}
	rep, err = f.Prune(PruneOptions{})
	if err != nil || len(rep.Blobs) != 0 {
		t.Fatalf("after the pull, prune removed %v (%v)", rep.Blobs, err)
	}
}

// An archive being written keeps its images and blobs from a prune
// until the save releases them.
func TestPruneWaitsForASave(t *testing.T) {
	requireE2fsprogs(t)
	f := newFixture(t)
	c := newScene(t, f)
	f.use(c.used.ID, "") // no VM: only the save keeps it
	_, release, err := f.Save([]string{c.used.Name})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := f.Prune(PruneOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(names(rep.Images), c.used.Name) || slices.Contains(rep.Blobs, c.usedBlob) || slices.Contains(rep.Blobs, c.baseBlob) {
		t.Fatalf("prune took what a save is writing: %v, %v", names(rep.Images), rep.Blobs)
	}
	release()
	rep, err = f.Prune(PruneOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(names(rep.Images), c.used.Name) || !slices.Contains(rep.Blobs, c.usedBlob) {
		t.Fatalf("after the save, prune removed %v, %v", names(rep.Images), rep.Blobs)
	}
}
