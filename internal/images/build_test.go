package images

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/bangerdev/banger/internal/fsutil"
	"github.com/bangerdev/banger/internal/imagepull"
	"github.com/bangerdev/banger/internal/imagepull/ext4test"
	rt "github.com/bangerdev/banger/internal/imagepull/registrytest"
	"github.com/bangerdev/banger/internal/testutil"
	"github.com/bangerdev/banger/internal/version"
	"github.com/bangerdev/banger/pkg/errdefs"
	"github.com/bangerdev/banger/pkg/progress"
)

// The pipeline finishes each ext4 file with e2fsprogs.
func requireE2fsprogs(t *testing.T) {
	t.Helper()
	testutil.RequireBinary(t, "debugfs", "e2fsprogs")
}

func TestPullRecordsTheImage(t *testing.T) {
	requireE2fsprogs(t)
	f := newFixture(t)
	reg := rt.Start(t)
	ref := pushSmall(t, reg, "small:1")
	var s sink
	img, err := f.Pull(t.Context(), ref, PullOptions{}, &s)
	if err != nil {
		t.Fatal(err)
	}
	agentSum, _ := fsutil.SHA256(f.agent)
	want := Image{
		ID: img.ID, Name: ref, Source: "pull", Platform: "linux/amd64", Rootfs: f.layout.ImageRootfs(img.ID),
		Config:      imagepull.Config{Entrypoint: []string{"/bin/app"}, Env: []string{"A=1"}, WorkingDir: "/srv"},
		AgentSHA256: agentSum, AgentVersion: version.String(), HeldBoot: true,
	}
	got := img
	got.Digest, got.Layers, got.SizeBytes, got.ContentBytes, got.Inodes, got.Created = "", nil, 0, 0, 0, want.Created
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("record\n%+v\nwant\n%+v", got, want)
	}
	if !strings.HasPrefix(img.Digest, "sha256:") || len(img.Layers) != 1 || img.SizeBytes <= 0 || img.Created.IsZero() {
		t.Fatalf("digest %q, layers %v, size %d, created %v", img.Digest, img.Layers, img.SizeBytes, img.Created)
	}
	if stored, err := f.Find(ref); err != nil || !reflect.DeepEqual(stored, img) {
		t.Fatalf("stored %+v, %v", stored, err)
	}
	if len(s.events) == 0 {
		t.Error("the pull reported no progress")
	}
	im := ext4test.Open(t, img.Rootfs)
	tree := im.Tree()
	if got := string(im.Cat(tree[".banger/agent"].Ino)); got != "agent v1" {
		t.Errorf("the image's agent is %q, want the located one", got)
	}
	if got := string(im.Cat(tree["etc/hostname"].Ino)); got != "small\n" {
		t.Errorf("etc/hostname = %q", got)
	}
}

// A second pull of one reference rebuilds only when the result would
// differ: another agent or another size.
func TestPullAgain(t *testing.T) {
	requireE2fsprogs(t)
	for _, tc := range []struct {
		name    string
		change  func(f *fixture, opts *PullOptions)
		rebuild bool
	}{
		{"nothing changed", func(*fixture, *PullOptions) {}, false},
		{"a new agent", func(f *fixture, _ *PullOptions) { writeFile(t, f.agent, "agent v2") }, true},
		{"another size", func(_ *fixture, o *PullOptions) { o.SizeBytes = 96 << 20 }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			ref := pushSmall(t, rt.Start(t), "again:1")
			first, err := f.Pull(t.Context(), ref, PullOptions{}, progress.Quiet{})
			if err != nil {
				t.Fatal(err)
			}
			var opts PullOptions
			tc.change(f, &opts)
			var s sink
			second, err := f.Pull(t.Context(), ref, opts, &s)
			if err != nil {
				t.Fatal(err)
			}
			upToDate := slices.ContainsFunc(s.messages(), func(m string) bool { return strings.Contains(m, "up to date") })
			if rebuilt := second.ID != first.ID; rebuilt != tc.rebuild || upToDate == tc.rebuild {
				t.Fatalf("rebuilt %v (said up to date: %v), want rebuilt %v", rebuilt, upToDate, tc.rebuild)
			}
			dirs, scratch := f.imageDirs(t)
			if !slices.Equal(dirs, []string{second.ID}) || len(scratch) != 0 || len(f.records(t)) != 1 {
				t.Fatalf("image dirs %v (want only %s), scratch %v, %d records", dirs, second.ID, scratch, len(f.records(t)))
			}
		})
	}
}

func TestImportTarball(t *testing.T) {
	requireE2fsprogs(t)
	f := newFixture(t)
	tarball := rt.MustTar(rt.Dir("./"), rt.Dir("./etc"), rt.File("./etc/hostname", "imported\n"))
	img, err := f.Import(t.Context(), "mybox:2", bytes.NewReader(tarball), int64(len(tarball)), ImportOptions{}, progress.Quiet{})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(tarball)
	if img.Name != "docker.io/library/mybox:2" || img.Source != "import" || img.Digest != "sha256:"+hex.EncodeToString(sum[:]) || img.Platform != "" || img.Layers != nil {
		t.Fatalf("record %+v", img)
	}
	if found, err := f.Find("mybox:2"); err != nil || found.ID != img.ID {
		t.Fatalf("Find(mybox:2) = %+v, %v", found, err)
	}
	im := ext4test.Open(t, img.Rootfs)
	if got := string(im.Cat(im.Tree()["etc/hostname"].Ino)); got != "imported\n" {
		t.Errorf("etc/hostname = %q", got)
	}
}

// A build that fails leaves no image directory, no scratch directory and
// no record, and keeps the image the name had.
func TestFailedBuildLeavesNothing(t *testing.T) {
	tarball := rt.MustTar(rt.Dir("./"), rt.File("./f", "x"))
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name    string
		ctx     context.Context
		body    []byte
		iname   string
		opts    ImportOptions
		agent   func() (string, error)
		wantErr error  // nil: any error, with wantText in it
		wantTxt string // what the error says
	}{
		// A short read may be a client gone away, so it is not ErrInvalid.
		{name: "not a tarball", body: []byte("this is not a tar stream, not even close"), wantTxt: "tarball is not a tar archive", wantErr: errdefs.ErrInvalid},
		{name: "cancelled", ctx: cancelled, body: tarball, wantErr: context.Canceled},
		{name: "agent lookup fails", body: tarball, wantErr: errdefs.ErrNotFound,
			agent: func() (string, error) { return "", fmt.Errorf("guest agent: %w", errdefs.ErrNotFound) }},
		{name: "bad name", iname: "Box:1", body: tarball, wantErr: errdefs.ErrInvalid},
		{name: "digest name", iname: "box@sha256:" + strings.Repeat("a", 64), body: tarball, wantErr: errdefs.ErrInvalid},
		{name: "negative size", body: tarball, opts: ImportOptions{SizeBytes: -5}, wantErr: errdefs.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			old := f.plant(t, Image{ID: "0123012301230123", Name: "docker.io/library/box:1", Source: "import"})
			if tc.agent != nil {
				f.agent = ""
				f.Service.agent = tc.agent
			}
			ctx := tc.ctx
			if ctx == nil {
				ctx = t.Context()
			}
			_, err := f.Import(ctx, cmpOr(tc.iname, "box:1"), bytes.NewReader(tc.body), int64(len(tc.body)), tc.opts, progress.Quiet{})
			if err == nil || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) || !strings.Contains(err.Error(), tc.wantTxt) {
				t.Fatalf("Import = %v, want %v saying %q", err, tc.wantErr, tc.wantTxt)
			}
			dirs, scratch := f.imageDirs(t)
			if recs := f.records(t); !slices.Equal(dirs, []string{old.ID}) || len(scratch) != 0 || len(recs) != 1 || recs[0].ID != old.ID {
				t.Fatalf("after a failed build: image dirs %v, scratch %v, records %+v; want only %s", dirs, scratch, recs, old.ID)
			}
		})
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// A name whose image a VM uses is not rebuilt: the refusal comes before
// any work, and once the VM lets go the rebuild replaces the old image.
func TestRebuildRefusedWhileInUse(t *testing.T) {
	requireE2fsprogs(t)
	f := newFixture(t)
	old := f.plant(t, Image{ID: "0123012301230123", Name: "docker.io/library/box:1", Source: "import"})
	f.use(old.ID, "web")
	tarball := rt.MustTar(rt.Dir("./"), rt.File("./f", "x"))
	_, err := f.Import(t.Context(), "box:1", bytes.NewReader(tarball), 0, ImportOptions{}, progress.Quiet{})
	if !errors.Is(err, errdefs.ErrConflict) || !strings.Contains(err.Error(), "VM web") {
		t.Fatalf("rebuild while VM web uses the image: %v", err)
	}
	if dirs, scratch := f.imageDirs(t); !slices.Equal(dirs, []string{old.ID}) || len(scratch) != 0 {
		t.Fatalf("a refused rebuild left image dirs %v, scratch %v", dirs, scratch)
	}
	f.use(old.ID, "")
	img, err := f.Import(t.Context(), "box:1", bytes.NewReader(tarball), 0, ImportOptions{}, progress.Quiet{})
	if err != nil {
		t.Fatal(err)
	}
	if dirs, _ := f.imageDirs(t); img.ID == old.ID || !slices.Equal(dirs, []string{img.ID}) {
		t.Fatalf("after the rebuild: id %s (old %s), dirs %v", img.ID, old.ID, dirs)
	}
}

func TestConcurrentPullsOfOneName(t *testing.T) {
	requireE2fsprogs(t)
	f := newFixture(t)
	ref := pushSmall(t, rt.Start(t), "racy:1")
	const n = 3
	imgs, errs, sinks := make([]Image, n), make([]error, n), make([]sink, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { imgs[i], errs[i] = f.Pull(t.Context(), ref, PullOptions{}, &sinks[i]) })
	}
	wg.Wait()
	upToDate := 0
	for i := range n {
		if errs[i] != nil || imgs[i].ID != imgs[0].ID {
			t.Fatalf("pull %d: %v (id %s vs %s)", i, errs[i], imgs[i].ID, imgs[0].ID)
		}
		if slices.ContainsFunc(sinks[i].messages(), func(m string) bool { return strings.Contains(m, "up to date") }) {
			upToDate++
		}
	}
	if dirs, _ := f.imageDirs(t); len(dirs) != 1 || upToDate != n-1 {
		t.Fatalf("%d image dirs and %d up-to-date answers after %d concurrent pulls, want 1 and %d", len(dirs), upToDate, n, n-1)
	}
}

func TestFlattenForKernelPulls(t *testing.T) {
	f := newFixture(t)
	reg := rt.Start(t)
	ref := pushSmall(t, reg, "kernels/k:1")
	var buf bytes.Buffer
	if err := f.Flatten(t.Context(), ref, &buf); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(buf.Bytes(), []byte("small\n")) || !bytes.Contains(buf.Bytes(), []byte("etc/hostname")) {
		t.Fatalf("the flattened stream lacks the image's file (%d bytes)", buf.Len())
	}
	if len(f.records(t)) != 0 {
		t.Fatal("Flatten recorded an image")
	}
	if err := f.Flatten(t.Context(), reg.Ref("absent:1"), &buf); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("a missing image: %v", err)
	}
}
