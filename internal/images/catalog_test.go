package images

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/imagepull"
	rt "github.com/bangerdev/banger/internal/imagepull/registrytest"
	"github.com/bangerdev/banger/internal/store/storetest"
	"github.com/bangerdev/banger/pkg/errdefs"
	"github.com/bangerdev/banger/pkg/progress"
)

// catalog plants three images whose ids share prefixes.
func catalog(t *testing.T) (*fixture, []Image) {
	t.Helper()
	f := newFixture(t)
	imgs := []Image{
		f.plant(t, Image{ID: "abcdef0123456789", Name: "docker.io/library/debian:bookworm", Source: "pull"}),
		f.plant(t, Image{ID: "abcd990123456789", Name: "docker.io/library/alpine:3", Source: "pull"}),
		f.plant(t, Image{ID: "0011223344556677", Name: "docker.io/library/box:1", Source: "import"}),
	}
	return f, imgs
}

func TestFind(t *testing.T) {
	f, imgs := catalog(t)
	debian, alpine := imgs[0], imgs[1]
	for _, tc := range []struct {
		ref     string
		wantID  string
		wantErr error
	}{
		{ref: "debian:bookworm", wantID: debian.ID},
		{ref: "docker.io/library/debian:bookworm", wantID: debian.ID},
		{ref: "alpine:3", wantID: alpine.ID},
		{ref: debian.ID, wantID: debian.ID},
		{ref: "abcdef", wantID: debian.ID},
		{ref: "abcd9", wantID: alpine.ID},
		{ref: "abcd", wantErr: errdefs.ErrInvalid},    // both ids start so
		{ref: "abc", wantErr: errdefs.ErrNotFound},    // too short to be an id prefix
		{ref: "debian", wantErr: errdefs.ErrNotFound}, // debian:latest is not debian:bookworm
		{ref: "ffff", wantErr: errdefs.ErrNotFound},
		{ref: "Not A Name", wantErr: errdefs.ErrNotFound},
	} {
		t.Run(tc.ref, func(t *testing.T) {
			img, err := f.Find(tc.ref)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.ref) {
					t.Fatalf("Find(%q) = %s, %v; want %v naming the ref", tc.ref, img.ID, err, tc.wantErr)
				}
				return
			}
			if err != nil || img.ID != tc.wantID {
				t.Fatalf("Find(%q) = %s, %v; want %s", tc.ref, img.ID, err, tc.wantID)
			}
		})
	}
}

func TestListIsSortedByName(t *testing.T) {
	if imgs, err := newFixture(t).List(); err != nil || len(imgs) != 0 {
		t.Fatalf("an empty catalog lists %v, %v", imgs, err)
	}
	f, _ := catalog(t)
	imgs, err := f.List()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, img := range imgs {
		names = append(names, imagepull.FamiliarName(img.Name))
	}
	if want := []string{"alpine:3", "box:1", "debian:bookworm"}; !slices.Equal(names, want) {
		t.Fatalf("List = %v, want %v", names, want)
	}
}

func TestRemove(t *testing.T) {
	for _, tc := range []struct {
		name     string
		ref      string
		usedBy   string // the VM using debian
		wantErr  error
		wantGone bool // debian's record and files are gone
	}{
		{name: "unused, by name", ref: "debian:bookworm", wantGone: true},
		{name: "unused, by id prefix", ref: "abcdef", wantGone: true},
		{name: "in use", ref: "debian:bookworm", usedBy: "web", wantErr: errdefs.ErrConflict},
		{name: "ambiguous prefix", ref: "abcd", wantErr: errdefs.ErrInvalid},
		{name: "unknown", ref: "ubuntu:24.04", wantErr: errdefs.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, imgs := catalog(t)
			debian := imgs[0]
			f.use(debian.ID, tc.usedBy)
			err := f.Remove(tc.ref)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Remove(%q) = %v, want %v", tc.ref, err, tc.wantErr)
			}
			if tc.usedBy != "" && !strings.Contains(err.Error(), "VM "+tc.usedBy) {
				t.Fatalf("a refusal should name the VM: %v", err)
			}
			_, ferr := f.Find(debian.Name)
			_, serr := os.Stat(debian.Rootfs)
			if gone := errors.Is(ferr, errdefs.ErrNotFound) && errors.Is(serr, os.ErrNotExist); gone != tc.wantGone {
				t.Fatalf("after Remove(%q): record err %v, rootfs err %v; want gone=%v", tc.ref, ferr, serr, tc.wantGone)
			}
			if left := len(f.records(t)); left != len(imgs)-btoi(tc.wantGone) {
				t.Fatalf("%d records left, want %d: Remove touched another image", left, len(imgs)-btoi(tc.wantGone))
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestReconcileRemovesLeftovers(t *testing.T) {
	f, imgs := catalog(t)
	orphan := f.layout.Image("0123456789abcdef")
	scratch := filepath.Join(f.layout.Tmp(), scratchPrefix+"fedcba9876543210")
	other := filepath.Join(f.layout.Tmp(), "kernel-import-1") // not the catalog's
	for _, dir := range []string{orphan, scratch, other} {
		writeFile(t, filepath.Join(dir, "rootfs.ext4"), "left by a crash")
	}
	ingest := filepath.Join(f.layout.OCICache(), "ingest", "blob-1234")
	writeFile(t, ingest, "half a layer")
	if err := f.Reconcile(); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{orphan, scratch, ingest} {
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s survived reconcile: %v", dir, err)
		}
	}
	for _, p := range []string{other, imgs[0].Rootfs, imgs[1].Rootfs, imgs[2].Rootfs} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("reconcile removed %s, which it does not own or a record names: %v", p, err)
		}
	}
}

// The store keeps Image records as JSON. The testdata/records files were
// written by the type this one replaced (api.Image): they must decode with
// no field lost and encode back byte for byte, or existing databases break.
func TestImageRecordKeepsItsStoredShape(t *testing.T) {
	for _, tc := range []struct {
		file string
		want Image
	}{
		{"image-v0-empty.json", Image{}},
		{"image-v0.json", Image{
			ID: "3f9a1c0d5e7b2468", Name: "docker.io/library/debian:bookworm", Source: "pull",
			Digest: "sha256:ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12", Platform: "linux/amd64",
			Rootfs: "/var/lib/banger/images/3f9a1c0d5e7b2468/rootfs.ext4", SizeBytes: 268435456, ContentBytes: 123456789, Inodes: 4321, Skipped: 2,
			Config: imagepull.Config{
				Entrypoint: []string{"/docker-entrypoint.sh"}, Cmd: []string{"bash"},
				Env: []string{"PATH=/usr/local/bin:/usr/bin"}, WorkingDir: "/srv", User: "app",
			},
			AgentVersion: "v0.4.0", AgentSHA256: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
			Layers: []string{
				"sha256:1111111111111111111111111111111111111111111111111111111111111111",
				"sha256:2222222222222222222222222222222222222222222222222222222222222222",
			},
			Created: time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC),
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			storetest.KeepsShape(t, filepath.Join("testdata", "records", tc.file), tc.want)
		})
	}
}

// Each image recorded is reported once, as its source (pull, import); a
// pull that finds it up to date reports nothing; a removal is reported;
// a refused removal is not.
func TestImageEvents(t *testing.T) {
	requireE2fsprogs(t)
	f := newFixture(t)
	ref := pushSmall(t, rt.Start(t), "ev:1")
	img, err := f.Pull(t.Context(), ref, PullOptions{}, progress.Quiet{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Pull(t.Context(), ref, PullOptions{}, progress.Quiet{}); err != nil {
		t.Fatal(err)
	}
	tarball := rt.MustTar(rt.Dir("./"), rt.File("./x", "x\n"))
	if _, err := f.Import(t.Context(), "mybox:1", bytes.NewReader(tarball), int64(len(tarball)), ImportOptions{}, progress.Quiet{}); err != nil {
		t.Fatal(err)
	}
	f.use(img.ID, "web")
	if err := f.Remove(img.Name); err == nil {
		t.Fatal("removed an image in use")
	}
	f.use(img.ID, "")
	if err := f.Remove(img.Name); err != nil {
		t.Fatal(err)
	}
	want := []string{"image pull " + img.Name, "image import docker.io/library/mybox:1", "image remove " + img.Name}
	if !slices.Equal(f.events, want) {
		t.Fatalf("events %q, want %q", f.events, want)
	}
}
