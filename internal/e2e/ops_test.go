package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bangerdev/banger/pkg/api"
)

// counterMain serves /www over HTTP (a 256 KiB file for traffic) and
// writes a counter to /tmp/c every 100 ms: a guest that shows whether it
// runs.
const counterMain = "mkdir -p /www && dd if=/dev/zero of=/www/big bs=1024 count=256 2>/dev/null && httpd -p 80 -h /www && " +
	"i=0; while :; do i=$((i+1)); echo $i > /tmp/c.new; mv /tmp/c.new /tmp/c; sleep 0.1; done"

// TestPauseStatsTopPortRename drives the workload commands on one real
// VM: port, stats, top, pause/unpause (the guest freezes), stop and
// rm -f of a paused VM, and rename.
func TestPauseStatsTopPortRename(t *testing.T) {
	f := env(t)
	pub := freeTCPPort(t)
	id := strings.TrimSpace(f.must(t, "run", "-d", "--name", "ops", "-p", fmt.Sprintf("%d:80", pub), "busybox", "--", "sh", "-c", counterMain))
	t.Cleanup(func() { f.cli(nil, "rm", "-f", id) })
	counter := func(ref string) (int, time.Time) {
		t.Helper()
		out := f.must(t, "exec", ref, "--", "cat", "/tmp/c")
		n, err := strconv.Atoi(strings.TrimSpace(out))
		if err != nil {
			t.Fatalf("counter %q: %v", out, err)
		}
		return n, time.Now()
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if out, _, code := f.cli(nil, "exec", "ops", "--", "cat", "/tmp/c"); code == 0 && strings.TrimSpace(out) != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the guest's counter never started")
		}
		time.Sleep(200 * time.Millisecond)
	}

	t.Run("port", func(t *testing.T) {
		if out := f.must(t, "port", "ops"); out != fmt.Sprintf("80/tcp -> 0.0.0.0:%d\n", pub) {
			t.Errorf("port ops: %q", out)
		}
		if out := f.must(t, "port", "ops", "80/tcp"); out != fmt.Sprintf("0.0.0.0:%d\n", pub) {
			t.Errorf("port ops 80/tcp: %q", out)
		}
	})

	t.Run("stats", func(t *testing.T) {
		s0 := f.stats(t, "ops")
		if s0.ID != id || s0.VMMRSSBytes < 16<<20 || s0.PIDs < 2 || s0.Error != "" {
			t.Errorf("stats: %+v; want the VMM's RSS and tasks", s0)
		}
		if s0.GuestMemoryTotalBytes == nil || *s0.GuestMemoryTotalBytes < 64<<20 || s0.GuestMemoryUsedBytes == nil || *s0.GuestMemoryUsedBytes == 0 {
			t.Errorf("guest memory %v / %v: want the guest's meminfo", s0.GuestMemoryUsedBytes, s0.GuestMemoryTotalBytes)
		}
		if s0.BlockReadBytes == nil || *s0.BlockReadBytes == 0 {
			t.Errorf("block read %v: the guest read its root disk to boot", s0.BlockReadBytes)
		}
		if s0.NetRxBytes == nil || s0.NetTxBytes == nil {
			t.Fatalf("no network counters: %+v", s0)
		}
		ip := f.inspect(t, "ops").Runtime.IP
		c := http.Client{Timeout: 10 * time.Second}
		for range 4 {
			r, err := c.Get("http://" + ip + "/big")
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, r.Body)
			_ = r.Body.Close()
		}
		s1 := f.stats(t, "ops")
		if sent := *s1.NetTxBytes - *s0.NetTxBytes; sent < 4*256<<10 {
			t.Errorf("the guest sent %d bytes serving 4 × 256 KiB; want at least 1 MiB (tx %d → %d)", sent, *s0.NetTxBytes, *s1.NetTxBytes)
		}
		if *s1.NetRxBytes <= *s0.NetRxBytes {
			t.Errorf("the guest's received bytes did not grow: %d → %d", *s0.NetRxBytes, *s1.NetRxBytes)
		}
		if out := f.must(t, "stats", "--no-stream"); !strings.Contains(out, "GUEST MEM USAGE / TOTAL") || !strings.Contains(out, "ops") {
			t.Errorf("stats table:\n%s", out)
		}
	})

	t.Run("top", func(t *testing.T) {
		out := f.must(t, "top", "ops")
		if !strings.Contains(out, "COMMAND") || !strings.Contains(out, "echo $i > /tmp/c.new") || !strings.Contains(out, "httpd -p 80") {
			t.Errorf("top does not list the main process and httpd:\n%s", out)
		}
		var procs []struct {
			PID     int    `json:"pid"`
			Command string `json:"command"`
		}
		if err := json.Unmarshal([]byte(f.must(t, "top", "--format", "json", "ops")), &procs); err != nil || len(procs) < 3 || procs[0].PID != 1 {
			t.Errorf("top --format json: %v %+v", err, procs)
		}
		if out := f.must(t, "top", "ops", "-o", "pid,comm"); !strings.Contains(out, "httpd") {
			t.Errorf("top with ps options (the guest's ps):\n%s", out)
		}
	})

	t.Run("pause freezes the guest", func(t *testing.T) {
		c0, t0 := counter("ops")
		f.must(t, "pause", "ops")
		if vm := f.inspect(t, "ops"); vm.State != "paused" {
			t.Fatalf("after pause: state %s", vm.State)
		}
		if out := f.must(t, "ps", "--filter", "state=paused", "-q"); strings.TrimSpace(out) != id {
			t.Errorf("ps --filter state=paused: %q", out)
		}
		if _, errOut, code := f.cli(nil, "exec", "ops", "--", "true"); code != 125 || !strings.Contains(errOut, "paused") || !strings.Contains(errOut, "banger unpause ops") {
			t.Errorf("exec on a paused VM: exit %d: %s", code, errOut)
		}
		if s := f.stats(t, "ops"); s.VMMRSSBytes == 0 || s.GuestMemoryUsedBytes != nil {
			t.Errorf("stats of a paused VM: %+v; want the VMM's numbers and no guest's", s)
		}
		if s := f.stats(t, "ops"); s.CPUPercent > 50 {
			t.Errorf("a paused VM's VMM uses %.1f%% CPU", s.CPUPercent)
		}
		time.Sleep(3 * time.Second)
		f.must(t, "unpause", "ops")
		c1, t1 := counter("ops")
		time.Sleep(2 * time.Second)
		c2, t2 := counter("ops")
		rate := float64(c2-c1) / t2.Sub(t1).Seconds()
		ran := float64(c1 - c0)
		t.Logf("counter %d → %d over %.1fs with 3s paused, then %.1f/s running", c0, c1, t1.Sub(t0).Seconds(), rate)
		if c2 <= c1 {
			t.Fatalf("the counter does not advance after unpause: %d → %d", c1, c2)
		}
		if limit := rate * (t1.Sub(t0).Seconds() - 2); ran >= limit {
			t.Errorf("the counter advanced %v while the VM was paused 3 of %.1fs; at %.1f/s it would reach %.0f in the time not paused +1s", ran, t1.Sub(t0).Seconds(), rate, limit)
		}
	})

	t.Run("stop of a paused VM", func(t *testing.T) {
		f.must(t, "pause", "ops")
		f.must(t, "stop", "-t", "2", "ops")
		vm := f.inspect(t, "ops")
		if vm.State != "exited" || vm.ExitReason != "" {
			t.Errorf("stopped paused VM: state %s reason %q; want exited by its agent", vm.State, vm.ExitReason)
		}
	})

	t.Run("rename", func(t *testing.T) {
		f.must(t, "start", "ops")
		f.must(t, "rename", "ops", "ops2")
		if out := f.must(t, "exec", "ops2", "--", "echo", "renamed"); out != "renamed\n" {
			t.Errorf("exec after rename: %q", out)
		}
		if _, errOut, code := f.cli(nil, "exec", "ops", "--", "true"); code != 125 || !strings.Contains(errOut, `vm "ops": not found`) {
			t.Errorf("exec of the old name: exit %d: %s", code, errOut)
		}
	})

	t.Run("rm -f of a paused VM", func(t *testing.T) {
		f.must(t, "pause", "ops2")
		f.must(t, "rm", "-f", "ops2")
		f.assertNoTrace(t, id)
	})
}

// stats samples one VM once.
func (f *fixture) stats(t *testing.T, ref string) api.VMStats {
	t.Helper()
	var list []api.VMStats
	if err := json.Unmarshal([]byte(f.must(t, "stats", "--no-stream", "--format", "json", ref)), &list); err != nil || len(list) != 1 {
		t.Fatalf("stats --format json: %v, %d entries", err, len(list))
	}
	return list[0]
}
