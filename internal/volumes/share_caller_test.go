package volumes

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/hostaccess"
	"github.com/bangerdev/banger/internal/proc"
	"github.com/bangerdev/banger/internal/testutil"
	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// TestStartShareOpensTheDirectoryAsItsCaller: a share is opened as the
// client who named it. Their own directory is served; the same path,
// swapped for a symlink to /etc after the check (as its owner may),
// starts no virtiofsd and leaves no socket; and a directory they may not
// write is refused for a read-write share.
func TestStartShareOpensTheDirectoryAsItsCaller(t *testing.T) {
	testutil.RequireRoot(t)
	bin, err := FindVirtiofsd("")
	if err != nil {
		testutil.Skip(t, err.Error())
	}
	base := testutil.SearchableTempDir(t)
	dir := filepath.Join(base, "mine")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	nobody := hostaccess.Caller{UID: 65534, GID: 65534}
	const vmID = "fscaller"
	t.Cleanup(func() { _ = StopSharesOf(vmID) })
	s := Share{VMID: vmID, Dir: dir, Socket: filepath.Join(base, "fs0.sock"), Log: filepath.Join(base, "fs0.log"), Caller: nobody}
	id, err := StartShare(bin, s)
	if err != nil {
		t.Fatalf("the caller's own directory: %v", err)
	}
	if err := StopShare(id, s.Socket, s.Log); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.root()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("StopShare left the share's root %s: %v", s.root(), err)
	}

	if err := os.Rename(dir, dir+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc", dir); err != nil {
		t.Fatal(err)
	}
	for _, ro := range []bool{true, false} {
		s.ReadOnly = ro
		_, err := StartShare(bin, s)
		if !errors.Is(err, errdefs.ErrPermission) || !strings.Contains(err.Error(), "symbolic link") {
			t.Errorf("read-only %v, a symlink swapped in: %v; want refused", ro, err)
		}
	}
	s.Dir, s.ReadOnly = dir+".old", false
	if err := os.Chmod(s.Dir, 0o500); err != nil {
		t.Fatal(err)
	}
	if _, err := StartShare(bin, s); !errors.Is(err, errdefs.ErrPermission) || !strings.Contains(err.Error(), "write") {
		t.Errorf("read-write share of a directory its caller cannot write: %v; want refused", err)
	}
	if pids, _ := proc.FindByEnv(vmm.EnvVMID, vmID); len(pids) != 0 {
		t.Errorf("refused shares left virtiofsd processes %v", pids)
	}
	for _, p := range []string{s.Socket, s.root()} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a refused share left %s: %v", p, err)
		}
	}
}
