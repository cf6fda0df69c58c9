package dockerapi

import (
	"bufio"
	"encoding/json"
	"math"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/bangerdev/banger/internal/agent/proto"
	"github.com/bangerdev/banger/internal/vms"
	"github.com/bangerdev/banger/internal/vmstats"
)

// TestPauseRename: pause, unpause and rename call the VM service with
// the VM's id and answer 204; its errors keep their Docker status.
func TestPauseRename(t *testing.T) {
	e := newOpsEnv(t, runningVM, vms.VM{ID: "abc000000002", Name: "db", State: vms.Running})
	for _, tc := range []struct {
		path string
		code int
		call string
	}{
		{"/v1.41/containers/web/pause", 204, "pause abc000000001"},
		{"/containers/" + containerID("abc000000001") + "/unpause", 204, "unpause abc000000001"},
		{"/containers/web/rename?name=/front", 204, "rename abc000000001 front"},
		{"/containers/front/rename?name=db", 409, "rename abc000000001 db"},
		{"/containers/front/rename", 400, ""},
		{"/containers/nope/pause", 404, ""},
	} {
		n := len(e.live.calls)
		rec := do(e.s, "POST", tc.path, "")
		var call string
		if len(e.live.calls) > n {
			call = e.live.calls[n]
		}
		if rec.Code != tc.code || call != tc.call {
			t.Errorf("POST %s: %d %s, call %q; want %d, %q", tc.path, rec.Code, rec.Body, call, tc.code, tc.call)
		}
	}
	if vm, _ := e.vms.Get("front"); vm.State != vms.Running {
		t.Errorf("after pause and unpause the VM is %s", vm.State)
	}
}

// TestTop: without ps_args the agent's process list (the guest's /proc)
// in banger top's columns; with them the guest's ps, split as Docker
// splits it; a container that is not running is a conflict.
func TestTop(t *testing.T) {
	e := newOpsEnv(t, runningVM, vms.VM{ID: "abc000000003", Name: "done", State: vms.Exited})
	e.withAgent(t)
	var resp container.TopResponse
	rec := do(e.s, "GET", "/containers/web/top", "")
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || rec.Code != 200 {
		t.Fatalf("top: %d %s", rec.Code, rec.Body)
	}
	self := false
	for _, p := range resp.Processes {
		self = self || p[0] == strconv.Itoa(os.Getpid())
	}
	if !slices.Equal(resp.Titles, []string{"PID", "PPID", "USER", "STAT", "RSS", "TIME", "COMMAND"}) || !self {
		t.Errorf("top: titles %v, %d processes; want banger top's columns and this test among them", resp.Titles, len(resp.Processes))
	}
	rec = do(e.s, "GET", "/containers/web/top?ps_args=-o+pid,args", "")
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || rec.Code != 200 {
		t.Fatalf("top with ps_args: %d %s", rec.Code, rec.Body)
	}
	if !slices.Equal(resp.Titles, []string{"PID", "COMMAND"}) || len(resp.Processes) == 0 || len(resp.Processes[0]) != 2 {
		t.Errorf("top -o pid,args: %v %v", resp.Titles, resp.Processes)
	}
	if rec := do(e.s, "GET", "/containers/done/top", ""); rec.Code != 409 || message(t, rec) != "Container done is not running" {
		t.Errorf("top of a stopped container: %d %s", rec.Code, rec.Body)
	}
}

// TestParsePS: ps output split as Docker splits it — the titles, then
// as many columns, the last taking the rest of the line.
func TestParsePS(t *testing.T) {
	got, err := parsePS("  PID USER     COMMAND\n    1 root     /sbin/init splash\n\n   42 www-data nginx: worker process\n")
	if err != nil || !slices.Equal(got.Titles, []string{"PID", "USER", "COMMAND"}) || len(got.Processes) != 2 ||
		!slices.Equal(got.Processes[1], []string{"42", "www-data", "nginx: worker process"}) {
		t.Errorf("parsePS: %+v %v", got, err)
	}
	if _, err := parsePS("\n"); err == nil {
		t.Error("parsePS of nothing: no error")
	}
	top := topOf([]proto.Process{{PID: 7, PPID: 1, UID: 1000, State: "S", RSSBytes: 2 << 20, CPUTicks: 6150, Command: "sleep 9"}})
	if !slices.Equal(top.Processes[0], []string{"7", "1", "1000", "S", "2MiB", "1:01", "sleep 9"}) {
		t.Errorf("topOf: %v", top.Processes[0])
	}
}

// TestStatsOf: the stats JSON carries the collector's numbers so that
// Docker's CLI arithmetic (CPU delta over system delta, times the CPUs)
// prints the collector's CPU %; memory is the guest's, network the
// tap's, block I/O the drives'.
func TestStatsOf(t *testing.T) {
	u := func(n uint64) *uint64 { return &n }
	st := vmstats.Stats{ID: "abc000000001", CPUPercent: 37.5, PreCPUTicks: 1000, CPUTicks: 1075, Elapsed: 2 * time.Second,
		GuestMemUsed: u(100 << 20), GuestMemTotal: u(512 << 20), NetRx: u(10), NetTx: u(20), BlockRead: u(30), BlockWrite: u(40)}
	now := time.Unix(1700000000, 0)
	out := statsOf(container.StatsResponse{ID: "x"}, st, 4, now, 8)
	cpuDelta := float64(out.CPUStats.CPUUsage.TotalUsage - out.PreCPUStats.CPUUsage.TotalUsage)
	sysDelta := float64(out.CPUStats.SystemUsage - out.PreCPUStats.SystemUsage)
	if pct := cpuDelta / sysDelta * float64(out.CPUStats.OnlineCPUs) * 100; math.Abs(pct-st.CPUPercent) > 0.01 {
		t.Errorf("docker's CPU %% of these stats is %.2f, want the collector's %.2f", pct, st.CPUPercent)
	}
	if out.MemoryStats.Usage != 100<<20 || out.MemoryStats.Limit != 512<<20 || out.Networks["eth0"].RxBytes != 10 || out.Networks["eth0"].TxBytes != 20 ||
		out.BlkioStats.IoServiceBytesRecursive[1].Value != 40 || out.PidsStats.Current != 4 || !out.PreRead.Equal(now.Add(-2*time.Second)) {
		t.Errorf("stats: %+v", out)
	}
	if none := statsOf(container.StatsResponse{}, vmstats.Stats{}, -1, now, 8); none.Networks != nil || none.MemoryStats.Limit != 0 || none.PidsStats.Current != 0 {
		t.Errorf("unknown numbers are not zero: %+v", none)
	}
}

// TestStatsEndpoint: stream=false answers one sample; a stream sends one
// a second; a stopped container answers Docker's zeros once.
func TestStatsEndpoint(t *testing.T) {
	e := newOpsEnv(t, runningVM, vms.VM{ID: "abc000000003", Name: "done", State: vms.Exited})
	e.stats = []vmstats.Stats{{ID: runningVM.ID, CPUPercent: 50, PreCPUTicks: 10, CPUTicks: 60, Elapsed: time.Second}}
	e.build(t)
	rec := do(e.s, "GET", "/v1.41/containers/web/stats?stream=false", "")
	var got container.StatsResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || got.Name != "/web" || got.CPUStats.CPUUsage.TotalUsage != 600_000_000 {
		t.Errorf("stats stream=false: %s %v", rec.Body, err)
	}
	rec = do(e.s, "GET", "/containers/done/stats?stream=true", "")
	if n := strings.Count(rec.Body.String(), "\n"); n != 1 || !strings.Contains(rec.Body.String(), `"read":"0001-01-01T00:00:00Z"`) {
		t.Errorf("stats of a stopped container: %d lines %s", n, rec.Body)
	}
	srv := httptest.NewServer(e.s)
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/containers/web/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	sc := bufio.NewScanner(resp.Body)
	start := time.Now()
	for i := 0; i < 2; i++ {
		if !sc.Scan() {
			t.Fatalf("the stream ended after %d samples: %v", i, sc.Err())
		}
	}
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Errorf("two streamed samples came %v apart, want a second", d)
	}
}
