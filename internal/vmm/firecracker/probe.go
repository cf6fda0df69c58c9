package firecracker

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/internal/vmm/kvm"
)

// KVM checks (config firecracker.kvm_check).
const (
	// KVMCheckHardware wants /dev/kvm to work AND the CPU to have VT-x or
	// AMD-V with kvm_intel or kvm_amd loaded.
	KVMCheckHardware = "hardware"
	// KVMCheckBasic trusts /dev/kvm alone.
	KVMCheckBasic = "basic"
)

// kvmHost is where the KVM check looks; tests point it at fixtures.
type kvmHost struct {
	dev     kvm.Device
	cpuinfo string // /proc/cpuinfo
	modules string // /sys/module
}

func realKVMHost() kvmHost {
	return kvmHost{dev: kvm.Host(), cpuinfo: "/proc/cpuinfo", modules: "/sys/module"}
}

// checkKVM decides whether Firecracker can run guests with this host's
// KVM, and says why. The device comes first (kvm.Device.Check: open,
// API version, create a VM).
//
// /dev/kvm existing proves little: the build machines have a paravirtual
// KVM (the kvm_pvm module) whose /dev/kvm opens, reports API version 12
// and creates VMs, yet fails on any standard guest kernel. So the
// "hardware" check (the default) also wants the CPU flags vmx (Intel
// VT-x) or svm (AMD-V) and the matching kvm_intel or kvm_amd module; a
// nested-virtualisation cloud VM passes, a PVM host does not. "basic"
// stops after the ioctls, for hosts this heuristic misjudges.
func checkKVM(h kvmHost, mode string) (bool, []string) {
	if err := h.dev.Check(); err != nil {
		return false, []string{"KVM unusable: " + err.Error()}
	}
	if mode == KVMCheckBasic {
		return true, []string{"KVM: " + h.dev.Path + " works (firecracker.kvm_check = \"basic\": not checking for hardware virtualisation)"}
	}
	cpuinfo, _ := os.ReadFile(h.cpuinfo)
	var mods []string
	for _, m := range []string{"kvm_intel", "kvm_amd", "kvm_pvm"} {
		if _, err := os.Stat(filepath.Join(h.modules, m)); err == nil {
			mods = append(mods, m)
		}
	}
	ok, why := hardwareKVM(cpuinfo, mods)
	return ok, []string{why}
}

// hardwareKVM is the pure part of the hardware check: cpuinfo is
// /proc/cpuinfo, mods the loaded KVM modules.
func hardwareKVM(cpuinfo []byte, mods []string) (bool, string) {
	flags := cpuFlags(cpuinfo)
	var virt, want string
	switch {
	case slices.Contains(flags, "vmx"):
		virt, want = "vmx", "kvm_intel"
	case slices.Contains(flags, "svm"):
		virt, want = "svm", "kvm_amd"
	}
	loaded := "no KVM vendor module"
	if len(mods) > 0 {
		loaded = "modules " + strings.Join(mods, ", ")
	}
	const override = "; set firecracker.kvm_check = \"basic\" to use it anyway"
	switch {
	case virt == "":
		return false, "KVM is not hardware-backed: the CPU has neither vmx nor svm (" + loaded + "); a paravirtual KVM runs no standard guest" + override
	case !slices.Contains(mods, want):
		return false, fmt.Sprintf("KVM is not hardware-backed: the CPU has %s but %s is not loaded (%s)%s", virt, want, loaded, override)
	}
	return true, fmt.Sprintf("KVM: hardware virtualisation (%s, %s)", virt, want)
}

// cpuFlags returns the first "flags" line of /proc/cpuinfo, split.
func cpuFlags(cpuinfo []byte) []string {
	sc := bufio.NewScanner(bytes.NewReader(cpuinfo))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "flags" {
			return strings.Fields(v)
		}
	}
	return nil
}

var versionRE = regexp.MustCompile(`^(?:Firecracker|Jailer) v(\S+)`)

// ParseVersion reads the version from `firecracker --version` or
// `jailer --version` output ("Firecracker v1.16.1").
func ParseVersion(out string) (string, bool) {
	m := versionRE.FindStringSubmatch(strings.TrimSpace(out))
	if m == nil {
		return "", false
	}
	return m[1], true
}

// binaryVersion resolves name and runs it with --version.
func binaryVersion(ctx context.Context, name string) (path, version string, err error) {
	path, err = exec.LookPath(name)
	if err != nil {
		return "", "", fmt.Errorf("%s not found (install it or set its path in the config)", name)
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "--version").Output()
	if err != nil {
		return path, "", fmt.Errorf("%s --version: %w", path, err)
	}
	v, ok := ParseVersion(string(out))
	if !ok {
		return path, "", fmt.Errorf("%s --version printed %q, not a Firecracker version", path, strings.TrimSpace(string(out)))
	}
	return path, v, nil
}

// Probe reports whether Firecracker can run here: the binary (and the
// jailer, when configured) answer --version, and KVM really works (see
// checkKVM). It has no side effects beyond those short probes.
func (b *Backend) Probe(ctx context.Context) vmm.Probe {
	var p vmm.Probe
	bin, v, err := binaryVersion(ctx, b.opts.Binary)
	p.Binary, p.Version = bin, v
	binOK := err == nil
	if binOK {
		p.Notes = append(p.Notes, "firecracker v"+v+" at "+bin)
	} else {
		p.Notes = append(p.Notes, err.Error())
	}
	jailOK := true
	if b.opts.Jail != nil {
		jpath, jv, err := binaryVersion(ctx, b.opts.Jail.Binary)
		jailOK = err == nil
		if jailOK {
			p.Notes = append(p.Notes, "jailer v"+jv+" at "+jpath)
		} else {
			p.Notes = append(p.Notes, "jailer: "+err.Error())
		}
	}
	kvmOK, notes := checkKVM(b.kvm, b.opts.KVMCheck)
	p.Notes = append(p.Notes, notes...)
	if kvmOK {
		p.Accel = "kvm"
	}
	p.Available = binOK && jailOK && kvmOK
	return p
}
