package firecracker

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/config"
	"github.com/bangerdev/banger/internal/testutil"
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

// wantKVM is the verdict and the start of the KVM note that checkKVM in
// mode must give on host, in the order it checks: the device, then (for
// "hardware") what backs it. On a KVM DetectKVM cannot place, either
// verdict of the hardware check is right if explained, so got (the
// verdict given) picks which explanation to expect.
func wantKVM(host testutil.KVMHost, mode string, got bool) (bool, string) {
	switch host.Kind {
	case testutil.KVMAbsent:
		return false, "KVM unusable: open /dev/kvm: no such file or directory"
	case testutil.KVMUnopenable, testutil.KVMBroken:
		return false, "KVM unusable: " + host.Problem
	}
	if mode == KVMCheckBasic {
		return true, `KVM: /dev/kvm works (firecracker.kvm_check = "basic"`
	}
	if host.Kind == testutil.KVMHardware || (host.Kind == testutil.KVMUnknown && got) {
		return true, "KVM: hardware virtualisation ("
	}
	return false, "KVM is not hardware-backed: "
}

// Probe runs the binaries' --version and the real KVM check of this host,
// whose verdict follows from what the host offers (testutil.DetectKVM):
// Firecracker is available only on hardware KVM, or on any working KVM
// device with kvm_check = "basic".
func TestProbe(t *testing.T) {
	fake := fctest.Binaries(t)
	host := testutil.DetectKVM()
	for _, mode := range []string{KVMCheckHardware, KVMCheckBasic} {
		cfg := config.Default().Firecracker
		cfg.Binary, cfg.Jailer, cfg.KVMCheck = fake.Firecracker, fake.Jailer, mode
		p := New(cfg).Probe(context.Background())
		t.Logf("%v, kvm_check %s: probe %+v", host, mode, p)
		ok, note := wantKVM(host, mode, p.Available)
		if p.Binary != fake.Firecracker || p.Version != "1.16.1" || p.Available != ok || (p.Accel == "kvm") != ok {
			t.Fatalf("%v, kvm_check %s: probe = %+v; want available %v", host, mode, p, ok)
		}
		want := []string{"firecracker v1.16.1 at " + fake.Firecracker, "jailer v1.16.1 at " + fake.Jailer, note}
		if len(p.Notes) != len(want) {
			t.Fatalf("notes %q; want %d", p.Notes, len(want))
		}
		for i, w := range want {
			if !strings.HasPrefix(p.Notes[i], w) {
				t.Errorf("%v, kvm_check %s: note %d is %q; want it to start %q", host, mode, i, p.Notes[i], w)
			}
		}
	}

	cfg := config.Default().Firecracker
	cfg.Binary, cfg.Jailer = "no-such-firecracker", ""
	p := New(cfg).Probe(context.Background())
	if p.Available || !strings.Contains(strings.Join(p.Notes, "\n"), "no-such-firecracker not found") {
		t.Fatalf("probe without binary = %+v", p)
	}
}
