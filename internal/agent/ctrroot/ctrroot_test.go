package ctrroot

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bangerdev/banger/internal/agent/mounts"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// fakeSystem records what Make and Remove do; failAt fails the mount on
// that target.
type fakeSystem struct {
	exists map[string]bool
	calls  []string
	failAt string
}

func newFake(paths ...string) *fakeSystem {
	f := &fakeSystem{exists: map[string]bool{}}
	for _, p := range paths {
		f.exists[p] = true
	}
	return f
}

func (f *fakeSystem) Exists(p string) bool { return f.exists[path.Clean(p)] }
func (f *fakeSystem) MkdirAll(p string) error {
	f.calls, f.exists[p] = append(f.calls, "mkdir "+p), true
	return nil
}
func (f *fakeSystem) Touch(p string) error {
	f.calls, f.exists[p] = append(f.calls, "touch "+p), true
	return nil
}
func (f *fakeSystem) Mount(c mounts.Call) error {
	if c.Target == f.failAt {
		return errors.New("boom")
	}
	f.calls = append(f.calls, fmt.Sprintf("mount %s %s %s", c.FSType, c.Source, c.Target))
	return nil
}
func (f *fakeSystem) Detach(p string) error { f.calls = append(f.calls, "detach "+p); return nil }
func (f *fakeSystem) RemoveAll(p string) error {
	f.calls = append(f.calls, "rm "+p)
	for k := range f.exists {
		if k == p || strings.HasPrefix(k, p+"/") {
			delete(f.exists, k)
		}
	}
	return nil
}

func TestPlanOrder(t *testing.T) {
	s := Spec{ID: "c1", Lower: "/pod/c1"}
	var mountsAt []string
	var overlay mounts.Call
	for _, st := range Plan(s) {
		if st.Mount != nil {
			mountsAt = append(mountsAt, st.Mount.Target)
			if st.Mount.FSType == "overlay" {
				overlay = *st.Mount
			}
		}
	}
	root := "/run/banger/containers/c1/rootfs"
	want := []string{"/run/banger/containers/c1", root, root + "/proc", root + "/sys", root + "/dev"}
	for _, f := range PodFiles {
		want = append(want, root+f, root+f) // bind, then read-only remount
	}
	if !slices.Equal(mountsAt, want) {
		t.Errorf("mounts in order:\n%q\nwant\n%q", mountsAt, want)
	}
	if wantData := "lowerdir=/pod/c1,upperdir=/run/banger/containers/c1/upper,workdir=/run/banger/containers/c1/work"; overlay.Data != wantData {
		t.Errorf("overlay options %q, want %q", overlay.Data, wantData)
	}
	if overlay.Flags&unix.MS_RDONLY != 0 {
		t.Error("the overlay is read-only: the container cannot write")
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		s  Spec
		ok bool
	}{
		{Spec{ID: "c1", Lower: "/pod/c1"}, true},
		{Spec{ID: strings.Repeat("a", 64), Lower: "/pod/x"}, true},
		{Spec{ID: "..", Lower: "/pod/c1"}, false},
		{Spec{ID: "a/b", Lower: "/pod/c1"}, false},
		{Spec{ID: "", Lower: "/pod/c1"}, false},
		{Spec{ID: "c1", Lower: "pod/c1"}, false},
		{Spec{ID: "c1", Lower: "/pod/../etc"}, false},
		{Spec{ID: "c1", Lower: "/pod/c1,upperdir=/x"}, false}, // another option
		{Spec{ID: "c1", Lower: "/pod/c1:/etc"}, false},        // another layer
	}
	for _, tt := range tests {
		err := tt.s.Check()
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, errdefs.ErrInvalid)) {
			t.Errorf("Check(%+v) = %v, want ok=%v (ErrInvalid otherwise)", tt.s, err, tt.ok)
		}
	}
	if _, err := RootOf("../../etc"); !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("RootOf(../../etc) = %v, want ErrInvalid", err)
	}
}

// Make follows the plan, skipping the pod files the guest lacks; a
// second Make of the id is a conflict; Remove detaches the whole
// directory in one call and removes it, and is a no-op after.
func TestMakeRemove(t *testing.T) {
	sys := newFake("/pod/c1", "/etc/hosts")
	s := Spec{ID: "c1", Lower: "/pod/c1"}
	if err := Make(s, sys); err != nil {
		t.Fatal(err)
	}
	root := Root("c1")
	if !slices.Contains(sys.calls, "touch "+root+"/etc/hosts") || slices.Contains(sys.calls, "touch "+root+"/etc/resolv.conf") {
		t.Errorf("pod files: want only /etc/hosts (the one the guest has) bound:\n%s", strings.Join(sys.calls, "\n"))
	}
	if err := Make(s, sys); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("second Make = %v, want ErrConflict", err)
	}
	sys.calls = nil
	if err := Remove("c1", sys); err != nil {
		t.Fatal(err)
	}
	if want := []string{"detach /run/banger/containers/c1", "rm /run/banger/containers/c1"}; !slices.Equal(sys.calls, want) {
		t.Errorf("Remove: %q, want %q", sys.calls, want)
	}
	sys.calls = nil
	if err := Remove("c1", sys); err != nil || len(sys.calls) != 0 {
		t.Errorf("Remove of an absent container = %v, calls %q; want nil, none", err, sys.calls)
	}
}

// A step that fails leaves nothing: what was made is detached and
// removed, and the error names the step.
func TestMakeFailureUndoes(t *testing.T) {
	sys := newFake("/pod/c1")
	sys.failAt = Root("c1") // the overlay
	err := Make(Spec{ID: "c1", Lower: "/pod/c1"}, sys)
	if err == nil || !strings.Contains(err.Error(), "mount overlay on "+Root("c1")) {
		t.Fatalf("Make = %v, want the overlay's failure", err)
	}
	if sys.Exists(Base("c1")) || !slices.Contains(sys.calls, "detach "+Base("c1")) {
		t.Errorf("after a failed Make: %q; want the directory detached and removed", sys.calls)
	}
	if err := Make(Spec{ID: "c2", Lower: "/pod/missing"}, newFake()); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Make over a missing tree = %v, want ErrNotFound", err)
	}
}
