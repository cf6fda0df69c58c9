package vms

import (
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
