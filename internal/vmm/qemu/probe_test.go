package qemu

import (
	"errors"
	"io/fs"
	"syscall"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/vmm/kvm"
)

// The accelerator decision on each kind of host, with the device calls and
// the probe guest replaced: every note names what was really found, and the
// probe guest boots only on a usable device.
func TestChooseAccel(t *testing.T) {
	dev := func(v int, openErr, createErr error) kvm.Device {
		return kvm.Device{
			Path:       "/dev/kvm",
			APIVersion: func(string) (int, error) { return v, openErr },
			CreateVM:   func(string) error { return createErr },
		}
	}
	var (
		noNode   = dev(0, &fs.PathError{Op: "open", Path: "/dev/kvm", Err: syscall.ENOENT}, nil)
		noDriver = dev(0, &fs.PathError{Op: "open", Path: "/dev/kvm", Err: syscall.ENODEV}, nil)
		notKVM   = dev(0, errors.New("/dev/kvm is not a KVM device (KVM_GET_API_VERSION: inappropriate ioctl for device)"), nil)
		oldAPI   = dev(11, nil, nil)
		noVM     = dev(12, nil, errors.New("KVM_CREATE_VM: operation not permitted"))
		usable   = dev(12, nil, nil)

		runs   = probeResult{OK: true, Duration: 20 * time.Millisecond}
		paused = probeResult{Reason: "guest stopped with KVM internal error. Suberror: 1"}
	)
	tests := []struct {
		name, mode string
		dev        kvm.Device
		guest      probeResult
		accel      string
		note       string
		booted     bool // the probe guest ran
	}{
		{"auto, no node (kvm_pvm without /dev/kvm, or no KVM)", "auto", noNode, runs, AccelTCG,
			"no /dev/kvm (no KVM module loaded, or no device node here); using tcg (software emulation)", false},
		{"auto, node without a driver", "auto", noDriver, runs, AccelTCG,
			"KVM unusable: open /dev/kvm: no such device; using tcg (software emulation)", false},
		{"auto, not a KVM device", "auto", notKVM, runs, AccelTCG,
			"KVM unusable: /dev/kvm is not a KVM device (KVM_GET_API_VERSION: inappropriate ioctl for device); using tcg (software emulation)", false},
		{"auto, old API", "auto", oldAPI, runs, AccelTCG,
			"KVM unusable: /dev/kvm reports KVM API version 11, want 12; using tcg (software emulation)", false},
		{"auto, cannot create a VM", "auto", noVM, runs, AccelTCG,
			"KVM unusable: /dev/kvm cannot create a VM: KVM_CREATE_VM: operation not permitted; using tcg (software emulation)", false},
		{"auto, paravirtual KVM", "auto", usable, paused, AccelTCG,
			"/dev/kvm present but KVM cannot run a standard guest (guest stopped with KVM internal error. Suberror: 1); using tcg (software emulation)", true},
		{"auto, KVM works", "auto", usable, runs, AccelKVM,
			"KVM runs a standard guest (probe guest ran in 20ms); using kvm", true},
		{"kvm, no node", AccelKVM, noNode, runs, "",
			"qemu.accel is kvm, but no /dev/kvm (no KVM module loaded, or no device node here)", false},
		{"kvm, not a KVM device", AccelKVM, notKVM, runs, "",
			"qemu.accel is kvm, but KVM unusable: /dev/kvm is not a KVM device (KVM_GET_API_VERSION: inappropriate ioctl for device)", false},
		{"kvm, paravirtual KVM", AccelKVM, usable, paused, "",
			"qemu.accel is kvm, but KVM cannot run a standard guest here: guest stopped with KVM internal error. Suberror: 1", true},
		{"kvm, KVM works", AccelKVM, usable, runs, AccelKVM,
			"accelerator kvm (configured; probe guest ran in 20ms)", true},
		{"tcg, KVM works", AccelTCG, usable, runs, AccelTCG,
			"accelerator tcg (configured): software emulation", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			booted := false
			d := tt.dev
			checked := false
			api := d.APIVersion
			d.APIVersion = func(p string) (int, error) { checked = true; return api(p) }
			accel, note := chooseAccel(tt.mode, d, func() probeResult { booted = true; return tt.guest })
			if accel != tt.accel || note != tt.note {
				t.Fatalf("chooseAccel = %q, %q\nwant %q, %q", accel, note, tt.accel, tt.note)
			}
			if booted != tt.booted {
				t.Errorf("probe guest booted = %v, want %v", booted, tt.booted)
			}
			if checked != (tt.mode != AccelTCG) {
				t.Errorf("device checked = %v in mode %s", checked, tt.mode)
			}
		})
	}
}
