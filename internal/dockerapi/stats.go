package dockerapi

import (
	"context"
	"encoding/json"
	"net/http"
	"runtime"
	"strconv"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/bangerdev/banger/internal/agentclient"
	"github.com/bangerdev/banger/internal/procfs"
	"github.com/bangerdev/banger/internal/vms"
	"github.com/bangerdev/banger/internal/vmstats"
)

// statsInterval is how often a stats stream sends, as Docker's (each
// sample itself takes the collector's half-second window).
const statsInterval = time.Second

// stats answers the container's numbers from banger's stats collector,
// once (stream=false) or every second until the client leaves or the
// container stops. What banger does not measure is zero (see statsOf).
func (s *Server) stats(w http.ResponseWriter, r *http.Request) {
	vm, err := s.vm(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	stream := true
	if v := r.URL.Query().Get("stream"); v != "" {
		if stream, err = strconv.ParseBool(v); err != nil {
			writeError(w, badParam("stats: stream=%q is not a boolean", v))
			return
		}
	}
	if b, _ := strconv.ParseBool(r.URL.Query().Get("one-shot")); b {
		stream = false
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	rc := http.NewResponseController(w)
	for {
		st, live := s.sampleOne(r.Context(), vm)
		if r.Context().Err() != nil || enc.Encode(st) != nil || rc.Flush() != nil || !stream || !live {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-s.opts.Ctx.Done():
			return
		case <-time.After(statsInterval):
		}
	}
}

// sampleOne samples vm; a container that is not running (or stopped
// meanwhile) has Docker's zero numbers, and live false.
func (s *Server) sampleOne(ctx context.Context, vm vms.VM) (container.StatsResponse, bool) {
	zero := container.StatsResponse{ID: containerID(vm.ID), Name: "/" + vm.Name, OSType: "linux"}
	if !vm.State.Live() {
		return zero, false
	}
	got, err := s.opts.Ops.Stats(ctx, []string{vm.ID})
	if err != nil || len(got) != 1 || got[0].Err != "" {
		return zero, false
	}
	procs := -1
	if c, err := s.opts.Ops.Live.Agent(ctx, vm.ID); err == nil {
		if ps, err := agentclient.Over(c).Processes(ctx); err == nil {
			procs = len(ps)
		}
	}
	return statsOf(zero, got[0], procs, time.Now(), runtime.NumCPU()), true
}

// statsOf converts one sample to Docker's stats at now on a host of
// ncpu CPUs. Docker's CLI takes CPU % as the container's CPU time over
// the host's across the two samples, times the CPUs; banger's CPU time
// is the VMM process's (its ticks at the window's ends), and the host's
// is the window's wall time on every CPU, so the CLI prints the
// collector's CPUPercent. Memory is the guest's (used of its total, the
// limit a VM has); the block and network bytes are the drives' and the
// tap's. Not measured, so zero: per-CPU, user and kernel CPU time,
// throttling, memory cache and failures, packets, errors and drops,
// blkio beyond bytes, and the pid count when the agent does not answer.
func statsOf(out container.StatsResponse, st vmstats.Stats, procs int, now time.Time, ncpu int) container.StatsResponse {
	ns := func(ticks uint64) uint64 { return ticks * uint64(time.Second) / procfs.ClockTicks }
	host := func(t time.Time) uint64 { return uint64(t.UnixNano()) * uint64(ncpu) } //nolint:gosec // after 1970
	out.Read, out.PreRead = now, now.Add(-st.Elapsed)
	out.CPUStats = container.CPUStats{CPUUsage: container.CPUUsage{TotalUsage: ns(st.CPUTicks)}, SystemUsage: host(out.Read), OnlineCPUs: uint32(ncpu)}          //nolint:gosec // CPU counts are small
	out.PreCPUStats = container.CPUStats{CPUUsage: container.CPUUsage{TotalUsage: ns(st.PreCPUTicks)}, SystemUsage: host(out.PreRead), OnlineCPUs: uint32(ncpu)} //nolint:gosec // CPU counts are small
	if st.GuestMemUsed != nil && st.GuestMemTotal != nil {
		out.MemoryStats = container.MemoryStats{Usage: *st.GuestMemUsed, Limit: *st.GuestMemTotal}
	}
	if st.NetRx != nil && st.NetTx != nil {
		out.Networks = map[string]container.NetworkStats{"eth0": {RxBytes: *st.NetRx, TxBytes: *st.NetTx}}
	}
	if st.BlockRead != nil && st.BlockWrite != nil {
		out.BlkioStats.IoServiceBytesRecursive = []container.BlkioStatEntry{{Op: "read", Value: *st.BlockRead}, {Op: "write", Value: *st.BlockWrite}}
	}
	if procs >= 0 {
		out.PidsStats.Current = uint64(procs)
	}
	return out
}
