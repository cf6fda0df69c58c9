package qemu

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// The KVM probe answers "can KVM run a standard guest here?" by running one:
// a 64 KiB BIOS image (testdata/kvmprobe.S, bytes in kvmprobe_payload.go)
// that goes from the reset vector through protected mode to long mode with
// paging, touches 32 MiB with SSE stores, runs a 20M-iteration loop and
// writes to isa-debug-exit. QEMU then exits with status 85, which nothing
// else produces. The probe runs the machine type and CPU model VMs get.
//
// Why this shape (measured on the build hosts, whose /dev/kvm is the
// paravirtual kvm_pvm): opening /dev/kvm and KVM_CREATE_VM succeed there,
// so a capability check says yes; a standard kernel then crawls through
// its decompressor (~2M instructions/s: KVM emulates everything outside a
// PVM guest's mode) until an instruction the emulator lacks stops it with
// "KVM internal error. Suberror: 1" — and QEMU does not exit, it pauses the
// guest. `-cpu host` fails even earlier there (QEMU aborts setting MSR
// 0x10a). Each of these is caught: an early exit with any other status, the
// internal-error line on stderr (the probe stops at once, ~50 ms), or the
// time bound (a KVM slow enough to miss it by far is no better than TCG).
// Real KVM finishes in ~20 ms of guest time; TCG in ~150 ms.

// probeExitStatus is QEMU's exit status after the payload's outb 0x2a to
// isa-debug-exit: (0x2a << 1) | 1.
const probeExitStatus = 85

// probeTimeout bounds one KVM probe run. Real KVM needs well under a second
// even on a loaded host (QEMU's own start-up dominates). A variable for
// tests.
var probeTimeout = 3 * time.Second

// tcgProbeTimeout bounds the TCG run, which only checks that QEMU can run a
// microvm at all (~150 ms idle, ~1 s measured on a busy 2-core host): speed
// is not its question, so a loaded host must not fail it.
const tcgProbeTimeout = 60 * time.Second

// probePayload returns the 64 KiB BIOS image.
func probePayload() []byte {
	img := make([]byte, 0x10000)
	copy(img, probeCode)
	copy(img[0xfff0:], probeReset)
	return img
}

// probeArgs is the probe's command line: the VM machine type, the given CPU
// model (VMs' is cpuModel(accel)), no devices but isa-debug-exit, the
// payload as firmware.
func probeArgs(accel, cpu, bios string) []string {
	return []string{
		"-M", machineType,
		"-accel", accel,
		"-cpu", cpu,
		"-m", "64", "-smp", "1",
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-bios", bios,
		"-device", "isa-debug-exit,iobase=0xf4,iosize=4",
	}
}

// probeResult is one probe run's verdict.
type probeResult struct {
	OK       bool
	Reason   string // why not, for Probe.Notes
	Duration time.Duration
}

// runProbe boots the payload under accel, with the CPU model VMs get, and
// reports whether it reached the end within probeTimeout. scratch holds the
// payload file.
func runProbe(ctx context.Context, binary, accel, scratch string) probeResult {
	return runProbeCPU(ctx, binary, accel, cpuModel(accel), scratch)
}

func runProbeCPU(ctx context.Context, binary, accel, cpu, scratch string) probeResult {
	start := time.Now()
	f, err := os.CreateTemp(scratch, "banger-kvmprobe-*.bin")
	if err != nil {
		return probeResult{Reason: "write probe payload: " + err.Error()}
	}
	defer func() { _ = os.Remove(f.Name()) }()
	if _, err := f.Write(probePayload()); err != nil {
		_ = f.Close()
		return probeResult{Reason: "write probe payload: " + err.Error()}
	}
	if err := f.Close(); err != nil {
		return probeResult{Reason: "write probe payload: " + err.Error()}
	}

	timeout := probeTimeout
	if accel == AccelTCG {
		timeout = tcgProbeTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, probeArgs(accel, cpu, f.Name())...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return probeResult{Reason: err.Error()}
	}
	if err := cmd.Start(); err != nil {
		return probeResult{Reason: "start " + binary + ": " + err.Error()}
	}
	// Read stderr as it comes: a KVM internal error leaves QEMU running
	// with the guest paused, so the line itself is the verdict.
	var (
		mu    sync.Mutex
		lines []string
	)
	internal := make(chan struct{})
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		sc := bufio.NewScanner(stderr)
		once := sync.Once{}
		for sc.Scan() {
			mu.Lock()
			if len(lines) < 20 {
				lines = append(lines, sc.Text())
			}
			mu.Unlock()
			if isKVMFailure(sc.Text()) {
				once.Do(func() { close(internal) })
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	// Wait closes stderr, so it runs only once stderr is read to its end
	// (the process exited, or was killed: on the internal error here, or
	// by the context at the time bound).
	select {
	case <-readDone:
	case <-internal:
		_ = cmd.Process.Kill()
		<-readDone
	}
	werr := cmd.Wait()
	res := probeResult{Duration: time.Since(start)}
	mu.Lock()
	msg := firstLines(lines, 2)
	mu.Unlock()
	var exit *exec.ExitError
	switch {
	case errors.As(werr, &exit) && exit.ExitCode() == probeExitStatus:
		res.OK = true
	case hasKVMFailure(lines):
		res.Reason = "guest stopped with " + msg
	case ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		res.Reason = fmt.Sprintf("probe guest did not finish within %s (the guest runs far too slowly: emulated?)", timeout)
	case werr == nil:
		res.Reason = "qemu exited before the probe guest finished"
	default:
		res.Reason = "qemu failed: " + werr.Error()
		if msg != "" {
			res.Reason += ": " + msg
		}
	}
	return res
}

func isKVMFailure(line string) bool {
	return strings.Contains(line, "KVM internal error") || strings.Contains(line, "kvm run failed")
}

func hasKVMFailure(lines []string) bool {
	for _, l := range lines {
		if isKVMFailure(l) {
			return true
		}
	}
	return false
}

func firstLines(lines []string, n int) string {
	var out []string
	for _, l := range lines {
		if l = strings.TrimSpace(strings.TrimPrefix(l, "qemu-system-x86_64: ")); l != "" && len(out) < n {
			out = append(out, l)
		}
	}
	return strings.Join(out, "; ")
}

// scratchDir is where probe payloads are written: the runtime dir of the
// backend when set, else the system temp dir.
func scratchDir(dir string) string {
	if dir != "" {
		if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
			return dir
		}
	}
	return filepath.Clean(os.TempDir())
}

// tail returns the last n lines of b.
func tail(b []byte, n int) string {
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
