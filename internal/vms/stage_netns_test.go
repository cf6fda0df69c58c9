package vms

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/handles"
	"github.com/bangerdev/banger/internal/hostnet"
	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/pkg/errdefs"
)

const podNetns = "netns:/var/run/netns/pod"

func withNetnsCaps(f *fixture) { f.b.caps.Netns = true }

func inPod(s *Spec) { s.Network = podNetns }

// A VM in a namespace: the network stage records the tap before it is
// made, the NIC names the namespace, the guest takes the interface's
// address (and no TCP door), nothing of banger's bridge is touched, and
// stop releases it from the record.
func TestNetnsStartStop(t *testing.T) {
	f := newFixture(t, withNetnsCaps)
	vm := f.create("pod", inPod)
	f.h.onOp = func(op string) {
		if op != "netns.attach" {
			return
		}
		rec, err := handles.Open(filepath.Join(f.l.VM(vm.ID), handles.FileName), vm.ID)
		if err != nil || rec.Netns == nil || rec.Netns.State != handles.Creating || rec.Netns.Handles.Tap != "bg-"+vm.ID {
			t.Errorf("at netns.attach the record does not name the tap yet: %+v, %v", rec.Netns, err)
		}
	}
	res, err := f.s.Start(context.Background(), "pod")
	if err != nil {
		t.Fatal(err)
	}
	f.h.onOp = nil
	if _, ok := res.Timings["network"]; !ok {
		t.Errorf("no network stage timing: %v", res.Timings)
	}
	for _, op := range []string{"net.setup", "net.attach"} {
		if f.h.did(op) {
			t.Errorf("a VM in a namespace did %s: %v", op, f.h.log())
		}
	}
	nics := f.b.specs[len(f.b.specs)-1].NICs
	if len(nics) != 1 || nics[0].Netns != "/var/run/netns/pod" || nics[0].Tap != "bg-"+vm.ID || nics[0].MAC != "0a:58:0a:58:00:05" || nics[0].MTU != 1450 {
		t.Errorf("NICs %+v", nics)
	}
	cfg := f.drive(vm.ID)
	if n := cfg.Network; n == nil || n.Address.String() != "10.88.0.5/16" || n.Gateway.String() != "10.88.0.1" || n.MAC != "0a:58:0a:58:00:05" || len(n.DNS) != 1 {
		t.Errorf("guest network %+v", cfg.Network)
	}
	if cfg.Channels.TCPPort != 0 {
		t.Errorf("the agent's TCP door is open on the pod's network: %+v", cfg.Channels)
	}
	if got := f.get("pod").Runtime; got.IP != "10.88.0.5" || got.Tap != "bg-"+vm.ID || got.MAC != "0a:58:0a:58:00:05" {
		t.Errorf("summary %+v", got)
	}
	rec, _ := handles.Open(filepath.Join(f.l.VM(vm.ID), handles.FileName), vm.ID)
	recorded := rec.Netns.Handles
	if _, err := f.s.Stop(context.Background(), "pod", time.Second); err != nil {
		t.Fatal(err)
	}
	if len(f.nsDetached) != 1 || f.nsDetached[0] != recorded || len(f.h.nsTaps) != 0 {
		t.Errorf("detached %+v (recorded %+v), taps left %v", f.nsDetached, recorded, f.h.nsTaps)
	}
	rec, _ = handles.Open(filepath.Join(f.l.VM(vm.ID), handles.FileName), vm.ID)
	if rec.Netns != nil || rec.Running() {
		t.Errorf("record after stop: %+v", rec)
	}
	if err := f.s.Remove(context.Background(), "pod", false); err != nil {
		t.Fatal(err)
	}
	if f.h.did("net.release") {
		t.Errorf("rm released a lease it never had: %v", f.h.log())
	}
}

func TestNetnsRefusals(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name string
		mod  func(*Spec)
		want string
	}{
		{"ports", func(s *Spec) { inPod(s); s.Ports = []hostnet.Port{{HostPort: 8080, GuestPort: 80, Protocol: "tcp"}} }, "--publish does not apply with --network netns:/var/run/netns/pod"},
		{"relative path", func(s *Spec) { s.Network = "netns:pod" }, "not an absolute, clean path"},
		{"other mode", func(s *Spec) { s.Network = "host" }, "want none, bridge, a network's name or netns:PATH[:IFACE]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := Spec{Image: "busybox"}
			tc.mod(&spec)
			_, err := f.s.Create(context.Background(), tc.name, spec)
			if !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("create: %v, want %q", err, tc.want)
			}
		})
	}
	// A backend that cannot reach a tap in another namespace: refused
	// before anything is attached, naming the backend and the way out.
	f.create("pod", inPod)
	_, err := f.s.Start(context.Background(), "pod")
	if !errors.Is(err, errdefs.ErrUnsupported) || !strings.Contains(err.Error(), "the fake backend cannot reach a tap in another network namespace; use --vmm qemu") {
		t.Errorf("start on a backend without Capabilities.Netns: %v", err)
	}
	if f.h.did("netns.attach") || len(f.h.nsTaps) != 0 {
		t.Errorf("attached anyway: %v", f.h.log())
	}
	// A daemon that cannot touch namespaces (not root).
	f.b.caps.Netns = true
	f.s.Namespaces, f.s.NetworkErr = nil, errors.New("the daemon does not run as root")
	if _, err := f.s.Start(context.Background(), "pod"); !errors.Is(err, errdefs.ErrUnavailable) || !strings.Contains(err.Error(), "does not run as root") {
		t.Errorf("start without namespaces: %v", err)
	}
}

// What a crashed daemon's record names is released by the next one: the
// recorded handles exactly, or — a broken section — a sweep by the id.
func TestNetnsReconcileReleasesTheRecord(t *testing.T) {
	for _, broken := range []bool{false, true} {
		t.Run(map[bool]string{false: "recorded", true: "broken section"}[broken], func(t *testing.T) {
			f := newFixture(t, withNetnsCaps)
			vm := f.create("pod", inPod)
			if err := os.MkdirAll(f.l.VM(vm.ID), 0o700); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(f.l.VM(vm.ID), handles.FileName)
			h := hostnet.NetnsHandles{Path: "/var/run/netns/pod", Inode: 7, Tap: "bg-" + vm.ID, Veth: "eth0", Ingress: true}
			if broken {
				raw := `{"version":2,"vm_id":"` + vm.ID + `","netns":{"state":7}}`
				if err := os.WriteFile(path, []byte(raw), 0o600); err != nil {
					t.Fatal(err)
				}
			} else {
				r := handles.New(path, vm.ID)
				r.Netns = &handles.Netns{State: handles.Creating, Handles: h}
				if err := r.Save(); err != nil {
					t.Fatal(err)
				}
			}
			f.h.nsTaps[vm.ID] = h.Path
			f.s.Reconcile(context.Background())
			switch {
			case broken && !slices.Equal(f.nsSwept, []string{vm.ID}):
				t.Errorf("swept %v, want the VM's id", f.nsSwept)
			case !broken && (len(f.nsDetached) != 1 || f.nsDetached[0] != h):
				t.Errorf("detached %+v, want %+v", f.nsDetached, h)
			}
			if len(f.h.nsTaps) != 0 {
				t.Errorf("taps left %v", f.h.nsTaps)
			}
			rec, err := handles.Open(path, vm.ID)
			if err != nil || rec.Netns != nil || len(rec.Broken) != 0 {
				t.Errorf("record after reconcile: %+v, %v", rec, err)
			}
		})
	}
}

// The inventory finds a VM's tap in a namespace with or without its
// record, and gc removes it when the VM does not run.
func TestNetnsInventoryAndGC(t *testing.T) {
	f := newFixture(t, withNetnsCaps)
	vm, _ := f.start("pod", inPod)
	objs := f.s.Inventory(context.Background())
	want := HostObject{Kind: "netns-tap", Name: "bg-" + vm.ID + " in /var/run/netns/pod", Owner: vm.ID}
	if !slices.Contains(objs, want) {
		t.Errorf("inventory of a running VM lacks %+v: %+v", want, objs)
	}
	// Found through the record and the scan of named namespaces: once.
	if n := len(slices.DeleteFunc(objs, func(o HostObject) bool { return o.Kind != "netns-tap" })); n != 1 {
		t.Errorf("inventory lists the tap %d times", n)
	}
	if rep := f.s.sweep(context.Background(), true); slices.ContainsFunc(rep.Objects, func(o HostObject) bool { return o.Kind == "netns-tap" }) {
		t.Errorf("gc would remove a running VM's tap: %+v", rep)
	}
	if _, err := f.s.Stop(context.Background(), "pod", time.Second); err != nil {
		t.Fatal(err)
	}
	// Until the exit watcher is done, its tap is a live VM's, rightly kept.
	f.waitNotLive(t, vm.ID)
	// A tap no record names any more (a lost record) is still found.
	f.h.nsTaps[vm.ID] = "/var/run/netns/pod"
	rep := f.s.sweep(context.Background(), false)
	if !slices.ContainsFunc(rep.Objects, func(o HostObject) bool { return o.Kind == "netns-tap" && o.Removed && o.Owner == vm.ID }) {
		t.Errorf("gc report %+v", rep)
	}
	if len(f.h.nsTaps) != 0 {
		t.Errorf("taps left %v", f.h.nsTaps)
	}
}

// twoBackends is auto's order over a backend without Capabilities.Netns
// and one with it.
type twoBackends struct{ first, second *namedBackend }

type namedBackend struct {
	*fakeBackend
	name string
}

func (b namedBackend) Name() string { return b.name }

func (t twoBackends) Pick(_ context.Context, choice string) (vmm.Backend, vmm.Probe, error) {
	switch choice {
	case "", vmm.Auto, t.first.name:
		return t.first, vmm.Probe{Available: true}, nil
	case t.second.name:
		return t.second, vmm.Probe{Available: true}, nil
	}
	return nil, vmm.Probe{}, errdefs.ErrNotFound
}

func (t twoBackends) Get(name string) (vmm.Backend, bool) {
	b, _, err := t.Pick(context.Background(), name)
	return b, err == nil
}

func (t twoBackends) Backends() []vmm.Backend { return []vmm.Backend{t.first, t.second} }

// Auto picks, for a VM in a namespace, the first backend that can reach
// a tap there; a VM on the bridge, or one naming its backend, gets what
// it always got.
func TestNetnsAutoPicksACapableBackend(t *testing.T) {
	f := newFixture(t)
	plain := &namedBackend{&fakeBackend{h: f.h, caps: f.b.caps}, "fast"}
	able := &namedBackend{&fakeBackend{h: f.h, caps: f.b.caps}, "able"}
	able.caps.Netns = true
	f.s.Backends = twoBackends{plain, able}
	for _, tc := range []struct {
		spec Spec
		want string
	}{
		{Spec{Network: podNetns}, "able"},
		{Spec{Network: podNetns, VMM: vmm.Auto}, "able"},
		{Spec{}, "fast"},
		{Spec{Network: podNetns, VMM: "fast"}, "fast"},
	} {
		rt := &Runtime{VM: VM{Spec: tc.spec}}
		if err := (backendStage{f.s.Backends}).Acquire(context.Background(), rt); err != nil || rt.Backend.Name() != tc.want {
			t.Errorf("spec %+v: backend %v, %v; want %s", tc.spec, rt.Backend, err, tc.want)
		}
	}
}
