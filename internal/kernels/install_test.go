package kernels

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/bangerdev/banger/internal/config"
	"github.com/bangerdev/banger/internal/fsutil"
	"github.com/bangerdev/banger/internal/kernelcat"
	"github.com/bangerdev/banger/internal/kernelcat/kctest"
	"github.com/bangerdev/banger/pkg/errdefs"
	"github.com/bangerdev/banger/pkg/progress"
)

func TestImportRecordsTheKernel(t *testing.T) {
	f := newFixture(t, config.Kernel{})
	var s sink
	k, err := f.Import(t.Context(), distroTree(t), ImportOptions{Name: "deb"}, &s)
	if err != nil {
		t.Fatal(err)
	}
	agentSum, _ := fsutil.SHA256(f.agent)
	if k.Name != "deb" || k.Version != release || k.Dir != f.layout.Kernel("deb") || k.AgentSHA256 != agentSum || !k.Default {
		t.Fatalf("record %+v", k)
	}
	if filepath.Dir(k.Initrd) != k.Dir || filepath.Dir(k.Vmlinux) != k.Dir {
		t.Fatalf("files outside the entry: initrd %s, vmlinux %s", k.Initrd, k.Vmlinux)
	}
	if stored := f.stored(t)["deb"]; !reflect.DeepEqual(stored, k) {
		t.Fatalf("stored\n%+v\nreturned\n%+v", stored, k)
	}
	if !slices.ContainsFunc(s.msgs, func(m string) bool { return strings.Contains(m, "initramfs") }) {
		t.Errorf("no word of the initramfs: %v", s.msgs)
	}
	if left := f.scratch(t); len(left) != 0 {
		t.Errorf("scratch left: %v", left)
	}
	unnamed, err := f.importTree(t, "", false)
	if err != nil || unnamed.Name != release {
		t.Fatalf("an import without a name is named %q (%v), want the release %s", unnamed.Name, err, release)
	}
	if err := f.Remove("deb"); err != nil {
		t.Fatal(err)
	}
	if want := []string{"import deb " + release, "import " + release + " " + release, "remove deb "}; !slices.Equal(f.events, want) {
		t.Errorf("events %q, want %q", f.events, want)
	}
}

// A refused import leaves no record, no entry directory and no scratch.
func TestImportRefusals(t *testing.T) {
	for _, tc := range []struct {
		name    string
		path    string // "" with tree: a distro tree
		tree    bool
		opts    ImportOptions
		noAgent bool
		want    error
	}{
		{name: "relative path", path: "boot/vmlinuz", want: errdefs.ErrInvalid},
		{name: "relative config", tree: true, opts: ImportOptions{Config: "config-6.1"}, want: errdefs.ErrInvalid},
		{name: "relative modules", tree: true, opts: ImportOptions{Modules: "lib/modules"}, want: errdefs.ErrInvalid},
		{name: "no path", want: errdefs.ErrInvalid},
		{name: "bad name", tree: true, opts: ImportOptions{Name: "../up"}, want: errdefs.ErrInvalid},
		{name: "name taken", tree: true, opts: ImportOptions{Name: "taken"}, want: errdefs.ErrExists},
		{name: "modules but no agent", tree: true, opts: ImportOptions{Name: "x"}, noAgent: true, want: errdefs.ErrUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, config.Kernel{})
			f.plant(t, "taken", true)
			if tc.noAgent {
				f.agent = ""
			}
			path := tc.path
			if tc.tree {
				path = distroTree(t)
			}
			_, err := f.Import(t.Context(), path, tc.opts, progress.Quiet{})
			if !errors.Is(err, tc.want) {
				t.Fatalf("Import = %v, want %v", err, tc.want)
			}
			if recs, dirs, left := f.stored(t), f.dirs(t), f.scratch(t); len(recs) != 1 || !slices.Equal(dirs, []string{"taken"}) || len(left) != 0 {
				t.Fatalf("after a refusal: %d records, dirs %v, scratch %v", len(recs), dirs, left)
			}
		})
	}
}

func TestImportUpload(t *testing.T) {
	for _, tc := range []struct {
		name     string
		body     func(t *testing.T) []byte
		opts     ImportOptions
		maxBytes int64
		want     error
	}{
		{name: "a tarball", body: func(t *testing.T) []byte { return kctest.TarTree(t, distroTree(t), "./") }, opts: ImportOptions{Name: "up"}},
		{name: "empty", body: func(*testing.T) []byte { return nil }, want: errdefs.ErrInvalid},
		{name: "too large", body: func(*testing.T) []byte { return make([]byte, 101) }, maxBytes: 100, want: errdefs.ErrInvalid},
		{name: "relative config", body: func(*testing.T) []byte { return []byte("x") }, opts: ImportOptions{Config: "cfg"}, want: errdefs.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, config.Kernel{})
			if tc.maxBytes > 0 {
				f.maxBytes = tc.maxBytes
			}
			k, err := f.ImportUpload(t.Context(), bytes.NewReader(tc.body(t)), tc.opts, progress.Quiet{})
			if !errors.Is(err, tc.want) {
				t.Fatalf("ImportUpload = %v, want %v", err, tc.want)
			}
			if tc.want == nil && (k.Name != "up" || k.Version != release || len(f.stored(t)) != 1) {
				t.Fatalf("record %+v, %d stored", k, len(f.stored(t)))
			}
			if tc.want != nil && len(f.stored(t)) != 0 {
				t.Fatal("a refused upload was recorded")
			}
			if left := f.scratch(t); len(left) != 0 {
				t.Fatalf("the upload or scratch was left: %v", left)
			}
		})
	}
}

// Pulls of image references go through the injected OCI seam.
func TestPullFromAnImage(t *testing.T) {
	f := newFixture(t, config.Kernel{})
	image := kctest.TarTree(t, distroTree(t), "")
	var gotRef string
	f.oci = func(_ context.Context, ref string, w io.Writer) error {
		gotRef = ref
		_, err := w.Write(image)
		return err
	}
	const ref = "registry.example/kernels/debian:6.1"
	f.plant(t, "first", true)
	k, err := f.Pull(t.Context(), ref, PullOptions{Default: true}, progress.Quiet{})
	if err != nil {
		t.Fatal(err)
	}
	if gotRef != ref || k.Name != "debian-6.1" || k.Source != "pull:"+ref || !k.Default {
		t.Fatalf("ref %q, record %+v", gotRef, k)
	}
	if got := defaults(slicesOf(f.stored(t))); !slices.Equal(got, []string{"debian-6.1"}) {
		t.Fatalf("recorded defaults %v after pulling with Default", got)
	}
	if want := []string{"pull debian-6.1 " + release}; !slices.Equal(f.events, want) {
		t.Errorf("events %q, want %q (a planted kernel is not reported)", f.events, want)
	}
	f.oci = nil
	if _, err := f.Pull(t.Context(), "registry.example/kernels/other:1", PullOptions{}, progress.Quiet{}); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("an image reference without the OCI seam: %v", err)
	}
}

func slicesOf(m map[string]kernelcat.Kernel) []kernelcat.Kernel {
	var ks []kernelcat.Kernel
	for _, k := range m {
		ks = append(ks, k)
	}
	return ks
}

// The first kernel becomes the default unless the config names one; an
// import with Default moves the recorded default. The config's default
// always wins in what List reports.
func TestDefaultRules(t *testing.T) {
	type step struct {
		name          string
		makeDefault   bool
		wantRecorded  []string // names whose record says default
		wantEffective []string // names List reports as default
	}
	for _, tc := range []struct {
		name   string
		config string
		steps  []step
	}{
		{"no config default", "", []step{
			{"a", false, []string{"a"}, []string{"a"}},
			{"b", false, []string{"a"}, []string{"a"}},
			{"c", true, []string{"c"}, []string{"c"}},
		}},
		{"config names one", "b", []step{
			{"a", false, nil, nil}, // b does not exist yet
			{"b", false, nil, []string{"b"}},
			{"c", true, []string{"c"}, []string{"b"}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, config.Kernel{Default: tc.config})
			for _, st := range tc.steps {
				if _, err := f.importTree(t, st.name, st.makeDefault); err != nil {
					t.Fatal(err)
				}
				ks, err := f.List()
				if err != nil {
					t.Fatal(err)
				}
				recorded, effective := defaults(slicesOf(f.stored(t))), defaults(ks)
				if !slices.Equal(recorded, st.wantRecorded) || !slices.Equal(effective, st.wantEffective) {
					t.Fatalf("after %s: recorded %v, effective %v; want %v and %v", st.name, recorded, effective, st.wantRecorded, st.wantEffective)
				}
			}
		})
	}
}

func TestConcurrentImportsOfOneName(t *testing.T) {
	f := newFixture(t, config.Kernel{})
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { _, errs[i] = f.importTree(t, "same", false) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, errdefs.ErrExists), errors.Is(err, errdefs.ErrConflict):
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d imports of one name succeeded, want 1 (%v)", ok, errs)
	}
	if recs, dirs := f.stored(t), f.dirs(t); len(recs) != 1 || len(dirs) != 1 {
		t.Fatalf("%d records, dirs %v", len(recs), dirs)
	}
	if len(f.busy) != 0 {
		t.Fatalf("names still reserved: %v", f.busy)
	}
}

func TestReserve(t *testing.T) {
	f := newFixture(t, config.Kernel{})
	stale := f.layout.Kernel("stale")
	kctest.WriteFile(t, filepath.Join(stale, "vmlinux"), []byte("left by a crash"))
	var claimed string
	dir, err := f.reserve("stale", &claimed)
	if err != nil || dir != stale || claimed != "stale" {
		t.Fatalf("reserve = %s, %v", dir, err)
	}
	if len(f.dirs(t)) != 0 {
		t.Fatal("a directory without a record was not cleared")
	}
	if _, err := f.reserve("stale", &claimed); !errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("second reservation: %v", err)
	}
	f.plant(t, "taken", false)
	if _, err := f.reserve("taken", &claimed); !errors.Is(err, errdefs.ErrExists) {
		t.Fatalf("existing record: %v", err)
	}
}
