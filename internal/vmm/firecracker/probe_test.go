package firecracker

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/config"
	"github.com/bangerdev/banger/internal/vmm/firecracker/fctest"
	"github.com/bangerdev/banger/internal/vmm/kvm"
)

func TestHardwareKVM(t *testing.T) {
	intel := []byte("processor\t: 0\nflags\t\t: fpu vme vmx sse2\n\nprocessor\t: 1\nflags\t\t: fpu\n")
	amd := []byte("flags\t\t: fpu svm lm\n")
	pvm := []byte("flags\t\t: fpu hypervisor lm\n")
	tests := []struct {
		name    string
		cpuinfo []byte
		mods    []string
		ok      bool
		want    string
	}{
		{"intel", intel, []string{"kvm_intel"}, true, "vmx, kvm_intel"},
		{"amd", amd, []string{"kvm_amd"}, true, "svm, kvm_amd"},
		{"pvm build machine", pvm, []string{"kvm_pvm"}, false, "neither vmx nor svm (modules kvm_pvm)"},
		{"vmx without module", intel, nil, false, "kvm_intel is not loaded (no KVM vendor module)"},
		{"wrong module", amd, []string{"kvm_intel"}, false, "kvm_amd is not loaded"},
		{"no cpuinfo", nil, nil, false, "neither vmx nor svm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, why := hardwareKVM(tt.cpuinfo, tt.mods)
			if ok != tt.ok || !strings.Contains(why, tt.want) {
				t.Fatalf("hardwareKVM = %v, %q; want %v, %q", ok, why, tt.ok, tt.want)
			}
			if !ok && !strings.Contains(why, `kvm_check = "basic"`) {
				t.Fatalf("the note must say how to override: %q", why)
			}
		})
	}
}

// checkKVM with the ioctls replaced: each step's failure is reported, and
// "basic" trusts a /dev/kvm that passes them.
func TestCheckKVM(t *testing.T) {
	dir := t.TempDir()
	cpuinfo := filepath.Join(dir, "cpuinfo")
	if err := os.WriteFile(cpuinfo, []byte("flags : fpu hypervisor\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "module", "kvm_pvm"), 0o755); err != nil {
		t.Fatal(err)
	}
	host := func(v int, openErr, createErr error) kvmHost {
		return kvmHost{
			dev: kvm.Device{
				Path:       "/dev/kvm",
				APIVersion: func(string) (int, error) { return v, openErr },
				CreateVM:   func(string) error { return createErr },
			},
			cpuinfo: cpuinfo, modules: filepath.Join(dir, "module"),
		}
	}
	tests := []struct {
		name string
		h    kvmHost
		mode string
		ok   bool
		want string
	}{
		{"no device", host(0, os.ErrNotExist, nil), KVMCheckHardware, false, "KVM unusable: file does not exist"},
		{"old api", host(11, nil, nil), KVMCheckHardware, false, "KVM unusable: /dev/kvm reports KVM API version 11, want 12"},
		{"create fails", host(12, nil, errors.New("EPERM")), KVMCheckBasic, false, "KVM unusable: /dev/kvm cannot create a VM: EPERM"},
		{"pvm, hardware check", host(12, nil, nil), KVMCheckHardware, false, "modules kvm_pvm"},
		{"pvm, basic check", host(12, nil, nil), KVMCheckBasic, true, `kvm_check = "basic"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, notes := checkKVM(tt.h, tt.mode)
			if ok != tt.ok || len(notes) != 1 || !strings.Contains(notes[0], tt.want) {
				t.Fatalf("checkKVM = %v, %q; want %v, %q", ok, notes, tt.ok, tt.want)
			}
		})
	}
}

func TestParseVersion(t *testing.T) {
	for in, want := range map[string]string{
		"Firecracker v1.16.1\n\n": "1.16.1",
		"Jailer v1.16.1\n":        "1.16.1",
		"Firecracker v1.7.0-dev":  "1.7.0-dev",
		"firecracker 1.0":         "",
		"":                        "",
	} {
		if got, _ := ParseVersion(in); got != want {
			t.Errorf("ParseVersion(%q) = %q, want %q", in, got, want)
		}
	}
}

// Probe runs the binaries' --version and the real KVM check of this host.
func TestProbe(t *testing.T) {
	fake := fctest.Binaries(t)
	cfg := config.Default().Firecracker
	cfg.Binary, cfg.Jailer = fake.Firecracker, fake.Jailer
	p := New(cfg).Probe(context.Background())
	kvmOK, kvmNotes := checkKVM(realKVMHost(), KVMCheckHardware)
	if p.Binary != fake.Firecracker || p.Version != "1.16.1" || p.Available != kvmOK {
		t.Fatalf("probe = %+v; KVM check here says %v", p, kvmOK)
	}
	notes := strings.Join(p.Notes, "\n")
	for _, want := range []string{"firecracker v1.16.1 at " + fake.Firecracker, "jailer v1.16.1 at " + fake.Jailer, kvmNotes[0]} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes %q lack %q", notes, want)
		}
	}

	cfg.Binary, cfg.Jailer = "no-such-firecracker", ""
	p = New(cfg).Probe(context.Background())
	if p.Available || !strings.Contains(strings.Join(p.Notes, "\n"), "no-such-firecracker not found") {
		t.Fatalf("probe without binary = %+v", p)
	}
}
