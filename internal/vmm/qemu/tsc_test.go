package qemu

import (
	"math"
	"os"
	"runtime"
	"strings"
	"testing"
)

// Two measurements agree to a few ppm (a guest clock drifts by the error),
// and in a VM — where /proc/cpuinfo's "cpu MHz" is the TSC rate — they agree
// with it.
func TestMeasureTSC(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("TSC measurement is amd64-only")
	}
	a, b := measureTSC(), measureTSC()
	if a <= 0 || b <= 0 {
		t.Fatalf("measureTSC = %d, %d", a, b)
	}
	if d := math.Abs(float64(a-b)) / float64(a); d > 50e-6 {
		t.Errorf("two measurements %d and %d kHz differ by %.1f ppm", a, b, d*1e6)
	}
	info, err := os.ReadFile("/proc/cpuinfo")
	if err != nil || !strings.Contains(string(info), " hypervisor") {
		t.Logf("measured %d kHz (bare metal: cpu MHz may be the scaled core clock, not compared)", a)
		return
	}
	c := parseCPUInfoKHz(info)
	if d := math.Abs(float64(a-c)) / float64(c); d > 0.001 {
		t.Errorf("measured %d kHz, /proc/cpuinfo says %d kHz (%.2f%% apart)", a, c, d*100)
	}
	t.Logf("measured %d kHz, cpuinfo %d kHz, HostTSC %+v", a, c, HostTSC())
}
