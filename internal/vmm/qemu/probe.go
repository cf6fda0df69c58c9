package qemu

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"time"

	"github.com/bangerdev/banger/internal/vmm"
)

// Probe reports the QEMU binary, its version and the accelerator Start will
// use, with the reasons in Notes. The result is cached for the backend's
// life: a probe boots up to two tiny guests (~50–200 ms each, at most
// probeTimeout), which is cheap once and wasteful per VM.
func (b *Backend) Probe(ctx context.Context) vmm.Probe {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.probed != nil {
		return *b.probed
	}
	p := b.probe(ctx)
	if ctx.Err() == nil { // an interrupted probe is not an answer
		b.probed = &p
	}
	return p
}

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

	switch b.opts.accel {
	case AccelKVM:
		r := runProbe(ctx, bin, AccelKVM, scratch)
		if !r.OK {
			p.Notes = append(p.Notes, "qemu.accel is kvm, but KVM cannot run a standard guest here: "+r.Reason)
			return p
		}
		p.Accel = AccelKVM
		p.Notes = append(p.Notes, fmt.Sprintf("accelerator kvm (configured; probe guest ran in %s)", r.Duration.Round(time.Millisecond)))
	case AccelTCG:
		p.Accel = AccelTCG
		p.Notes = append(p.Notes, "accelerator tcg (configured): software emulation")
	default:
		if why := kvmDeviceProblem(); why != "" {
			p.Notes = append(p.Notes, why+"; using tcg (software emulation)")
			p.Accel = AccelTCG
			break
		}
		r := runProbe(ctx, bin, AccelKVM, scratch)
		if r.OK {
			p.Accel = AccelKVM
			p.Notes = append(p.Notes, fmt.Sprintf("KVM runs a standard guest (probe guest ran in %s); using kvm", r.Duration.Round(time.Millisecond)))
			break
		}
		p.Accel = AccelTCG
		p.Notes = append(p.Notes, "/dev/kvm present but KVM cannot run a standard guest ("+r.Reason+"); using tcg (software emulation)")
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

// kvmDeviceProblem says why /dev/kvm cannot be used at all, or "".
func kvmDeviceProblem() string {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		if os.IsNotExist(err) {
			return "no /dev/kvm (KVM module not loaded or no hardware virtualization)"
		}
		return "cannot open /dev/kvm: " + err.Error()
	}
	_ = f.Close()
	return ""
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
