package daemon

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/testutil"
	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// TestKernelImportPathsAreCheckedAsTheCaller: a kernel import's paths are
// read by the daemon only when its caller could read them: a member's own
// file passes (resolved), /etc/shadow and a request without credentials
// do not.
func TestKernelImportPathsAreCheckedAsTheCaller(t *testing.T) {
	testutil.RequireRoot(t)
	dir := testutil.SearchableTempDir(t)
	vmlinux := filepath.Join(dir, "vmlinux")
	if err := os.WriteFile(vmlinux, []byte("k"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(vmlinux, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	req := func(p *api.Peer) *http.Request {
		ctx := context.Background()
		if p != nil {
			ctx = api.WithPeer(ctx, *p)
		}
		r, _ := http.NewRequestWithContext(ctx, http.MethodPost, "/v1/kernels/import", nil)
		return r
	}
	member := &api.Peer{UID: 65534, GID: 65534}
	got, err := authorizeKernelImport(req(member), api.KernelImportRequest{Path: filepath.Join(dir, "link"), Modules: dir})
	if err != nil || got.Path != vmlinux || got.Modules != dir {
		t.Errorf("a member's own kernel: %+v, %v", got, err)
	}
	_, err = authorizeKernelImport(req(member), api.KernelImportRequest{Path: vmlinux, Config: "/etc/shadow", Modules: "/root"})
	for _, want := range []string{"kernel import --config: uid 65534 may not use host path /etc/shadow for read access", "kernel import --modules: uid 65534 may not use host path /root"} {
		if !errors.Is(err, errdefs.ErrPermission) || !strings.Contains(err.Error(), want) {
			t.Errorf("%v\nwants %q", err, want)
		}
	}
	if _, err := authorizeKernelImport(req(nil), api.KernelImportRequest{Path: vmlinux}); !errors.Is(err, errdefs.ErrPermission) {
		t.Errorf("no peer credentials: %v; want refused", err)
	}
	if _, err := authorizeKernelImport(req(&api.Peer{}), api.KernelImportRequest{Path: "/etc/shadow"}); err != nil {
		t.Errorf("root: %v", err)
	}
}
