package vmstats

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/agent/proto"
	"github.com/bangerdev/banger/internal/agentclient"
	"github.com/bangerdev/banger/internal/procfs"
	"github.com/bangerdev/banger/internal/vmm"
)

// fakeHost answers each pid's samples in turn; a pid without samples left
// is gone.
type fakeHost struct {
	mu    sync.Mutex
	procs map[int][]Process
	taps  map[string][2]uint64
}

func (h *fakeHost) Process(pid int) (Process, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.procs[pid]
	if len(s) == 0 {
		return Process{}, fmt.Errorf("pid %d: %w", pid, os.ErrNotExist)
	}
	h.procs[pid] = s[1:]
	return s[0], nil
}

func (h *fakeHost) NetBytes(name string) (uint64, uint64, error) {
	c, ok := h.taps[name]
	if !ok {
		return 0, 0, os.ErrNotExist
	}
	return c[0], c[1], nil
}

type fakeNet [2]uint64

func (n fakeNet) NetBytes() (uint64, uint64, error) { return n[0], n[1], nil }

type fakeGuest struct {
	m   proto.MemoryPayload
	err error
}

func (g fakeGuest) Memory(context.Context) (proto.MemoryPayload, error) { return g.m, g.err }

type fakeBlock struct {
	b   vmm.BlockStats
	err error
}

func (f fakeBlock) BlockStats(context.Context) (vmm.BlockStats, error) { return f.b, f.err }

// fakeClock advances by what Sleep is asked.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }
func (c *fakeClock) sleep(_ context.Context, d time.Duration) error {
	c.t = c.t.Add(d)
	return nil
}

func u(n uint64) *uint64 { return &n }

func eq(a, b *uint64) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

func TestCollect(t *testing.T) {
	io := &procfs.IO{ReadBytes: 4096, WriteBytes: 512}
	h := &fakeHost{
		procs: map[int][]Process{
			// 150 ticks (1.5 s of CPU) over a 1 s window: 150%.
			10: {{CPUTicks: 1000, RSSBytes: 1, Tasks: 7}, {CPUTicks: 1150, RSSBytes: 300 << 20, Tasks: 7, IO: io}},
			20: {{CPUTicks: 5}, {CPUTicks: 5, RSSBytes: 100 << 20, Tasks: 3, IO: io}},
			30: {{CPUTicks: 5}}, // exits between the samples
			40: {{CPUTicks: 5}, {CPUTicks: 5, IO: io}},
			50: {{CPUTicks: 5}, {CPUTicks: 5, IO: io}},
		},
		taps: map[string][2]uint64{"bg-a": {1000, 2000}},
	}
	clk := &fakeClock{t: time.Unix(1e9, 0)}
	c := &Collector{Host: h, Window: time.Second, Now: clk.now, Sleep: clk.sleep}
	got, err := c.Collect(context.Background(), []Target{
		{ID: "a", Name: "web", PID: 10, Tap: "bg-a", Block: fakeBlock{b: vmm.BlockStats{ReadBytes: 7, WriteBytes: 9}},
			Guest: fakeGuest{m: proto.MemoryPayload{TotalBytes: 512 << 20, AvailableBytes: 400 << 20}}},
		{ID: "b", Name: "old", PID: 20, Guest: fakeGuest{err: agentclient.ErrOldAgent}},
		{ID: "c", Name: "gone", PID: 30},
		{ID: "d", Name: "qmp down", PID: 40, Block: fakeBlock{err: errors.New("qmp: connection refused")}},
		// A tap in a pod's namespace, of the same name as one the host has.
		{ID: "e", Name: "pod", PID: 50, Tap: "bg-a", Net: fakeNet{30, 40}},
	})
	if err != nil {
		t.Fatal(err)
	}
	web, old, gone := got[0], got[1], got[2]
	if web.CPUPercent != 150 || web.RSSBytes != 300<<20 || web.Tasks != 7 {
		t.Errorf("web: cpu %v rss %d tasks %d", web.CPUPercent, web.RSSBytes, web.Tasks)
	}
	if web.PreCPUTicks != 1000 || web.CPUTicks != 1150 || web.Elapsed != time.Second {
		t.Errorf("web: cpu ticks %d to %d over %s; want 1000 to 1150 over 1s (the Docker API's stats report them)", web.PreCPUTicks, web.CPUTicks, web.Elapsed)
	}
	if !eq(web.GuestMemUsed, u(112<<20)) || !eq(web.GuestMemTotal, u(512<<20)) {
		t.Errorf("web guest memory %v/%v", web.GuestMemUsed, web.GuestMemTotal)
	}
	// The VMM's own drive counters win over the process's I/O.
	if !eq(web.BlockRead, u(7)) || !eq(web.BlockWrite, u(9)) {
		t.Errorf("web block %v %v", web.BlockRead, web.BlockWrite)
	}
	// The tap received 1000 (the guest sent them) and sent 2000.
	if !eq(web.NetRx, u(2000)) || !eq(web.NetTx, u(1000)) {
		t.Errorf("web net rx %v tx %v; want the tap's swapped", web.NetRx, web.NetTx)
	}
	if old.CPUPercent != 0 || old.GuestMemUsed != nil || old.NetRx != nil || old.Err != "" {
		t.Errorf("old agent, no network: %+v", old)
	}
	if !eq(old.BlockRead, u(4096)) || !eq(old.BlockWrite, u(512)) {
		t.Errorf("fallback to the process's I/O: %v %v", old.BlockRead, old.BlockWrite)
	}
	if got[3].BlockRead != nil {
		t.Errorf("a failing drive counter fell back to the process's: %v", *got[3].BlockRead)
	}
	if pod := got[4]; !eq(pod.NetRx, u(40)) || !eq(pod.NetTx, u(30)) {
		t.Errorf("pod net rx %v tx %v; want its counter's, swapped", pod.NetRx, pod.NetTx)
	}
	if gone.Err == "" || gone.Name != "gone" {
		t.Errorf("a VMM gone between samples: %+v", gone)
	}
}

func TestCollectStopsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c := &Collector{Host: &fakeHost{procs: map[int][]Process{}}}
	if _, err := c.Collect(ctx, []Target{{PID: 1}}); !errors.Is(err, context.Canceled) {
		t.Fatalf("collect after cancel: %v", err)
	}
}

func TestCPUPercent(t *testing.T) {
	for _, tc := range []struct {
		t0, t1 uint64
		sec    float64
		want   float64
	}{
		{0, 50, 1, 50},
		{100, 300, 0.5, 400},
		{300, 100, 1, 0}, // a new process under a reused pid
		{0, 10, 0, 0},
	} {
		if got := cpuPercent(tc.t0, tc.t1, tc.sec); got != tc.want {
			t.Errorf("cpuPercent(%d, %d, %v) = %v, want %v", tc.t0, tc.t1, tc.sec, got, tc.want)
		}
	}
}

// The host edge on this process: it burns CPU between the samples, so
// its CPU use is above zero.
func TestLocalHost(t *testing.T) {
	var stop atomic.Bool
	go func() {
		for !stop.Load() { // burn CPU
		}
	}()
	defer stop.Store(true)
	got, err := (&Collector{Host: LocalHost, Window: 300 * time.Millisecond}).Collect(context.Background(), []Target{{PID: os.Getpid(), Tap: "lo"}})
	if err != nil {
		t.Fatal(err)
	}
	s := got[0]
	if s.Err != "" || s.CPUPercent <= 0 || s.RSSBytes == 0 || s.Tasks < 1 || s.NetRx == nil {
		t.Errorf("self: %+v", s)
	}
}
