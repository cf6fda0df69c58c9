package daemon

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/bangerdev/banger/internal/api"
	"github.com/bangerdev/banger/internal/config"
	"github.com/bangerdev/banger/internal/errdefs"
	"github.com/bangerdev/banger/internal/imagepull"
	"github.com/bangerdev/banger/internal/kernelcat"
	"github.com/bangerdev/banger/internal/kernelcat/kctest"
	"github.com/bangerdev/banger/internal/paths"
	"github.com/bangerdev/banger/internal/store"
	"github.com/bangerdev/banger/internal/testutil"
)

func newDaemon(t *testing.T) *Daemon {
	t.Helper()
	d, err := New(Options{Layout: paths.Rooted(t.TempDir()), Config: config.Default()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

// importTree imports a synthetic distro kernel the way the API handler does.
func importTree(t *testing.T, d *Daemon, name string, makeDefault bool) (kernelcat.Kernel, error) {
	t.Helper()
	src := t.TempDir()
	kctest.WriteDistroTree(t, src, "6.1.0-9", "6.1.0-9")
	opts, release := d.kernelOptions(api.NewEventWriter(httptest.NewRecorder()), name, makeDefault)
	defer release()
	return kernelcat.Import(context.Background(), src, "", opts)
}

func TestResolveKernelRebuildsInitrdForNewAgent(t *testing.T) {
	busybox := testutil.RequireBinary(t, "busybox", "busybox-static")
	t.Setenv(imagepull.EnvAgent, busybox)
	d := newDaemon(t)
	if _, err := d.ResolveKernel(""); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("no kernels: %v", err)
	}
	k0, err := importTree(t, d, "k", false)
	if err != nil {
		t.Fatal(err)
	}
	k, err := d.ResolveKernel("")
	if err != nil || k.Name != "k" || !k.Default || k.AgentSHA256 != k0.AgentSHA256 {
		t.Fatalf("default kernel = %+v, %v", k, err)
	}
	newAgent := filepath.Join(t.TempDir(), "banger-agent")
	kctest.WriteFile(t, newAgent, []byte("a newer agent"))
	t.Setenv(imagepull.EnvAgent, newAgent)
	k, err = d.ResolveKernel("k")
	if err != nil || k.AgentSHA256 == k0.AgentSHA256 {
		t.Fatalf("after an agent update: %+v, %v", k, err)
	}
	stored, err := store.Get[kernelcat.Kernel](d.store, store.Kernels, "k")
	if err != nil || stored.AgentSHA256 != k.AgentSHA256 {
		t.Fatalf("rebuilt initramfs not recorded: %+v, %v", stored, err)
	}
}

func TestConcurrentImportsOfOneName(t *testing.T) {
	t.Setenv(imagepull.EnvAgent, testutil.RequireBinary(t, "busybox", "busybox-static"))
	d := newDaemon(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { _, errs[i] = importTree(t, d, "same", false) })
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
	ks, _ := store.ListAll[kernelcat.Kernel](d.store, store.Kernels)
	entries, _ := os.ReadDir(d.layout.Kernels())
	if len(ks) != 1 || len(entries) != 1 {
		t.Fatalf("%d records, %d dirs", len(ks), len(entries))
	}
	if len(d.kernels.busy) != 0 {
		t.Fatalf("names still reserved: %v", d.kernels.busy)
	}
}

func TestReserveKernel(t *testing.T) {
	d := newDaemon(t)
	stale := d.layout.Kernel("stale")
	kctest.WriteFile(t, filepath.Join(stale, "vmlinux"), []byte("left by a crash"))
	var claimed string
	dir, err := d.reserveKernel("stale", &claimed)
	if err != nil || dir != stale || claimed != "stale" {
		t.Fatalf("reserve = %s, %v", dir, err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a directory without a record was not cleared")
	}
	if _, err := d.reserveKernel("stale", &claimed); !errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("second reservation: %v", err)
	}
	if err := d.store.Put(store.Kernels, "taken", kernelcat.Kernel{Name: "taken"}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.reserveKernel("taken", &claimed); !errors.Is(err, errdefs.ErrExists) {
		t.Fatalf("existing record: %v", err)
	}
}

func TestCommitKernelMovesTheDefault(t *testing.T) {
	d := newDaemon(t)
	for _, tc := range []struct {
		name        string
		makeDefault bool
		wantDefault string
	}{{"a", false, "a"}, {"b", false, "a"}, {"c", true, "c"}} {
		k := kernelcat.Kernel{Name: tc.name}
		if err := d.commitKernel(&k, tc.makeDefault); err != nil {
			t.Fatal(err)
		}
		ks, _ := store.ListAll[kernelcat.Kernel](d.store, store.Kernels)
		var defaults []string
		for _, k := range ks {
			if k.Default {
				defaults = append(defaults, k.Name)
			}
		}
		if len(defaults) != 1 || defaults[0] != tc.wantDefault {
			t.Fatalf("after %s: defaults %v, want [%s]", tc.name, defaults, tc.wantDefault)
		}
	}
}
