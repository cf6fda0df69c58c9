package kernels

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/config"
	"github.com/bangerdev/banger/internal/kernelcat/kctest"
	"github.com/bangerdev/banger/pkg/errdefs"
)

func TestGetReportsTheEffectiveDefault(t *testing.T) {
	for _, tc := range []struct {
		config, name string
		want         bool
		wantErr      error
	}{
		{config: "", name: "a", want: true},
		{config: "", name: "b", want: false},
		{config: "b", name: "a", want: false},
		{config: "b", name: "b", want: true},
		{config: "", name: "c", wantErr: errdefs.ErrNotFound},
	} {
		t.Run(tc.config+"/"+tc.name, func(t *testing.T) {
			f := newFixture(t, config.Kernel{Default: tc.config})
			f.plant(t, "a", true)
			f.plant(t, "b", false)
			k, err := f.Get(tc.name)
			if !errors.Is(err, tc.wantErr) || (err == nil && (k.Name != tc.name || k.Default != tc.want)) {
				t.Fatalf("Get(%s) = %s default=%v, %v; want default=%v, %v", tc.name, k.Name, k.Default, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestRemove(t *testing.T) {
	for _, tc := range []struct {
		name        string
		remove      string
		users       map[string]string
		defaultUser string // a VM booting the default kernel ("a")
		want        error
		wantVM      string
	}{
		{name: "unused", remove: "b"},
		{name: "unused default", remove: "a"},
		{name: "booted by name", remove: "b", users: map[string]string{"b": "web"}, want: errdefs.ErrConflict, wantVM: "web"},
		{name: "booted as the default", remove: "a", defaultUser: "db", want: errdefs.ErrConflict, wantVM: "db"},
		{name: "another is the default", remove: "b", defaultUser: "db"},
		{name: "unknown", remove: "c", want: errdefs.ErrNotFound},
		{name: "invalid name", remove: "../a", want: errdefs.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, config.Kernel{})
			f.plant(t, "a", true)
			f.plant(t, "b", false)
			f.users, f.defaultUser = tc.users, tc.defaultUser
			err := f.Remove(tc.remove)
			if !errors.Is(err, tc.want) || (tc.wantVM != "" && !strings.Contains(err.Error(), "VM "+tc.wantVM)) {
				t.Fatalf("Remove(%s) = %v, want %v naming VM %q", tc.remove, err, tc.want, tc.wantVM)
			}
			stored := f.stored(t)
			for _, name := range []string{"a", "b"} {
				gone := name == tc.remove && tc.want == nil
				_, recorded := stored[name]
				_, serr := os.Stat(f.layout.Kernel(name))
				if recorded == gone || (serr == nil) == gone {
					t.Fatalf("after Remove(%s): %s recorded %v, its dir %v; want gone=%v", tc.remove, name, recorded, serr, gone)
				}
			}
		})
	}
}

func TestResolve(t *testing.T) {
	for _, tc := range []struct {
		name    string
		config  string
		planted []string // the first is the recorded default
		resolve string
		want    string
		wantErr string // substring of an ErrNotFound
	}{
		{name: "the default", planted: []string{"a", "b"}, want: "a"},
		{name: "by name", planted: []string{"a", "b"}, resolve: "b", want: "b"},
		{name: "the config's default", config: "b", planted: []string{"a", "b"}, want: "b"},
		{name: "no kernels", wantErr: "banger kernel pull"},
		{name: "unknown name", planted: []string{"a"}, resolve: "zz", wantErr: `"zz"`},
		{name: "the config's default is missing", config: "zz", planted: []string{"a"}, wantErr: "kernel.default"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, config.Kernel{Default: tc.config})
			for i, name := range tc.planted {
				f.plant(t, name, i == 0)
			}
			k, err := f.Resolve(tc.resolve)
			if tc.wantErr != "" {
				if !errors.Is(err, errdefs.ErrNotFound) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Resolve(%q) = %s, %v; want ErrNotFound saying %q", tc.resolve, k.Name, err, tc.wantErr)
				}
				return
			}
			if err != nil || k.Name != tc.want {
				t.Fatalf("Resolve(%q) = %s, %v; want %s", tc.resolve, k.Name, err, tc.want)
			}
		})
	}
}

// A kernel whose initramfs holds another agent than the one installed now
// is rebuilt when resolved, and the record says so; the recorded default
// is left as it was, even when the config names another default.
func TestResolveRebuildsTheInitrdForANewAgent(t *testing.T) {
	f := newFixture(t, config.Kernel{Default: "k"})
	f.plant(t, "recorded", true)
	k0, err := f.importTree(t, "k", false)
	if err != nil {
		t.Fatal(err)
	}
	if k, err := f.Resolve(""); err != nil || k.Name != "k" || !k.Default || k.AgentSHA256 != k0.AgentSHA256 {
		t.Fatalf("the agent did not change, yet: %+v, %v", k, err)
	}
	f.agent = filepath.Join(t.TempDir(), "banger-agent")
	kctest.WriteFile(t, f.agent, []byte("a newer agent"))
	k, err := f.Resolve("k")
	if err != nil || k.AgentSHA256 == k0.AgentSHA256 || !k.Default {
		t.Fatalf("after an agent update: %+v, %v", k, err)
	}
	stored := f.stored(t)
	if stored["k"].AgentSHA256 != k.AgentSHA256 {
		t.Fatalf("the rebuilt initramfs was not recorded: %s", stored["k"].AgentSHA256)
	}
	if got := defaults(slicesOf(stored)); !slices.Equal(got, []string{"recorded"}) {
		t.Fatalf("recorded defaults %v after Resolve, want [recorded]", got)
	}
	// Without an agent nothing is rebuilt and the kernel still resolves.
	f.agent = ""
	if k2, err := f.Resolve("k"); err != nil || k2.AgentSHA256 != k.AgentSHA256 {
		t.Fatalf("without an agent: %+v, %v", k2, err)
	}
}

func TestAgentIsTheLocatorsAnswer(t *testing.T) {
	f := newFixture(t, config.Kernel{})
	if got, err := f.Agent(); err != nil || got != f.agent {
		t.Fatalf("Agent = %q, %v; want %q", got, err, f.agent)
	}
	missing := fmt.Errorf("guest agent /nope: %w", errdefs.ErrNotFound)
	f.Service.agent = func() (string, error) { return "", missing }
	if _, err := f.Agent(); !errors.Is(err, missing) {
		t.Fatalf("Agent hid the locator's error: %v", err)
	}
}
