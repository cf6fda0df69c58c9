package proto

import (
	"strings"
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
	f.Fuzz(func(t *testing.T, line string) {
		n, ok := ParseMainExitLine(line)
		if ok && (n < 0 || n > 255 || !strings.Contains(line, MainExitLine(n)[:len(mainExitPrefix)])) {
			t.Fatalf("ParseMainExitLine(%q) = %d", line, n)
		}
	})
}
