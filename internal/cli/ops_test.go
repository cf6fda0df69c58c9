package cli

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/client"
)

func TestStatsRows(t *testing.T) {
	n := func(v uint64) *uint64 { return &v }
	rows := statsRows([]api.VMStats{
		{ID: "0123456789abcdef", Name: "web", CPUPercent: 12.345, VMMRSSBytes: 300 << 20, PIDs: 7,
			GuestMemoryUsedBytes: n(128 << 20), GuestMemoryTotalBytes: n(512 << 20),
			NetRxBytes: n(1536), NetTxBytes: n(100), BlockReadBytes: n(1 << 30), BlockWriteBytes: n(0)},
		{ID: "abc", Name: "paused", VMMRSSBytes: 1 << 20},
		{ID: "def", Name: "gone", Error: "the VMM could not be read"},
	})
	want := [][]string{
		{"ID", "NAME", "CPU %", "VMM MEM", "GUEST MEM USAGE / TOTAL", "MEM %", "NET I/O", "BLOCK I/O", "PIDS"},
		{"0123456789ab", "web", "12.35%", "300MiB", "128MiB / 512MiB", "25.00%", "1.5KiB / 100B", "1GiB / 0B", "7"},
		{"abc", "paused", "0.00%", "1MiB", "- / -", "-", "- / -", "- / -", "0"},
		{"def", "gone", "-", "-", "the VMM could not be read", "-", "-", "-", "-"},
	}
	for i := range want {
		if strings.Join(rows[i], "|") != strings.Join(want[i], "|") {
			t.Errorf("row %d:\n got %q\nwant %q", i, rows[i], want[i])
		}
	}
}

func TestTopRows(t *testing.T) {
	rows := topRows([]client.GuestProcess{
		{PID: 1, PPID: 0, User: "root", State: "S", RSSBytes: 4 << 20, CPUTicks: 12345, Command: "/sbin/banger-agent"},
		{PID: 2, PPID: 0, User: "root", State: "S", Command: "[kthreadd]"},
	})
	if got := strings.Join(rows[1], "|"); got != "1|0|root|S|4MiB|2:03|/sbin/banger-agent" {
		t.Errorf("row: %q", got)
	}
	if got := strings.Join(rows[2], "|"); got != "2|0|root|S|0B|0:00|[kthreadd]" {
		t.Errorf("kernel thread row: %q", got)
	}
}

func TestPrivatePort(t *testing.T) {
	for in, want := range map[string]string{"80": "80/tcp", "53/UDP": "53/udp", "443/tcp": "443/tcp", "0": "", "x": "", "80/sctp": "", "70000": ""} {
		got, err := privatePort(in)
		if got != want || (err != nil) != (want == "") {
			t.Errorf("privatePort(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// Streaming stats print a table per sample until interrupted (success),
// redrawing a terminal; a failed sample ends the stream with its error.
func TestStreamStats(t *testing.T) {
	for _, redraw := range []bool{false, true} {
		ctx, cancel := context.WithCancel(context.Background())
		calls := 0
		var out strings.Builder
		err := streamStats(ctx, &out, outputFormat{kind: "table"}, redraw, time.Millisecond, func(context.Context) ([]api.VMStats, error) {
			calls++
			if calls == 3 {
				cancel()
			}
			return []api.VMStats{{ID: "a", Name: "web", PIDs: calls}}, nil
		})
		if err != nil {
			t.Fatalf("interrupted stream: %v", err)
		}
		if n := strings.Count(out.String(), "NAME"); n != 2 {
			t.Errorf("%d tables printed before the interrupt, want 2:\n%s", n, out.String())
		}
		if got := strings.Contains(out.String(), "\033[2J"); got != redraw {
			t.Errorf("redraw %v: clear codes %v", redraw, got)
		}
	}
	boom := errors.New("daemon went away")
	err := streamStats(context.Background(), io.Discard, outputFormat{kind: "json"}, false, time.Millisecond, func(context.Context) ([]api.VMStats, error) {
		return nil, boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("failed sample: %v", err)
	}
}
