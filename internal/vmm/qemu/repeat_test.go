package qemu_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/vmm/qemu"
)

// EnvBoots asks TestBootRepeat for N boots (a boot-path change gets a
// repeat-N check: docs/architecture.md, "Traps": TSC calibration). `make qemu-boot-repeat N=20` sets it.
const EnvBoots = "BANGER_QEMU_BOOTS"

// TestBootRepeat boots the echo guest N times, one after the other, and
// reports how many reached the guest (first byte echoed on the agent
// channel), the time from Start to that byte and QEMU's peak RSS, as
// medians. It fails when any boot does not reach the guest.
func TestBootRepeat(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv(EnvBoots))
	if n <= 0 {
		t.Skip("set " + EnvBoots + "=N to boot N times (make qemu-boot-repeat N=20)")
	}
	b := qemu.New(qemu.WithAccel(testAccel()))
	p := b.Probe(t.Context())
	t.Logf("probe: accel=%s version=%s notes=%q", p.Accel, p.Version, p.Notes)
	var starts, times []time.Duration
	var rss, hwm []int
	reached := 0
	for i := range n {
		spec := echoSpec(t, fmt.Sprintf("rep%d", i))
		started, d, m := firstEcho(t, b, spec)
		starts = append(starts, started)
		if d > 0 {
			reached++
			times = append(times, d)
			r, h := memKiB(m.Handles().Process.PID)
			rss, hwm = append(rss, r), append(hwm, h)
		} else {
			console, _ := os.ReadFile(spec.ConsoleLog)
			t.Errorf("boot %d did not reach the guest; console:\n%s", i, console)
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		if err := m.Shutdown(ctx); err != nil {
			t.Errorf("boot %d: shutdown: %v", i, err)
		}
		cancel()
		_ = m.Kill(t.Context())
		_ = m.Cleanup()
	}
	t.Logf("%d of %d boots reached the guest", reached, n)
	if reached > 0 {
		t.Logf("Start → QEMU answers on QMP: median %s", median(starts))
		t.Logf("Start → first echoed byte: median %s (min %s, max %s)", median(times), slices.Min(times), slices.Max(times))
		t.Logf("QEMU RSS after first byte: median %d MiB; peak RSS (VmHWM) median %d MiB", median(rss)/1024, median(hwm)/1024)
	}
}

func median[T int | time.Duration](xs []T) T {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// memKiB returns VmRSS and VmHWM of a process in KiB.
func memKiB(pid int) (rss, hwm int) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, _ := strings.Cut(line, ":")
		n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		switch k {
		case "VmRSS":
			rss = n
		case "VmHWM":
			hwm = n
		}
	}
	return rss, hwm
}
