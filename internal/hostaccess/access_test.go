package hostaccess

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bangerdev/banger/internal/testutil"
	"github.com/bangerdev/banger/pkg/errdefs"
)

const (
	nobody = 65534
	group  = 4242 // a group nobody is not in, unless the case says so
)

var (
	plain  = Caller{UID: nobody, GID: nobody}
	member = Caller{UID: nobody, GID: nobody, Groups: []int{group}}
)

// tree makes the files of the table under a directory every uid may
// search: each entry's mode and owner set for real.
func tree(t *testing.T) string {
	t.Helper()
	base := testutil.SearchableTempDir(t)
	for _, e := range []struct {
		path     string
		dir      bool
		mode     os.FileMode
		uid, gid int
	}{
		{"", true, 0o755, 0, 0},
		{"own", true, 0o700, nobody, nobody},
		{"own/sub", true, 0o700, nobody, nobody},
		{"ownro", true, 0o500, nobody, nobody},
		{"rootdir", true, 0o755, 0, 0},
		{"grp", true, 0o770, 0, group},
		{"grpfile", false, 0o640, 0, group},
		{"otherfile", false, 0o604, 0, 0},
		{"ownerfile", false, 0o460, nobody, group}, // owner r--, group rw-: the owner's class decides
		{"locked", true, 0o700, 0, 0},
		{"locked/own", true, 0o777, nobody, nobody},
		{"noread", true, 0o311, nobody, nobody}, // search but no read
	} {
		p := filepath.Join(base, e.path)
		if e.dir {
			if err := os.MkdirAll(p, 0o700); err != nil {
				t.Fatal(err)
			}
		} else if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, e.uid, e.gid); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, e.mode); err != nil {
			t.Fatal(err)
		}
	}
	for link, to := range map[string]string{
		"own/etc":     "/etc",
		"own/shadow":  "/etc/shadow",
		"own/locked":  filepath.Join(base, "locked/own"),
		"own/mine":    filepath.Join(base, "own/sub"),
		"own/dangles": filepath.Join(base, "own/nothing"),
		"own/loop":    filepath.Join(base, "own/loop"),
	} {
		if err := os.Symlink(to, filepath.Join(base, link)); err != nil {
			t.Fatal(err)
		}
	}
	return base
}

// TestCheckAsTheCaller: the rule, decided by the kernel on real files as
// uid 65534 (owner, group and other bits; ro and rw; search on the way;
// symlinks to places the caller cannot reach; root; no credentials).
func TestCheckAsTheCaller(t *testing.T) {
	testutil.RequireRoot(t)
	base := tree(t)
	p := func(s string) string { return filepath.Join(base, s) }
	for _, tt := range []struct {
		name   string
		c      Caller
		path   string
		want   Access
		kind   Kind
		denied string // "" allowed; else a part of the reason
		as     string // the resolved path, when not path itself
	}{
		{"own dir ro", plain, p("own"), Read, Tree, "", ""},
		{"own dir rw", plain, p("own"), Read | Write, Tree, "", ""},
		{"own dir without write, ro", plain, p("ownro"), Read, Tree, "", ""},
		{"own dir without write, rw", plain, p("ownro"), Read | Write, Tree, "no write (w) permission on it", ""},
		{"own dir without read", plain, p("noread"), Read, Tree, "no read (r) permission on it", ""},
		{"root's readable dir shared", plain, p("rootdir"), Read, Tree, "owned by uid 0", ""},
		{"root's readable dir read", plain, p("rootdir"), Read, Directory, "", ""},
		{"root's readable dir written", plain, p("rootdir"), Read | Write, Directory, "no write (w) permission", ""},
		{"group dir, a member", member, p("grp"), Read | Write, Directory, "", ""},
		{"group dir, not a member", plain, p("grp"), Read, Directory, "no read (r) or search (x) permission", ""},
		{"group file, a member", member, p("grpfile"), Read, File, "", ""},
		{"group file, not a member", plain, p("grpfile"), Read, File, "no read (r)", ""},
		{"other bits read", plain, p("otherfile"), Read, File, "", ""},
		{"other bits write", plain, p("otherfile"), Write, File, "no write (w)", ""},
		{"owner class wins over group", member, p("ownerfile"), Write, File, "no write (w)", ""},
		{"owner class reads", member, p("ownerfile"), Read, File, "", ""},
		{"parent not searchable", plain, p("locked/own"), Read, Tree, "no search (x) permission on " + p("locked"), ""},
		{"symlink to /etc", plain, p("own/etc"), Read, Tree, "owned by uid 0", ""},
		{"symlink to /etc/shadow", plain, p("own/shadow"), Read, File, "no read (r)", ""},
		{"symlink past a locked dir", plain, p("own/locked"), Read, Tree, "a directory on the way to it is not searchable", ""},
		{"symlink to own dir", plain, p("own/mine"), Read | Write, Tree, "", p("own/sub")},
		{"new file in own dir", plain, p("own/new.log"), Write, File, "", ""},
		{"new file in root's dir", plain, p("rootdir/new.log"), Write, File, "no write (w) permission", ""},
		{"root shares /etc", Root, "/etc", Read | Write, Tree, "", ""},
		{"root through a symlink", Root, p("own/etc"), Read, Tree, "", "/etc"},
		{"no credentials", Unknown, p("own"), Read, Tree, "without peer credentials", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Check(tt.c, tt.path, tt.want, tt.kind)
			if tt.denied == "" {
				want := tt.as
				if want == "" {
					want = tt.path
				}
				if err != nil || got != want {
					t.Fatalf("Check = %q, %v; want %q allowed", got, err, want)
				}
				return
			}
			if !errors.Is(err, errdefs.ErrPermission) || !strings.Contains(err.Error(), tt.denied) {
				t.Fatalf("Check = %q, %v; want permission denied: %q", got, err, tt.denied)
			}
			if tt.c.Known() && !strings.Contains(err.Error(), "uid 65534") || !strings.Contains(err.Error(), "run the command as root") {
				t.Errorf("the error %q does not name the uid and what to do", err)
			}
		})
	}
	assertThreadsRoot(t)
}

// TestCheckNamesAPathNoOneCanUse: a path that is absent, a symlink loop
// or relative is invalid for anyone, and says so (not a permission
// refusal, nor a symlink swapped in since a check there was none of).
func TestCheckNamesAPathNoOneCanUse(t *testing.T) {
	testutil.RequireRoot(t)
	base := tree(t)
	for _, tt := range []struct {
		path string
		kind Kind
		want string
	}{
		{filepath.Join(base, "own/loop"), Tree, "is a loop of symbolic links"},
		{filepath.Join(base, "own/dangles"), File, "does not exist"},
		{filepath.Join(base, "otherfile"), Tree, "is not a directory"},
		{"own", Tree, "is relative"},
	} {
		for _, c := range []Caller{plain, Root} {
			_, err := Check(c, tt.path, Read, tt.kind)
			if !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Check(%s, %s) = %v; want invalid: %q", c, tt.path, err, tt.want)
			}
		}
	}
}

// TestOpenRefusesASymlinkSwappedInAfterTheCheck: the check's resolved
// path, replaced by a symlink to /etc (as its owner can), no longer
// opens; a file to write that is missing is created as the caller.
func TestOpenRefusesASymlinkSwappedInAfterTheCheck(t *testing.T) {
	testutil.RequireRoot(t)
	base := tree(t)
	dir := filepath.Join(base, "own/sub")
	resolved, err := Check(plain, dir, Read|Write, Tree)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Open(plain, resolved, Read|Write, Tree)
	if err != nil {
		t.Fatalf("Open of the checked path: %v", err)
	}
	_ = f.Close()
	if err := os.Rename(dir, dir+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc", dir); err != nil {
		t.Fatal(err)
	}
	if f, err := Open(plain, resolved, Read, Tree); !errors.Is(err, errdefs.ErrPermission) || !strings.Contains(err.Error(), "symbolic link") {
		if f != nil {
			_ = f.Close()
		}
		t.Fatalf("Open after the swap = %v; want refused naming the symlink", err)
	}
	if f, err := Open(Root, resolved, Read, Tree); err == nil {
		_ = f.Close()
		t.Error("root's Open followed the swapped-in symlink")
	}
	// A parent swapped for a symlink too.
	out := filepath.Join(base, "own/out.log")
	resolved, err = Check(plain, out, Write, File)
	if err != nil || resolved != out {
		t.Fatalf("Check of a new file = %q, %v", resolved, err)
	}
	f, err = Open(plain, resolved, Write, File)
	if err != nil {
		t.Fatalf("Open of a new file: %v", err)
	}
	_ = f.Close()
	var st unix.Stat_t
	if err := unix.Stat(out, &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != nobody {
		t.Errorf("the created file is uid %d's; want the caller's (%d)", st.Uid, nobody)
	}
	assertThreadsRoot(t)
}

// assertThreadsRoot: every thread the scheduler has is back to root's
// file-system ids and groups (a check never leaks the caller's): its
// fsuid and fsgid 0, its groups the main thread's.
func assertThreadsRoot(t *testing.T) {
	t.Helper()
	groups := func(status []byte) string {
		for _, l := range strings.Split(string(status), "\n") {
			if strings.HasPrefix(l, "Groups:") {
				return l
			}
		}
		return ""
	}
	main, err := os.ReadFile("/proc/self/status") // the main thread's
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var bad []string
	for range 4 * runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			b, err := os.ReadFile("/proc/thread-self/status")
			if err != nil {
				return
			}
			if g := groups(b); g != groups(main) {
				mu.Lock()
				bad = append(bad, g+", the main thread's "+groups(main))
				mu.Unlock()
			}
			for _, l := range strings.Split(string(b), "\n") {
				f := strings.Fields(l)
				if len(f) == 5 && (f[0] == "Uid:" || f[0] == "Gid:") && f[4] != "0" {
					mu.Lock()
					bad = append(bad, l)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if len(bad) > 0 {
		t.Errorf("threads left with a caller's ids: %q", bad)
	}
}

// BenchmarkCheck is what the rule adds to a request per host path: a
// locked thread, the ids switched and back, an open and an access check.
func BenchmarkCheck(b *testing.B) {
	testutil.RequireRoot(b)
	dir := testutil.SearchableTempDir(b)
	if err := os.Chown(dir, nobody, nobody); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		c    Caller
	}{{"root", Root}, {"uid65534", plain}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := Check(c.c, dir, Read|Write, Tree); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
