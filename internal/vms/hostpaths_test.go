package vms

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/hostaccess"
	"github.com/bangerdev/banger/internal/testutil"
	"github.com/bangerdev/banger/internal/vmlogs"
	"github.com/bangerdev/banger/internal/volumes"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// TestAuthorizeChecksEveryHostPathAsTheCaller: a spec's shared and image
// directories and stdio paths are checked as the caller, each refusal
// naming its flag; what passes is recorded resolved, with the caller;
// named volumes are no host path; root may name anything.
func TestAuthorizeChecksEveryHostPathAsTheCaller(t *testing.T) {
	testutil.RequireRoot(t)
	base := testutil.SearchableTempDir(t)
	mine := filepath.Join(base, "mine")
	if err := os.Mkdir(mine, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(mine, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(base, "link")
	if err := os.Symlink(mine, link); err != nil {
		t.Fatal(err)
	}
	nobody := hostaccess.Caller{UID: 65534, GID: 65534}
	ok := Spec{Image: "x", Mounts: []volumes.Mount{
		{Type: volumes.TypeBind, Source: link, Target: "/a"},
		{Type: volumes.TypeImage, Source: mine, Target: "/b"},
		{Type: volumes.TypeVolume, Source: "data", Target: "/c"},
	}, Stdio: vmlogs.Stdio{Stdout: filepath.Join(link, "out.log")}}
	got, err := Authorize(nobody, ok)
	if err != nil {
		t.Fatal(err)
	}
	if got.Mounts[0].Source != mine || got.Mounts[1].Source != mine || got.Mounts[2].Source != "data" || got.Stdio.Stdout != filepath.Join(mine, "out.log") {
		t.Errorf("resolved spec %+v %+v", got.Mounts, got.Stdio)
	}
	if got.Caller == nil || got.Caller.UID != 65534 || ok.Mounts[0].Source != link {
		t.Errorf("caller %+v recorded, the request's spec changed: %v", got.Caller, ok.Mounts[0].Source != link)
	}
	if got, err := Authorize(nobody, Spec{Image: "x", Mounts: ok.Mounts[2:]}); err != nil || got.Caller != nil {
		t.Errorf("a spec with no host path: %v, caller %v", err, got.Caller)
	}

	bad := Spec{Image: "x", Mounts: []volumes.Mount{
		{Type: volumes.TypeBind, Source: "/etc", Target: "/x"},
		{Type: volumes.TypeBind, Source: "/etc", Target: "/y", ReadOnly: true},
		{Type: volumes.TypeImage, Source: "/root", Target: "/z"},
	}, Stdio: vmlogs.Stdio{Stdout: "/etc/cron.d/x", Stdin: "/etc/shadow"}}
	_, err = Authorize(nobody, bad)
	for _, want := range []string{
		"-v /etc:/x: uid 65534 may not use host path /etc for read and write access",
		"-v /etc:/y:ro: uid 65534 may not use host path /etc for read access: the directory is owned by uid 0",
		"--mount type=image,source=/root,target=/z: uid 65534",
		"stdout: uid 65534 may not use host path /etc/cron.d for write access",
		"stdin: uid 65534 may not use host path /etc/shadow for read access",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q\nwants %q", err, want)
		}
	}
	if !errors.Is(err, errdefs.ErrPermission) {
		t.Errorf("%v is not ErrPermission", err)
	}
	if got, err := Authorize(hostaccess.Root, bad); err != nil || got.Caller == nil || !got.Caller.IsRoot() {
		t.Errorf("root: %v, caller %+v", err, got.Caller)
	}
	if _, err := Authorize(hostaccess.Unknown, ok); !errors.Is(err, errdefs.ErrPermission) || !strings.Contains(err.Error(), "without peer credentials") {
		t.Errorf("no credentials: %v", err)
	}
}

// TestStartOpensHostPathsAsTheSpecsCaller: a start hands each shared
// directory to virtiofsd with the spec's caller (uid 65534 here), and
// copies an image directory only through a path that still opens as
// them: one swapped for a symlink to /etc after the check fails the
// start, nothing built. A spec without a caller (the daemon's own, or
// older) is root's, its path resolved again at the start.
func TestStartOpensHostPathsAsTheSpecsCaller(t *testing.T) {
	testutil.RequireRoot(t)
	f, _, _ := volumesFixture(t)
	base := testutil.SearchableTempDir(t)
	mine, site := filepath.Join(base, "mine"), filepath.Join(base, "site")
	for _, d := range []string{mine, site} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(d, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	nobody := hostaccess.Caller{UID: 65534, GID: 65534}
	spec, err := Authorize(nobody, Spec{Image: "busybox", Cmd: []string{"sleep", "1000"}, Mounts: []volumes.Mount{
		{Type: volumes.TypeBind, Source: mine, Target: "/data"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	f.create("web", func(s *Spec) { *s = spec })
	if _, err := f.s.Start(context.Background(), "web"); err != nil {
		t.Fatal(err)
	}
	shares := func() []volumes.Share {
		f.h.mu.Lock()
		defer f.h.mu.Unlock()
		var out []volumes.Share
		for _, s := range f.v.shares {
			out = append(out, s)
		}
		return out
	}
	if got := shares(); len(got) != 1 || got[0].Caller.UID != 65534 || got[0].Dir != mine {
		t.Errorf("shares %+v; want %s served as uid 65534", got, mine)
	}

	spec, err = Authorize(nobody, Spec{Image: "busybox", Cmd: []string{"sleep", "1000"}, Mounts: []volumes.Mount{
		{Type: volumes.TypeImage, Source: site, Target: "/site"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(site, site+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc", site); err != nil {
		t.Fatal(err)
	}
	vm := f.create("img", func(s *Spec) { *s = spec })
	if _, err := f.s.Start(context.Background(), "img"); !errors.Is(err, errdefs.ErrPermission) || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("an image directory swapped for a symlink to /etc: %v; want the start refused", err)
	}
	if _, err := os.Stat(filepath.Join(f.l.VM(vm.ID), "mount-0.ext4")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the refused copy left an image: %v", err)
	}

	link := filepath.Join(base, "link")
	if err := os.Symlink(mine, link); err != nil {
		t.Fatal(err)
	}
	f.create("own", withMounts(volumes.Mount{Type: volumes.TypeBind, Source: link, Target: "/data"}))
	if _, err := f.s.Start(context.Background(), "own"); err != nil {
		t.Fatal(err)
	}
	roots := 0
	for _, s := range shares() {
		if s.Caller.IsRoot() {
			roots++
			if s.Dir != mine {
				t.Errorf("a spec without a caller: share of %s; want %s, resolved at the start", s.Dir, mine)
			}
		}
	}
	if got := shares(); len(got) != 2 || roots != 1 {
		t.Errorf("shares %+v; want the caller's and root's", got)
	}
}
