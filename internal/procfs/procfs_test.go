package procfs

import (
	"os"
	"path/filepath"
	"testing"
)

// A QEMU's stat line, and ones whose comm holds what naive parsing trips on.
func TestParseStat(t *testing.T) {
	tail := " S 1 4242 4242 0 -1 4194624 96131 0 0 0 1520 377 0 0 20 0 7 0 918233 3067576320 95113 18446744073709551615 1 1 0 0 0 0 268444224 4096 17987 0 0 0 17 1 0 0 0 0 0\n"
	for _, tc := range []struct {
		name, in           string
		comm               string
		ppid, threads      int
		utime, stime, strt uint64
		bad                bool
	}{
		{name: "qemu", in: "4242 (qemu-system-x86)" + tail, comm: "qemu-system-x86", ppid: 1, threads: 7, utime: 1520, stime: 377, strt: 918233},
		{name: "spaces and parens", in: "7 (a) b (c))" + tail, comm: "a) b (c)", ppid: 1, threads: 7, utime: 1520, stime: 377, strt: 918233},
		{name: "no comm", in: "4242 qemu S 1", bad: true},
		{name: "short", in: "4242 (qemu) S 1 2 3", bad: true},
		{name: "bad number", in: "4242 (qemu) S x 4242 4242 0 -1 4194624 96131 0 0 0 1520 377 0 0 20 0 7 0 918233 1", bad: true},
		{name: "empty", in: "", bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := ParseStat([]byte(tc.in))
			if tc.bad {
				if err == nil {
					t.Fatalf("parsed %q: %+v", tc.in, st)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if st.Comm != tc.comm || st.PPID != tc.ppid || st.Threads != tc.threads || st.UTime != tc.utime || st.STime != tc.stime || st.StartTime != tc.strt || st.State != "S" {
				t.Errorf("got %+v", st)
			}
			if st.CPUTicks() != tc.utime+tc.stime {
				t.Errorf("cpu ticks %d", st.CPUTicks())
			}
		})
	}
}

func TestParseStatus(t *testing.T) {
	real := "Name:\tqemu-system-x86\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t4242\nPid:\t4242\nPPid:\t1\nUid:\t999\t999\t999\t999\nGid:\t998\t997\t998\t998\nVmPeak:\t 3067576 kB\nVmRSS:\t  380452 kB\nRssAnon:\t  371212 kB\nThreads:\t7\n"
	kthread := "Name:\tkthreadd\nState:\tS (sleeping)\nUid:\t0\t0\t0\t0\nThreads:\t1\n"
	for _, tc := range []struct {
		name, in string
		want     Status
		bad      bool
	}{
		{"qemu", real, Status{Name: "qemu-system-x86", RSSBytes: 380452 * 1024, UID: 999}, false},
		{"kernel thread", kthread, Status{Name: "kthreadd"}, false},
		{"bad rss", "Name:\tx\nVmRSS:\tlots kB\n", Status{}, true},
		{"empty", "", Status{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseStatus([]byte(tc.in))
			if (err != nil) != tc.bad || (!tc.bad && got != tc.want) {
				t.Errorf("got %+v, %v; want %+v (error %v)", got, err, tc.want, tc.bad)
			}
		})
	}
}

func TestParseIO(t *testing.T) {
	real := "rchar: 123456789\nwchar: 98765\nsyscr: 1000\nsyscw: 200\nread_bytes: 40960\nwrite_bytes: 8192\ncancelled_write_bytes: 0\n"
	got, err := ParseIO([]byte(real))
	if err != nil || got != (IO{ReadBytes: 40960, WriteBytes: 8192}) {
		t.Errorf("got %+v, %v", got, err)
	}
	for _, bad := range []string{"", "rchar: 1\n", "read_bytes: -1\nwrite_bytes: 1\n"} {
		if got, err := ParseIO([]byte(bad)); err == nil {
			t.Errorf("parsed %q: %+v", bad, got)
		}
	}
}

func TestParseMeminfo(t *testing.T) {
	modern := "MemTotal:         499540 kB\nMemFree:          430000 kB\nMemAvailable:     452300 kB\nBuffers:            1024 kB\nCached:            20000 kB\n"
	old := "MemTotal:         499540 kB\nMemFree:          430000 kB\nBuffers:            1024 kB\nCached:            20000 kB\n"
	for _, tc := range []struct {
		name, in    string
		total, used uint64
		bad         bool
	}{
		{name: "MemAvailable", in: modern, total: 499540 * 1024, used: (499540 - 452300) * 1024},
		{name: "before 3.14", in: old, total: 499540 * 1024, used: (499540 - 430000 - 1024 - 20000) * 1024},
		{name: "no total", in: "MemFree: 1 kB\n", bad: true},
		{name: "garbage", in: "MemTotal: many kB\n", bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ParseMeminfo([]byte(tc.in))
			if (err != nil) != tc.bad {
				t.Fatalf("error %v, want error %v", err, tc.bad)
			}
			if !tc.bad && (m.TotalBytes != tc.total || m.UsedBytes() != tc.used) {
				t.Errorf("got total %d used %d; want %d %d", m.TotalBytes, m.UsedBytes(), tc.total, tc.used)
			}
		})
	}
	if (Meminfo{TotalBytes: 1, AvailableBytes: 2}).UsedBytes() != 0 {
		t.Error("used underflows")
	}
}

func TestParseCmdlineAndCounter(t *testing.T) {
	if got := ParseCmdline([]byte("sh\x00-c\x00sleep 1\x00")); len(got) != 3 || got[2] != "sleep 1" {
		t.Errorf("cmdline %q", got)
	}
	if got := ParseCmdline(nil); got != nil {
		t.Errorf("empty cmdline %q", got)
	}
	if n, err := ParseCounter([]byte("123456\n")); err != nil || n != 123456 {
		t.Errorf("counter %d %v", n, err)
	}
	if _, err := ParseCounter([]byte("x")); err == nil {
		t.Error("parsed a bad counter")
	}
}

// The file edge on this process's real /proc, and sysfs counters in a
// copy of /sys/class/net.
func TestReadFiles(t *testing.T) {
	pid := os.Getpid()
	st, err := Proc.Stat(pid)
	if err != nil || st.PID != pid || st.Threads < 1 {
		t.Fatalf("stat of self: %+v %v", st, err)
	}
	status, err := Proc.Status(pid)
	if err != nil || status.RSSBytes == 0 {
		t.Fatalf("status of self: %+v %v", status, err)
	}
	if m, err := Proc.Meminfo(); err != nil || m.TotalBytes == 0 {
		t.Fatalf("meminfo: %+v %v", m, err)
	}
	if pids, err := Proc.PIDs(); err != nil || len(pids) == 0 {
		t.Fatalf("pids: %v %v", pids, err)
	}
	dir := t.TempDir()
	stats := filepath.Join(dir, "bg-0123", "statistics")
	if err := os.MkdirAll(stats, 0o755); err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(filepath.Join(stats, "rx_bytes"), []byte("100\n"), 0o644)
	_ = os.WriteFile(filepath.Join(stats, "tx_bytes"), []byte("200\n"), 0o644)
	if rx, tx, err := NetBytes(dir, "bg-0123"); err != nil || rx != 100 || tx != 200 {
		t.Errorf("net bytes %d %d %v", rx, tx, err)
	}
	if _, _, err := NetBytes(dir, "nope"); err == nil {
		t.Error("read a missing interface")
	}
}

// The guest's /proc is the guest's: parsers never panic on what it holds.
func FuzzParse(f *testing.F) {
	f.Add([]byte("4242 (qemu) S 1 4242 4242 0 -1 4194624 96131 0 0 0 1520 377 0 0 20 0 7 0 918233 1"))
	f.Add([]byte("MemTotal: 1 kB\nMemAvailable: 2 kB\n"))
	f.Add([]byte("Name:\tx\nVmRSS:\t1 kB\nUid:\t0\n"))
	f.Fuzz(func(_ *testing.T, b []byte) {
		_, _ = ParseStat(b)
		_, _ = ParseStatus(b)
		_, _ = ParseIO(b)
		_, _ = ParseMeminfo(b)
		_ = ParseCmdline(b)
	})
}
