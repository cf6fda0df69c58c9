package networks

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/store"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// fakeHost records what would be made; Up checks that the record came
// first.
type fakeHost struct {
	st     *store.Store
	taken  []netip.Prefix
	up     map[string]bool // bridge names
	log    []string
	failUp error
	t      *testing.T
}

func (f *fakeHost) Names(id string) (string, string) { return "bn-" + id[:12], "banger-" + id[:12] }
func (f *fakeHost) Taken(context.Context) ([]netip.Prefix, error) {
	return f.taken, nil
}

func (f *fakeHost) Up(_ context.Context, n Network) error {
	if _, err := store.Get[Network](f.st, store.Networks, n.Name); err != nil {
		f.t.Errorf("network %s made before its record", n.Name)
	}
	f.log = append(f.log, "up "+n.Name)
	if f.failUp != nil {
		return f.failUp
	}
	f.up[n.Bridge] = true
	return nil
}

func (f *fakeHost) Bridges(context.Context) ([]string, error) {
	var out []string
	for b := range f.up {
		out = append(out, b)
	}
	slices.Sort(out)
	return out, nil
}

func (f *fakeHost) RemoveBridge(_ context.Context, b string) error {
	f.log = append(f.log, "remove "+b)
	delete(f.up, b)
	return nil
}

func (f *fakeHost) Down(_ context.Context, n Network) error {
	f.log = append(f.log, "down "+n.Name)
	delete(f.up, n.Bridge)
	return nil
}

func newTest(t *testing.T, users map[string][]string) (*Service, *fakeHost) {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "banger.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	f := &fakeHost{st: st, up: map[string]bool{}, t: t, taken: []netip.Prefix{netip.MustParsePrefix("10.220.0.0/24")}}
	s := New(Options{Store: st, Host: f, Pool: netip.MustParsePrefix("10.220.0.0/22"),
		Users: func(_ *store.Tx, name string) []string { return users[name] }})
	return s, f
}

func TestCreateChoosesFreeSubnetsAndRecordsFirst(t *testing.T) {
	s, f := newTest(t, nil)
	ctx := context.Background()
	var got []string
	for _, name := range []string{"a", "b"} {
		n, err := s.Create(ctx, CreateRequest{Name: name, Labels: map[string]string{"k": "v"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(n.ID) != 64 || n.Bridge != "bn-"+n.ID[:12] || n.Gateway != n.Subnet.Addr().Next() || n.Labels["k"] != "v" {
			t.Fatalf("network %+v", n)
		}
		got = append(got, n.Subnet.String())
	}
	// 10.220.0.0/24 is the host's: skipped.
	if want := []string{"10.220.1.0/24", "10.220.2.0/24"}; !slices.Equal(got, want) {
		t.Fatalf("subnets %v, want %v", got, want)
	}
	if len(f.up) != 2 {
		t.Fatalf("bridges up: %v", f.up)
	}
	ls, _ := s.List()
	if len(ls) != 2 || ls[0].Name != "a" {
		t.Fatalf("list %+v", ls)
	}
	if _, err := s.Create(ctx, CreateRequest{Name: "c"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, CreateRequest{Name: "d"}); !errors.Is(err, errdefs.ErrUnavailable) {
		t.Fatalf("a full pool: %v, want ErrUnavailable", err)
	}
}

func TestCreateRefuses(t *testing.T) {
	s, _ := newTest(t, nil)
	ctx := context.Background()
	if _, err := s.Create(ctx, CreateRequest{Name: "a", Subnet: "10.99.0.0/16"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		req  CreateRequest
		want error
		msg  string
	}{
		{CreateRequest{Name: "a"}, errdefs.ErrExists, ""},
		{CreateRequest{Name: "bridge"}, errdefs.ErrInvalid, "reserved"},
		{CreateRequest{Name: "../x"}, errdefs.ErrInvalid, "network name"},
		{CreateRequest{Name: "b", Subnet: "10.99.3.0/24"}, errdefs.ErrConflict, "overlaps network a (10.99.0.0/16)"},
		{CreateRequest{Name: "b", Subnet: "10.220.0.128/25"}, errdefs.ErrConflict, "in use on this host"},
		{CreateRequest{Name: "b", Subnet: "10.1.2.3/24"}, errdefs.ErrInvalid, "--subnet"},
		{CreateRequest{Name: "b", Subnet: "10.1.2.0/30"}, errdefs.ErrInvalid, "--subnet"},
	} {
		_, err := s.Create(ctx, tc.req)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("create %+v: %v; want %v with %q", tc.req, err, tc.want, tc.msg)
		}
	}
}

func TestCreateFailureLeavesNothing(t *testing.T) {
	s, f := newTest(t, nil)
	f.failUp = errors.New("injected")
	if _, err := s.Create(context.Background(), CreateRequest{Name: "a"}); err == nil || !strings.Contains(err.Error(), "injected") {
		t.Fatalf("create: %v", err)
	}
	if ls, _ := s.List(); len(ls) != 0 {
		t.Fatalf("records after a failed create: %+v", ls)
	}
	if !slices.Equal(f.log, []string{"up a", "down a"}) {
		t.Fatalf("host log %v: want the half-made network removed", f.log)
	}
}

func TestRemoveRefusedWhileUsedAndPrune(t *testing.T) {
	s, f := newTest(t, map[string][]string{"busy": {"web", "db"}})
	ctx := context.Background()
	for _, name := range []string{"busy", "idle", "idle2"} {
		if _, err := s.Create(ctx, CreateRequest{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := s.Remove(ctx, "busy")
	if !errors.Is(err, errdefs.ErrConflict) || !strings.Contains(err.Error(), "vm web, db uses it") {
		t.Fatalf("rm of a used network: %v", err)
	}
	idle, _ := s.Get("idle")
	if got, err := s.Get(idle.ID[:8]); err != nil || got.Name != "idle" {
		t.Fatalf("get by id prefix: %+v %v", got, err)
	}
	if _, err := s.Remove(ctx, idle.ID[:8]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get("idle"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("get after rm: %v", err)
	}
	pruned, err := s.Prune(ctx)
	if err != nil || !slices.Equal(pruned, []string{"idle2"}) {
		t.Fatalf("prune: %v %v", pruned, err)
	}
	if len(f.up) != 1 {
		t.Fatalf("bridges left: %v; want only busy's", f.up)
	}
	in, err := s.Inspect("busy")
	if err != nil || !slices.Equal(in.Users, []string{"web", "db"}) {
		t.Fatalf("inspect: %+v %v", in, err)
	}
}

func TestUpOnceAndDownAll(t *testing.T) {
	s, f := newTest(t, nil)
	ctx := context.Background()
	if _, err := s.Create(ctx, CreateRequest{Name: "a"}); err != nil {
		t.Fatal(err)
	}
	f.log = nil
	for range 2 {
		if _, err := s.Up(ctx, "a"); err != nil {
			t.Fatal(err)
		}
	}
	if len(f.log) != 0 {
		t.Fatalf("up after create: %v; want nothing done again", f.log)
	}
	if err := s.DownAll(ctx); err != nil || len(f.up) != 0 {
		t.Fatalf("down all: %v, up %v", err, f.up)
	}
	if err := s.Reconcile(ctx); err != nil || len(f.up) != 1 {
		t.Fatalf("reconcile: %v, up %v; want the network back", err, f.up)
	}
	if _, err := s.Up(ctx, "nope"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("up of a missing network: %v", err)
	}
}

// gc removes a bridge no record names (a record lost, a bridge made by
// hand under banger's mark) and nothing else.
func TestGCRemovesOnlyUnrecordedBridges(t *testing.T) {
	s, f := newTest(t, nil)
	ctx := context.Background()
	n, err := s.Create(ctx, CreateRequest{Name: "a"})
	if err != nil {
		t.Fatal(err)
	}
	f.up["bn-0000deadbeef"] = true
	inv, err := s.Inventory(ctx)
	if err != nil || len(inv) != 2 {
		t.Fatalf("inventory %+v %v", inv, err)
	}
	got, err := s.GC(ctx, true)
	if err != nil || len(got) != 1 || got[0].Name != "bn-0000deadbeef" || !f.up["bn-0000deadbeef"] {
		t.Fatalf("gc --dry-run: %+v %v; want the orphan listed, not removed", got, err)
	}
	if got, err = s.GC(ctx, false); err != nil || len(got) != 1 || f.up["bn-0000deadbeef"] || !f.up[n.Bridge] {
		t.Fatalf("gc: %+v %v, up %v; want only the orphan removed", got, err, f.up)
	}
}
