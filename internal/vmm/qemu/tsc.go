package qemu

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
	"sync"
)

// TSCRate is the host's TSC frequency and where it came from.
type TSCRate struct {
	KHz    int64
	Source string
}

// The sources, most precise first. Under TCG the guest's TSC is the host's
// (QEMU's rdtsc helper returns the host TSC), so tsc_early_khz must be the
// host's TSC rate: a wrong value still boots but makes the guest clock run
// fast or slow by the same factor.
//
//   - sysfs: /sys/devices/system/cpu/cpu0/tsc_freq_khz, exported by some
//     kernels; exact.
//   - measured: the TSC counted against CLOCK_MONOTONIC_RAW over 40 ms
//     (tsc_amd64.go); about 1 ppm.
//   - cpuinfo: "cpu MHz" from /proc/cpuinfo; the TSC rate in most VMs, but
//     the current core clock on bare metal with frequency scaling.
var (
	tscOnce sync.Once
	tscRate TSCRate
)

// HostTSC returns the host TSC rate, computed once per process. KHz is 0
// when no source worked (then tsc_early_khz is left out).
func HostTSC() TSCRate {
	tscOnce.Do(func() {
		if b, err := os.ReadFile("/sys/devices/system/cpu/cpu0/tsc_freq_khz"); err == nil {
			if v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && v > 0 {
				tscRate = TSCRate{KHz: v, Source: "sysfs tsc_freq_khz"}
				return
			}
		}
		if v := measureTSC(); v > 0 {
			tscRate = TSCRate{KHz: v, Source: "measured against CLOCK_MONOTONIC_RAW"}
			return
		}
		if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
			if v := parseCPUInfoKHz(b); v > 0 {
				tscRate = TSCRate{KHz: v, Source: "/proc/cpuinfo cpu MHz"}
			}
		}
	})
	return tscRate
}

// parseCPUInfoKHz returns the first "cpu MHz" of /proc/cpuinfo in kHz.
func parseCPUInfoKHz(cpuinfo []byte) int64 {
	sc := bufio.NewScanner(bytes.NewReader(cpuinfo))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || strings.TrimSpace(k) != "cpu MHz" {
			continue
		}
		mhz, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || mhz <= 0 {
			return 0
		}
		return int64(mhz*1000 + 0.5)
	}
	return 0
}
