package vms

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/handles"
	"github.com/bangerdev/banger/internal/hostnet"
	"github.com/bangerdev/banger/internal/store"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// fakeNetworks has user networks by name, each a fakeNetwork whose host
// operations are logged as "<name>.attach" and so on.
type fakeNetworks struct {
	h     *host
	names []string
}

// Resolve takes a name, or "id-NAME" as the network's id.
func (n fakeNetworks) Resolve(ref string) (string, error) {
	name := strings.TrimPrefix(ref, "id-")
	if !slices.Contains(n.names, name) {
		return "", errdefs.ErrNotFound
	}
	return name, nil
}

func (n fakeNetworks) Attachable(_ context.Context, name string) (Network, error) {
	if _, err := n.Resolve(name); err != nil {
		return nil, err
	}
	return userNet{fakeNetwork{n.h}, name}, nil
}

type userNet struct {
	fakeNetwork
	name string
}

func (u userNet) Attach(ctx context.Context, vmID string, ports []hostnet.Port, record func(hostnet.Resources) error) (hostnet.Attachment, error) {
	if err := u.h.do(u.name + ".attach"); err != nil {
		return hostnet.Attachment{}, err
	}
	att, err := u.fakeNetwork.Attach(ctx, vmID, ports, func(r hostnet.Resources) error {
		r.Table = "banger-" + u.name
		return record(r)
	})
	att.Resources.Table = "banger-" + u.name
	return att, err
}

func (u userNet) Detach(ctx context.Context, vmID string) error {
	if err := u.h.do(u.name + ".detach"); err != nil {
		return err
	}
	return u.fakeNetwork.Detach(ctx, vmID)
}

func withNetworks(names ...string) func(*fixture) {
	return func(f *fixture) { f.nets = names }
}

func TestUserNetworkSpecChecks(t *testing.T) {
	f := newFixture(t, withNetworks("front"))
	ctx := context.Background()
	for _, tc := range []struct {
		sp   Spec
		want error
		msg  string
	}{
		{Spec{Image: "busybox", Network: "nope"}, errdefs.ErrNotFound, ""},
		{Spec{Image: "busybox", NetworkAliases: []string{"db"}}, errdefs.ErrInvalid, "--network-alias needs a user-defined network"},
		{Spec{Image: "busybox", Network: "front", NetworkAliases: []string{"bad name"}}, errdefs.ErrInvalid, "--network-alias"},
	} {
		if _, err := f.s.Create(ctx, "", tc.sp); !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("create %+v: %v; want %v %q", tc.sp, err, tc.want, tc.msg)
		}
	}
	vm := f.create("plain", func(s *Spec) { s.Network = NetworkBridge })
	if vm.Spec.Network != NetworkDefault {
		t.Fatalf("--network bridge stored as %q; want the default", vm.Spec.Network)
	}
	if vm := f.create("byid", func(s *Spec) { s.Network = "id-front" }); vm.Spec.Network != "front" {
		t.Fatalf("--network given by id stored as %q; want the network's name", vm.Spec.Network)
	}
}

// A VM on a user network attaches to that network's host side, and its
// record names the network's table before the tap exists; stop detaches
// it from the same network.
func TestUserNetworkAttachAndNames(t *testing.T) {
	f := newFixture(t, withNetworks("front", "back"))
	ctx := context.Background()
	vm := f.create("web", func(s *Spec) { s.Network, s.NetworkAliases = "front", []string{"www"} })
	f.create("other", func(s *Spec) { s.Network, s.NetworkAliases = "back", []string{"www"} })
	f.h.onOp = func(op string) {
		if op != "front.attach" {
			return
		}
		rec, err := handles.Open(filepath.Join(f.l.VM(vm.ID), handles.FileName), vm.ID)
		if err != nil || rec.Network != nil {
			t.Errorf("record before attach: %+v %v", rec.Network, err)
		}
	}
	if _, err := f.s.Start(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	f.h.onOp = nil
	rec, err := handles.Open(filepath.Join(f.l.VM(vm.ID), handles.FileName), vm.ID)
	if err != nil || rec.Network == nil || rec.Network.Resources.Table != "banger-front" {
		t.Fatalf("record after start: %+v %v", rec.Network, err)
	}
	want := []netip.Addr{netip.MustParseAddr("10.0.0.5")}
	for _, name := range []string{"web", "WWW"} {
		if got := f.s.NetworkAddrs("front", name); !slices.Equal(got, want) {
			t.Errorf("front: %s → %v, want %v", name, got, want)
		}
	}
	// "other" is on back and not running; web is not on back.
	for _, q := range [][2]string{{"back", "web"}, {"back", "www"}, {"front", "other"}} {
		if got := f.s.NetworkAddrs(q[0], q[1]); len(got) != 0 {
			t.Errorf("%s: %s → %v, want nothing", q[0], q[1], got)
		}
	}
	err = f.s.Store.View(func(tx *store.Tx) error {
		if got := NetworkUsers(tx, "front"); !slices.Equal(got, []string{"web"}) {
			t.Errorf("users of front: %v", got)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Connect(ctx, "web", "back", nil); !errors.Is(err, errdefs.ErrConflict) || !strings.Contains(err.Error(), "stopped") {
		t.Fatalf("connect of a running VM: %v", err)
	}
	if _, err := f.s.Stop(ctx, "web", 0); err != nil {
		t.Fatal(err)
	}
	if ops := f.h.log(); !slices.Contains(ops, "front.detach") {
		t.Fatalf("stop: ops %v; want the tap detached from front", ops)
	}
}

func TestConnectMovesAStoppedVM(t *testing.T) {
	f := newFixture(t, withNetworks("front", "back"))
	ctx := context.Background()
	vm := f.create("web", func(s *Spec) { s.Network = "front" })
	if _, err := f.s.Start(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Stop(ctx, "web", 0); err != nil {
		t.Fatal(err)
	}
	if !f.h.leases[vm.ID] {
		t.Fatal("no lease after a stop")
	}
	f.waitNotLive(t, vm.ID)
	got, err := f.s.Connect(ctx, "web", "back", []string{"api"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.Network != "back" || !slices.Equal(got.Spec.NetworkAliases, []string{"api"}) || f.h.leases[vm.ID] {
		t.Fatalf("after connect: %+v, lease held %v; want on back with its old lease given back", got.Spec, f.h.leases[vm.ID])
	}
	rec, _ := handles.Open(filepath.Join(f.l.VM(vm.ID), handles.FileName), vm.ID)
	if rec.Network != nil {
		t.Fatalf("record still names the old lease: %+v", rec.Network)
	}
	if _, err := f.s.Connect(ctx, "web", "nope", nil); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("connect to a missing network: %v", err)
	}
	if _, err := f.s.Disconnect(ctx, "web", "front"); !errors.Is(err, errdefs.ErrConflict) || !strings.Contains(err.Error(), "it is on network back, not front") {
		t.Fatalf("disconnect from a network the VM is not on: %v", err)
	}
	if got, err = f.s.Connect(ctx, "web", NetworkNone, nil); err != nil || got.Spec.Network != NetworkNone {
		t.Fatalf("disconnect: %+v %v", got.Spec, err)
	}
	f.h.reset()
	if _, err := f.s.Start(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(f.h.log(), func(op string) bool { return strings.HasSuffix(op, ".attach") }) {
		t.Fatal("a VM with --network none attached to a network")
	}
}

// A stop detaches a default-network VM from the network as it is: it
// neither sets the network up again (a daemon that has not yet, after a
// restart) nor fails when that cannot be done.
func TestStopDetachesWithoutSetup(t *testing.T) {
	f := newFixture(t)
	f.start("web")
	f.s.net.ready = false // as in a daemon that adopted the VM
	f.h.failOn("net.setup", errors.New("injected net.setup"))
	f.h.reset()
	if _, err := f.s.Stop(context.Background(), "web", 0); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if ops := f.h.log(); slices.Contains(ops, "net.setup") || !slices.Contains(ops, "net.detach") {
		t.Fatalf("stop: ops %v; want the tap detached, the network not set up", ops)
	}
}
