package process

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/bangerdev/banger/internal/testutil"
)

// run -w makes a missing working directory, owned by the process's user,
// and leaves an existing one as it is.
func TestEnsureDir(t *testing.T) {
	testutil.RequireRoot(t) // to chown, as the agent (PID 1) does
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "srv"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := EnsureDir(root, Spec{Dir: "/srv/new/deep", User: "app"}); err != nil {
		t.Fatal(err)
	}
	for p, own := range map[string]bool{"srv": false, "srv/new": true, "srv/new/deep": true} {
		fi, err := os.Stat(filepath.Join(root, p))
		if err != nil || !fi.IsDir() {
			t.Fatalf("%s: %v", p, err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if got := st.Uid == 1000 && st.Gid == 1001; got != own {
			t.Errorf("%s owned by %d:%d; want app's: %v", p, st.Uid, st.Gid, own)
		}
	}
	if fi, _ := os.Stat(filepath.Join(root, "srv")); fi.Mode().Perm() != 0o700 {
		t.Errorf("an existing directory's mode changed: %v", fi.Mode())
	}
	for _, bad := range []Spec{{Dir: "relative"}, {Dir: "/x", User: "nobody-here"}} {
		if err := EnsureDir(root, bad); err == nil {
			t.Errorf("EnsureDir(%+v) succeeded", bad)
		}
	}
	if err := EnsureDir(root, Spec{}); err != nil {
		t.Errorf("no working dir: %v", err)
	}
}
