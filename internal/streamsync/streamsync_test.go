package streamsync

import (
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// collect runs chunks through a Scanner and renders the events.
func collect(chunks ...string) string {
	var s Scanner
	var out strings.Builder
	for _, c := range chunks {
		for _, ev := range s.Feed([]byte(c)) {
			if ev.Start {
				out.WriteString("<start " + ev.Token + ">")
			} else {
				out.Write(ev.Data)
			}
		}
	}
	return out.String()
}

func TestScanner(t *testing.T) {
	tok := "0123456789abcdef"
	sync := string(SyncLine(tok))
	tests := []struct {
		name   string
		chunks []string
		want   string
	}{
		{"plain data", []string{"hello", " world"}, "hello world"},
		{"junk then sync then data", []string{"stale bytes" + sync + "SSH-2.0-x\r\n"}, "stale bytes<start " + tok + ">SSH-2.0-x\r\n"},
		// The part of a split sync line passed on before it was complete
		// went to the session it ends.
		{"sync split across chunks", []string{"ab\nBANGER-SY", "NC 0123456789", "abcdef\nrest"}, "ab\nBANGER-SY<start " + tok + ">rest"},
		{"sync mid-session", []string{sync + "one" + sync + "two"}, "<start " + tok + ">one<start " + tok + ">two"},
		{"not a token", []string{"\nBANGER-SYNC 0123456789abcdeZ\nx"}, "\nBANGER-SYNC 0123456789abcdeZ\nx"},
		{"partial prefix at the end is not held", []string{"data\nBANGER"}, "data\nBANGER"},
		{"a version line's newline is not held", []string{"SSH-2.0-x\r\n"}, "SSH-2.0-x\r\n"},
		{"whole prefix held until its line ends", []string{"a\nBANGER-SYNC 01234", "56789abcdef\nb"}, "a<start " + tok + ">b"},
		{"held prefix that is no sync", []string{"a\nBANGER-SYNC 01234", "zz"}, "a\nBANGER-SYNC 01234zz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := collect(tt.chunks...); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func FuzzScanner(f *testing.F) {
	f.Add([]byte("x"+string(SyncLine("0123456789abcdef"))+"y"), 3)
	f.Add([]byte("\nBANGER-SYNC \n\nBANGER-SYNC-OK 00\n"), 1)
	f.Fuzz(func(t *testing.T, data []byte, split int) {
		// Whatever the chunking, the same sessions start, every byte that
		// is not part of a sync line is passed on exactly once, and the
		// last session gets the same bytes.
		if split <= 0 || split > len(data) {
			split = len(data) / 2
		}
		whole := collect(string(data))
		parts := collect(string(data[:split]), string(data[split:]))
		if strings.Count(whole, "<start ") != strings.Count(parts, "<start ") {
			t.Fatalf("sessions differ: %q vs %q", whole, parts)
		}
		lastOf := func(s string) string { return s[strings.LastIndex(s, ">")+1:] }
		if !strings.Contains(whole, "<start ") && !bytes.Contains(data, []byte(syncPrefix)) && parts != string(data) {
			t.Fatalf("data without a sync line must pass unchanged: %q -> %q", data, parts)
		}
		if strings.Contains(whole, "<start ") && lastOf(whole) != lastOf(parts) {
			t.Fatalf("the last session's bytes differ: %q vs %q", whole, parts)
		}
	})
}

// A host syncing over a dirty stream: the guest's stale output before its
// OK (and a stale OK of another token) is skipped; what follows is read.
func TestHostSkipsStaleOutput(t *testing.T) {
	host, guest := net.Pipe()
	go func() {
		r := make([]byte, 64)
		n, _ := guest.Read(r)
		var s Scanner
		var token string
		for _, ev := range s.Feed(r[:n]) {
			if ev.Start {
				token = ev.Token
			}
		}
		_, _ = guest.Write([]byte("\x00\x00\x00\x10stale packet"))
		_, _ = guest.Write(OKLine("ffffffffffffffff"))
		_, _ = guest.Write(OKLine(token))
		_, _ = guest.Write([]byte("SSH-2.0-agent\r\n"))
		_ = guest.Close()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Host(ctx, host)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(c)
	if string(got) != "SSH-2.0-agent\r\n" {
		t.Fatalf("after the sync the host read %q", got)
	}
}

func TestHostGivesUpWithTheContext(t *testing.T) {
	host, guest := net.Pipe()
	defer func() { _ = guest.Close() }()
	go func() { _, _ = io.Copy(io.Discard, guest) }() // a guest that never answers
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := Host(ctx, host); err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("want a deadline error, got %v", err)
	}
	if _, err := host.Write([]byte("x")); err == nil {
		t.Fatal("a failed sync must close the connection")
	}
}
