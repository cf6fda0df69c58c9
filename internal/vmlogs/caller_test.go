package vmlogs

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bangerdev/banger/internal/hostaccess"
	"github.com/bangerdev/banger/internal/testutil"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// TestStdioPathsOpenAsTheCaller: a session's paths are opened as its
// caller: a missing output file is created as them (theirs, the output
// in it), and a path swapped for a symlink to a root-only file after
// the check is refused, the file untouched.
func TestStdioPathsOpenAsTheCaller(t *testing.T) {
	testutil.RequireRoot(t)
	svc, _ := newTestService(t)
	dir := filepath.Join(testutil.SearchableTempDir(t), "mine")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	nobody := hostaccess.Caller{UID: 65534, GID: 65534}
	out := filepath.Join(dir, "out.log")
	src := newFakeSource()
	if err := svc.Begin("vm1", Session{Source: src, Started: time.Now(), Stdio: Stdio{Stdout: out}, Caller: nobody}); err != nil {
		t.Fatal(err)
	}
	a := src.next(t)
	_, _ = io.WriteString(a.s.Stdout, "one\n")
	a.result <- nil
	svc.End("vm1")
	var st unix.Stat_t
	if err := unix.Stat(out, &st); err != nil || st.Uid != 65534 {
		t.Fatalf("the output file: %v, uid %d; want it created as uid 65534", err, st.Uid)
	}
	if b, _ := os.ReadFile(out); string(b) != "one\n" {
		t.Errorf("the output file holds %q", b)
	}

	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("root's\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(out); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, out); err != nil {
		t.Fatal(err)
	}
	err := svc.Begin("vm1", Session{Source: newFakeSource(), Started: time.Now(), Stdio: Stdio{Stdout: out}, Caller: nobody})
	if !errors.Is(err, errdefs.ErrPermission) || !strings.Contains(err.Error(), "uid 65534") {
		t.Errorf("a symlink to a root-only file: %v; want refused for uid 65534", err)
	}
	svc.End("vm1")
	if b, _ := os.ReadFile(secret); string(b) != "root's\n" {
		t.Errorf("root's file was written: %q", b)
	}
}
