// Package vmstats collects what `banger stats` shows of running VMs: the
// VMM process's CPU use and resident memory and task count, the guest's
// memory (asked of its agent), the drives' I/O (the VMM's own counters
// when it has them, vmm.BlockStatser, else the process's I/O counters)
// and the tap's byte counters turned to the guest's view.
//
// CPU use is a rate: Collect samples every target's CPU time, waits a
// window, samples again, and divides (docker's "CPU %": 100% is one host
// CPU busy). The host and the guest are small interfaces (Host, Guest),
// so the arithmetic is tested with fakes; the /proc and sysfs parsing is
// package procfs's.
package vmstats

import (
	"context"
	"sync"
	"time"

	"github.com/bangerdev/banger/internal/agent/proto"
	"github.com/bangerdev/banger/internal/procfs"
	"github.com/bangerdev/banger/internal/vmm"
)

// Target is one VM to sample.
type Target struct {
	ID, Name string
	// PID is the VMM process.
	PID int
	// Tap is the VM's tap; empty without a network.
	Tap string
	// Net counts a tap the host cannot see (one in another network
	// namespace) instead of Host.NetBytes(Tap); nil for the host's.
	Net NetCounter
	// Block counts the drives' I/O; nil falls back to the process's. A
	// Block that fails leaves the numbers unknown: the process's counters
	// measure something else (the host's page cache absorbs reads).
	Block vmm.BlockStatser
	// Guest is the guest's agent; nil when it cannot be asked (a paused
	// VM).
	Guest Guest
}

// NetCounter reads a tap's received and transmitted bytes.
type NetCounter interface {
	NetBytes() (rx, tx uint64, err error)
}

// Guest is a guest agent (an *agentclient.Client).
type Guest interface {
	Memory(ctx context.Context) (proto.MemoryPayload, error)
}

// Host reads the host's counters.
type Host interface {
	// Process reads a process's CPU time, memory, tasks and I/O.
	Process(pid int) (Process, error)
	// NetBytes reads an interface's received and transmitted bytes as
	// the host counts them.
	NetBytes(name string) (rx, tx uint64, err error)
}

// Process is one sample of a process.
type Process struct {
	CPUTicks uint64
	RSSBytes uint64
	Tasks    int
	IO       *procfs.IO
}

// Stats are one VM's numbers. A pointer is nil when the number is unknown
// (the guest's agent is too old, or the VM is paused; no network).
type Stats struct {
	ID, Name string
	// CPUPercent is the VMM's CPU use over the window (100 = one CPU):
	// its CPU time (clock ticks) PreCPUTicks at the window's start and
	// CPUTicks at its end, over Elapsed.
	CPUPercent            float64
	PreCPUTicks, CPUTicks uint64
	Elapsed               time.Duration
	// RSSBytes is the VMM process's resident memory; Tasks its threads.
	RSSBytes uint64
	Tasks    int
	// GuestMemUsed and GuestMemTotal are the guest's view (total less
	// available).
	GuestMemUsed, GuestMemTotal *uint64
	// BlockRead and BlockWrite are the drives' bytes since the VM started.
	BlockRead, BlockWrite *uint64
	// NetRx and NetTx are bytes the guest received and sent.
	NetRx, NetTx *uint64
	// Err says why the VMM could not be sampled (it exited meanwhile).
	Err string
}

// Collector samples targets.
type Collector struct {
	Host Host
	// Window is the time between the two CPU samples (default 500ms).
	Window time.Duration
	// Now and Sleep are the clock (default the real one).
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// Collect samples every target, concurrently, and returns their stats in
// the targets' order. It returns early when ctx ends.
func (c *Collector) Collect(ctx context.Context, targets []Target) ([]Stats, error) {
	now, sleep, window := c.Now, c.Sleep, c.Window
	if now == nil {
		now = time.Now
	}
	if sleep == nil {
		sleep = sleepCtx
	}
	if window <= 0 {
		window = 500 * time.Millisecond
	}
	out := make([]Stats, len(targets))
	first := make([]Process, len(targets))
	var errs = make([]error, len(targets))
	t0 := now()
	for i, t := range targets {
		first[i], errs[i] = c.Host.Process(t.PID)
	}
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() { out[i] = c.static(ctx, t) })
	}
	wg.Wait()
	if err := sleep(ctx, window); err != nil {
		return nil, err
	}
	elapsed := now().Sub(t0)
	for i, t := range targets {
		second, err := c.Host.Process(t.PID)
		if err == nil {
			err = errs[i]
		}
		if err != nil {
			out[i].Err = "the VMM could not be read: " + err.Error()
			continue
		}
		out[i].CPUPercent = cpuPercent(first[i].CPUTicks, second.CPUTicks, elapsed.Seconds())
		out[i].PreCPUTicks, out[i].CPUTicks, out[i].Elapsed = first[i].CPUTicks, second.CPUTicks, elapsed
		out[i].RSSBytes, out[i].Tasks = second.RSSBytes, second.Tasks
		if t.Block == nil && second.IO != nil {
			out[i].BlockRead, out[i].BlockWrite = &second.IO.ReadBytes, &second.IO.WriteBytes
		}
	}
	return out, nil
}

// static samples what is not a rate: guest memory, drives, network.
func (c *Collector) static(ctx context.Context, t Target) Stats {
	s := Stats{ID: t.ID, Name: t.Name}
	if t.Guest != nil {
		gctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if m, err := t.Guest.Memory(gctx); err == nil {
			used := procfs.Meminfo{TotalBytes: m.TotalBytes, AvailableBytes: m.AvailableBytes}.UsedBytes()
			s.GuestMemUsed, s.GuestMemTotal = &used, &m.TotalBytes
		}
		cancel()
	}
	if t.Block != nil {
		bctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if b, err := t.Block.BlockStats(bctx); err == nil {
			s.BlockRead, s.BlockWrite = &b.ReadBytes, &b.WriteBytes
		}
		cancel()
	}
	if t.Tap != "" {
		read := func() (uint64, uint64, error) { return c.Host.NetBytes(t.Tap) }
		if t.Net != nil {
			read = t.Net.NetBytes
		}
		if rx, tx, err := read(); err == nil {
			// What the host's tap received, the guest sent.
			s.NetRx, s.NetTx = &tx, &rx
		}
	}
	return s
}

// cpuPercent is the CPU time between two samples over the wall time
// between them, in percent of one CPU.
func cpuPercent(t0, t1 uint64, seconds float64) float64 {
	if t1 < t0 || seconds <= 0 {
		return 0
	}
	return float64(t1-t0) / procfs.ClockTicks / seconds * 100
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// HostProcfs is the host's /proc and /sys/class/net.
type HostProcfs struct {
	FS          procfs.FS
	SysClassNet string
}

// LocalHost is this host.
var LocalHost = HostProcfs{FS: procfs.Proc, SysClassNet: "/sys/class/net"}

// Process implements Host. The I/O counters need ptrace access to the
// process (the root daemon has it); without, they are left out.
func (h HostProcfs) Process(pid int) (Process, error) {
	st, err := h.FS.Stat(pid)
	if err != nil {
		return Process{}, err
	}
	status, err := h.FS.Status(pid)
	if err != nil {
		return Process{}, err
	}
	p := Process{CPUTicks: st.CPUTicks(), RSSBytes: status.RSSBytes, Tasks: st.Threads}
	if io, err := h.FS.IO(pid); err == nil {
		p.IO = &io
	}
	return p, nil
}

// NetBytes implements Host.
func (h HostProcfs) NetBytes(name string) (rx, tx uint64, err error) {
	return procfs.NetBytes(h.SysClassNet, name)
}
