package proto

import (
	"strings"
	"syscall"
	"testing"
)

func TestMainExitLine(t *testing.T) {
	tests := []struct {
		line string
		n    int
		ok   bool
	}{
		{MainExitLine(0), 0, true},
		{MainExitLine(137) + "\r\n", 137, true},
		{"[    3.4] " + MainExitLine(7), 7, true},
		{"banger-agent: main exited status=", 0, false},
		{"banger-agent: main exited status=256", 0, false},
		{"banger-agent: main exited status=12345", 0, false},
		{"banger-agent: main exited status=3 and more", 0, false},
		{"banger-agent: main exited status=-1", 0, false},
		{"random console noise", 0, false},
	}
	for _, tt := range tests {
		n, ok := ParseMainExitLine(tt.line)
		if n != tt.n || ok != tt.ok {
			t.Errorf("ParseMainExitLine(%q) = %d, %v; want %d, %v", tt.line, n, ok, tt.n, tt.ok)
		}
	}
}

func TestExitLineWithSignalAndOOM(t *testing.T) {
	tests := []struct {
		line string
		want Exit
		ok   bool
	}{
		{Exit{Status: 137, Signal: "KILL", OOM: true}.Line(), Exit{Status: 137, Signal: "KILL", OOM: true}, true},
		{Exit{Status: 143, Signal: "TERM"}.Line() + "\r", Exit{Status: 143, Signal: "TERM"}, true},
		{Exit{Status: 3}.Line(), Exit{Status: 3}, true},
		{MainExitLine(137) + " signal=kill", Exit{}, false},
		{MainExitLine(137) + " signal=", Exit{}, false},
		{MainExitLine(137) + " signal=TOOLONGNAME", Exit{}, false},
		{MainExitLine(9) + " oom extra", Exit{}, false},
	}
	for _, tt := range tests {
		got, ok := ParseExitLine(tt.line)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseExitLine(%q) = %+v, %v; want %+v, %v", tt.line, got, ok, tt.want, tt.ok)
		}
	}
}

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]syscall.Signal{"": syscall.SIGTERM, "TERM": syscall.SIGTERM, "sigkill": syscall.SIGKILL, "Hup": syscall.SIGHUP, "9": syscall.SIGKILL, "SIGUSR1": syscall.SIGUSR1} {
		if got, err := ParseSignal(in, syscall.SIGTERM); err != nil || got != want {
			t.Errorf("ParseSignal(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"0", "65", "NOPE", "SIG", "-1"} {
		if _, err := ParseSignal(bad, syscall.SIGTERM); err == nil {
			t.Errorf("ParseSignal(%q) accepted", bad)
		}
	}
	if SignalText(syscall.SIGKILL) != "KILL" || SignalText(syscall.SIGTERM) != "TERM" || SignalText(35) != "35" {
		t.Errorf("SignalText: %q %q %q", SignalText(syscall.SIGKILL), SignalText(syscall.SIGTERM), SignalText(35))
	}
}

func TestPayloadRoundTrip(t *testing.T) {
	var got ExecPayload
	if err := Unmarshal(Marshal(ExecPayload{Argv: []string{"a", "b c"}, User: "app"}), &got); err != nil || got.User != "app" || len(got.Argv) != 2 {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	if err := Unmarshal([]byte{0, 0, 0, 9, '{'}, &got); err == nil {
		t.Fatal("a truncated payload decoded")
	}
}

// The console log is guest output the host parses.
func FuzzParseMainExitLine(f *testing.F) {
	f.Add(MainExitLine(42))
	f.Add("x banger-agent: main exited status=9\r")
	f.Add(Exit{Status: 137, Signal: "KILL", OOM: true}.Line())
	f.Fuzz(func(t *testing.T, line string) {
		e, ok := ParseExitLine(line)
		if ok && (e.Status < 0 || e.Status > 255 || !strings.Contains(line, MainExitLine(e.Status)[:len(mainExitPrefix)])) {
			t.Fatalf("ParseExitLine(%q) = %+v", line, e)
		}
		if ok {
			if again, ok2 := ParseExitLine(e.Line()); !ok2 || again != e {
				t.Fatalf("%+v does not survive its own line: %+v %v", e, again, ok2)
			}
		}
	})
}
