package testutil

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bangerdev/banger/internal/vmm/kvm"
)

// KVMKind is what a host's KVM offers a VMM. The kinds are in the order
// the backends' probes find them out: the device node, opening it, the KVM
// ioctls, then whether that KVM runs standard guests.
type KVMKind int

// The kinds of KVM host.
const (
	// KVMAbsent: no /dev/kvm, whether or not a KVM module is loaded.
	KVMAbsent KVMKind = iota
	// KVMUnopenable: /dev/kvm exists but cannot be opened read-write.
	KVMUnopenable
	// KVMBroken: /dev/kvm opens, but KVM_GET_API_VERSION or KVM_CREATE_VM
	// fails (not a KVM device at all, or one that creates no VM).
	KVMBroken
	// KVMParavirtual: a working device whose KVM is the paravirtual
	// kvm_pvm (no kvm_intel or kvm_amd loaded): it creates VMs but runs no
	// standard guest kernel.
	KVMParavirtual
	// KVMHardware: a working device backed by hardware virtualisation,
	// kvm_intel on a vmx CPU or kvm_amd on an svm one, and no kvm_pvm.
	KVMHardware
	// KVMUnknown: a working device the loaded modules do not explain
	// (none visible, or kvm_pvm next to a vendor module). Tests accept
	// either verdict there, but still check it is explained.
	KVMUnknown
)

func (k KVMKind) String() string {
	return [...]string{"no /dev/kvm", "/dev/kvm not openable", "/dev/kvm not a working KVM device",
		"paravirtual KVM (kvm_pvm)", "hardware KVM", "KVM of unknown kind"}[k]
}

// KVMHost is this host's KVM, as tests that depend on it should expect the
// backends to find it.
type KVMHost struct {
	Kind KVMKind
	// Problem is what the device check (kvm.Device.Check) says for
	// KVMUnopenable and KVMBroken; empty otherwise.
	Problem string
}

func (h KVMHost) String() string {
	if h.Problem != "" {
		return h.Kind.String() + ": " + h.Problem
	}
	return h.Kind.String()
}

// DetectKVM says what this host's KVM offers, from /dev/kvm itself, the
// CPU flags in /proc/cpuinfo and the modules in /sys/module. A test that
// depends on KVM derives its expectation from this, never from one file's
// presence: a kvm_pvm host may have no /dev/kvm at all, and a /dev/kvm may
// be any character device.
func DetectKVM() KVMHost {
	return detectKVM(kvm.Host(), "/proc/cpuinfo", "/sys/module")
}

func detectKVM(dev kvm.Device, cpuinfo, modules string) KVMHost {
	if _, err := os.Stat(dev.Path); err != nil {
		return KVMHost{Kind: KVMAbsent}
	}
	f, err := os.OpenFile(dev.Path, os.O_RDWR, 0)
	if err != nil {
		return KVMHost{Kind: KVMUnopenable, Problem: err.Error()}
	}
	_ = f.Close()
	if err := dev.Check(); err != nil {
		return KVMHost{Kind: KVMBroken, Problem: err.Error()}
	}
	loaded := func(m string) bool {
		_, err := os.Stat(filepath.Join(modules, m))
		return err == nil
	}
	info, _ := os.ReadFile(cpuinfo)
	flags := cpuFlags(info)
	intel := slices.Contains(flags, "vmx") && loaded("kvm_intel")
	amd := slices.Contains(flags, "svm") && loaded("kvm_amd")
	vendor := loaded("kvm_intel") || loaded("kvm_amd")
	switch {
	case loaded("kvm_pvm") && !vendor:
		return KVMHost{Kind: KVMParavirtual}
	case (intel || amd) && !loaded("kvm_pvm"):
		return KVMHost{Kind: KVMHardware}
	}
	return KVMHost{Kind: KVMUnknown}
}

// cpuFlags returns the first "flags" line of /proc/cpuinfo, split.
func cpuFlags(cpuinfo []byte) []string {
	sc := bufio.NewScanner(bytes.NewReader(cpuinfo))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "flags" {
			return strings.Fields(v)
		}
	}
	return nil
}
