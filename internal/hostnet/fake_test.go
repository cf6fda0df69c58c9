package hostnet

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/bangerdev/banger/internal/config"
	"github.com/bangerdev/banger/internal/hostnet/nftplan"
	"github.com/bangerdev/banger/internal/store"
)

// fakeHost stands in for both edges: links and rules are kept in memory
// and every change is logged, so tests see what would have run and in
// which order.
type fakeHost struct {
	mu        sync.Mutex
	st        hostState
	nftChains map[string][]nftplan.Rule // by chain; nil map = no table
	log       []string
	// failOn makes the operation whose String has this value fail.
	failOn string
}

func (f *fakeHost) state(context.Context, string) (hostState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.st
	st.Taps = slices.Clone(f.st.Taps)
	return st, nil
}

func (f *fakeHost) apply(_ context.Context, ops []linkOp) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, op := range ops {
		if op.String() == f.failOn {
			return errors.New("injected failure: " + op.String())
		}
		f.log = append(f.log, op.String())
		switch o := op.(type) {
		case opAddBridge:
			f.st.Bridge = &bridgeState{MTU: o.MTU, MAC: o.MAC}
		case opLinkUp:
			f.st.Bridge.Up = true
		case opSetAlias:
			f.st.Bridge.Alias = o.Alias
		case opAddTap:
			f.st.Taps = append(f.st.Taps, TapInfo{Name: o.Name, Bridge: o.Bridge, Isolated: o.Isolated})
		case opDelLink:
			f.st.Taps = slices.DeleteFunc(f.st.Taps, func(t TapInfo) bool { return t.Name == o.Name })
			if f.st.Bridge != nil && o.Name == "banger0" {
				f.st.Bridge = nil
			}
		case opSysctl:
			if o.Path == sysctlIPForward {
				f.st.IPForward = o.Value
			}
		}
	}
	return nil
}

func (f *fakeHost) ensure(_ context.Context, p nftplan.Plan) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log = append(f.log, "nft ensure "+p.FamilyName()+" "+p.Table)
	if f.nftChains == nil {
		f.nftChains = map[string][]nftplan.Rule{}
	}
	for _, c := range p.Chains {
		if _, ok := f.nftChains[c.Name]; c.Base() || !ok {
			f.nftChains[c.Name] = nil
		}
	}
	for _, r := range p.Rules {
		f.nftChains[r.Chain] = append(f.nftChains[r.Chain], r)
	}
	return nil
}

func (f *fakeHost) add(_ context.Context, p nftplan.Plan) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range p.Rules {
		if f.failOn == "nft add" {
			return errors.New("injected failure: nft add")
		}
		f.log = append(f.log, "nft add "+r.String())
		f.nftChains[r.Chain] = append(f.nftChains[r.Chain], r)
	}
	return nil
}

func (f *fakeHost) deleteMarked(_ context.Context, _, marker string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for c, rules := range f.nftChains {
		f.nftChains[c] = slices.DeleteFunc(rules, func(r nftplan.Rule) bool {
			if r.Comment == marker {
				f.log = append(f.log, "nft delete "+r.String())
				return true
			}
			return false
		})
	}
	return nil
}

func (f *fakeHost) rules(context.Context, string) (bool, []RuleInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.nftChains == nil {
		return false, nil, nil
	}
	var out []RuleInfo
	for c, rules := range f.nftChains {
		for _, r := range rules {
			ri := RuleInfo{Chain: c, Comment: r.Comment}
			if len(r.Comment) > len(MarkerPrefix) {
				ri.VMID = r.Comment[len(MarkerPrefix):]
			}
			out = append(out, ri)
		}
	}
	return true, out, nil
}

func (f *fakeHost) chains(context.Context, string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for c := range f.nftChains {
		out = append(out, c)
	}
	return out, nil
}

func (f *fakeHost) deleteTable(context.Context, string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nftChains = nil
	f.log = append(f.log, "nft delete table")
	return nil
}

func (f *fakeHost) takeLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := f.log
	f.log = nil
	return l
}

// openStore opens a store in dir (a fresh temp dir when empty) and closes
// it at the end of the test.
func openStore(t *testing.T, dir string) *store.Store {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	st, err := store.Open(filepath.Join(dir, "banger.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// fakeNetwork is a Network with the default config over a fake host.
func fakeNetwork(t *testing.T, mutate func(*config.Network)) (*Network, *fakeHost) {
	t.Helper()
	cfg := config.Default().Network
	if mutate != nil {
		mutate(&cfg)
	}
	f := &fakeHost{st: hostState{IPForward: "0"}}
	rc := filepath.Join(t.TempDir(), "resolv.conf")
	writeFile(t, rc, "nameserver 10.255.255.53\n")
	n, err := New(cfg, openStore(t, ""), withEdges(f, f), WithResolvConf(rc))
	if err != nil {
		t.Fatal(err)
	}
	return n, f
}

// setUpFake is a fakeNetwork after Setup, with the setup's log cleared.
func setUpFake(t *testing.T) (*Network, *fakeHost) {
	t.Helper()
	n, f := fakeNetwork(t, nil)
	if err := n.Setup(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.takeLog()
	return n, f
}
