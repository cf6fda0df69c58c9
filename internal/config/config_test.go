package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/units"
	"github.com/bangerdev/banger/pkg/errdefs"
)

func TestDefaultIsValid(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	if c.VM.Memory != units.Size(512*units.MiB) || c.Network.Bridge != "banger0" || c.Image.Platform != "linux/amd64" || !c.Snapshot.Boot {
		t.Fatalf("unexpected defaults: %+v", c)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope.toml")
	if _, err := Load(missing, true); err != nil {
		t.Fatalf("optional missing file: %v", err)
	}
	if _, err := Load(missing, false); err == nil {
		t.Fatal("named missing file: want an error")
	}
	p := filepath.Join(dir, "c.toml")
	if err := os.WriteFile(p, []byte("[vm]\nmemory = \"1G\"\n[network]\nsubnet = \"10.99.0.0/24\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(p, false)
	if err != nil {
		t.Fatal(err)
	}
	if c.VM.Memory != units.Size(units.GiB) || c.Network.Subnet != "10.99.0.0/24" || c.VM.CPUs != 1 {
		t.Fatalf("overrides not applied over defaults: %+v", c.VM)
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name, toml, want string
	}{
		{"unknown key", "[vm]\nmemroy = \"1G\"", "unknown key \"vm.memroy\""},
		{"bad size", "[vm]\nmemory = \"lots\"", "invalid size"},
		{"small memory", "[vm]\nmemory = \"1M\"", "vm.memory"},
		{"bad vmm", "[vm]\nvmm = \"xen\"", "vm.vmm"},
		{"bad kvm check", "[firecracker]\nkvm_check = \"yes\"", "firecracker.kvm_check"},
		{"bad subnet", "[network]\nsubnet = \"10.0.0.1/24\"", "network.subnet"},
		{"ipv6 subnet", "[network]\nsubnet = \"fd00::/64\"", "network.subnet"},
		{"long bridge", "[network]\nbridge = \"abcdefghijklmnop\"", "network.bridge"},
		{"relative docker socket", "[docker_api]\nsocket = \"docker.sock\"", "docker_api.socket"},
		{"syntax", "[vm\n", "config t.toml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.toml, "t.toml")
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, errdefs.ErrInvalid) {
				t.Fatalf("Parse: err = %v, want ErrInvalid mentioning %q", err, tt.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add(DefaultTOML())
	f.Add("[vm]\ncpus = 4\n")
	f.Add("[network]\nmtu = -1\n")
	f.Fuzz(func(t *testing.T, data string) {
		c, err := Parse(data, "fuzz")
		if err == nil {
			if verr := c.Validate(); verr != nil {
				t.Fatalf("Parse accepted a config that does not validate: %v", verr)
			}
		}
	})
}

// snapshot.boot = false turns boot snapshots off; a typo in the section
// is refused like any unknown key.
func TestSnapshotBoot(t *testing.T) {
	c, err := Parse("[snapshot]\nboot = false\n", "t")
	if err != nil || c.Snapshot.Boot || !c.IsSet("snapshot.boot") {
		t.Fatalf("boot = false: %+v, %v", c.Snapshot, err)
	}
	if _, err := Parse("[snapshot]\nboots = false\n", "t"); !errors.Is(err, errdefs.ErrInvalid) {
		t.Fatalf("unknown key: %v, want ErrInvalid", err)
	}
}
