package qemu

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os/exec"
	"regexp"
	"time"

	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/internal/vmm/kvm"
)

// Probe reports the QEMU binary, its version and the accelerator Start will
// use, with the reasons in Notes. A probe boots up to two tiny guests
// (~50–200 ms each, at most probeTimeout): cheap once, wasteful per VM, so
// callers keep its result (vmm.Set does, and passes the accelerator to
// Start in the spec).
func (b *Backend) Probe(ctx context.Context) vmm.Probe { return b.probe(ctx) }

func (b *Backend) probe(ctx context.Context) vmm.Probe {
	p := vmm.Probe{}
	bin, err := exec.LookPath(b.opts.binary)
	if err != nil {
		p.Notes = append(p.Notes, fmt.Sprintf("%s not found: install qemu-system-x86 (Debian) or set qemu.binary", b.opts.binary))
		return p
	}
	p.Binary = bin
	v, err := qemuVersion(ctx, bin)
	if err != nil {
		p.Notes = append(p.Notes, fmt.Sprintf("%s -version failed: %v", bin, err))
		return p
	}
	p.Version = v
	scratch := scratchDir(b.opts.scratch)

	accel, note := chooseAccel(b.opts.accel, b.kvm, func() probeResult {
		return runProbe(ctx, bin, AccelKVM, scratch)
	})
	p.Accel = accel
	p.Notes = append(p.Notes, note)
	if accel == "" {
		return p
	}
	if p.Accel == AccelTCG {
		r := runProbe(ctx, bin, AccelTCG, scratch)
		if !r.OK {
			p.Accel = ""
			p.Notes = append(p.Notes, "qemu cannot run a microvm guest under tcg: "+r.Reason)
			return p
		}
		if tsc := HostTSC(); tsc.KHz > 0 {
			p.Notes = append(p.Notes, fmt.Sprintf("guests get tsc_early_khz=%d (host TSC rate, %s)", tsc.KHz, tsc.Source))
		} else {
			p.Notes = append(p.Notes, "host TSC rate unknown: guests calibrate their TSC themselves, which can hang microvm boots under tcg")
		}
	}
	p.Available = true
	return p
}

// chooseAccel decides the accelerator for the configured mode (AccelKVM,
// AccelTCG, anything else is auto) and says why in one note. It asks what
// QEMU would find, in order: is dev a usable KVM device (kvm.Device.Check),
// then can that KVM run a standard guest (runKVM boots the probe guest; it
// is called only for a usable device). accel is "" when the configured kvm
// cannot work: the backend is then unavailable rather than slow or hung.
func chooseAccel(mode string, dev kvm.Device, runKVM func() probeResult) (accel, note string) {
	if mode == AccelTCG {
		return AccelTCG, "accelerator tcg (configured): software emulation"
	}
	if err := dev.Check(); err != nil {
		why := "KVM unusable: " + err.Error()
		if errors.Is(err, fs.ErrNotExist) {
			// The kvm module may well be loaded (kvm_pvm hosts without the
			// node, containers without the device): say only what is seen.
			why = "no " + dev.Path + " (no KVM module loaded, or no device node here)"
		}
		if mode == AccelKVM {
			return "", "qemu.accel is kvm, but " + why
		}
		return AccelTCG, why + "; using tcg (software emulation)"
	}
	r := runKVM()
	took := r.Duration.Round(time.Millisecond)
	switch {
	case r.OK && mode == AccelKVM:
		return AccelKVM, fmt.Sprintf("accelerator kvm (configured; probe guest ran in %s)", took)
	case r.OK:
		return AccelKVM, fmt.Sprintf("KVM runs a standard guest (probe guest ran in %s); using kvm", took)
	case mode == AccelKVM:
		return "", "qemu.accel is kvm, but KVM cannot run a standard guest here: " + r.Reason
	}
	return AccelTCG, dev.Path + " present but KVM cannot run a standard guest (" + r.Reason + "); using tcg (software emulation)"
}

var versionRE = regexp.MustCompile(`version (\d+\.\d+(?:\.\d+)?)`)

// qemuVersion runs `qemu -version` and returns the version number.
func qemuVersion(ctx context.Context, bin string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-version").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%w: %s", err, tail(out, 2))
	}
	return parseVersion(out)
}

func parseVersion(out []byte) (string, error) {
	m := versionRE.FindSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("unrecognised version output %q", truncate(out, 100))
	}
	return string(m[1]), nil
}
