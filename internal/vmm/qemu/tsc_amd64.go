package qemu

import (
	"time"

	"golang.org/x/sys/unix"
)

func rdtsc() uint64

// measureTSC counts TSC ticks against CLOCK_MONOTONIC_RAW over 40 ms and
// returns the rate in kHz (0 on failure). Each end is the tightest of a few
// (clock, tsc, clock) brackets, so a preemption between the reads cannot
// skew it; the error is about the bracket width over the window (~1 ppm).
func measureTSC() int64 {
	t0, c0, ok0 := tscSample()
	time.Sleep(40 * time.Millisecond)
	t1, c1, ok1 := tscSample()
	if !ok0 || !ok1 || t1 <= t0 || c1 <= c0 {
		return 0
	}
	return int64(float64(c1-c0)*1e6/float64(t1-t0) + 0.5)
}

// tscSample returns a (nanoseconds, tsc) pair read as close together as it
// can.
func tscSample() (ns int64, tsc uint64, ok bool) {
	best := int64(-1)
	for range 8 {
		var a, b unix.Timespec
		if unix.ClockGettime(unix.CLOCK_MONOTONIC_RAW, &a) != nil {
			return 0, 0, false
		}
		c := rdtsc()
		if unix.ClockGettime(unix.CLOCK_MONOTONIC_RAW, &b) != nil {
			return 0, 0, false
		}
		width := b.Nano() - a.Nano()
		if best < 0 || width < best {
			best, ns, tsc = width, a.Nano()+width/2, c
		}
	}
	return ns, tsc, best >= 0 && best < int64(50*time.Microsecond)
}
