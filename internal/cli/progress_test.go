package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/bangerdev/banger/pkg/progress"
)

func TestProgressPlainLines(t *testing.T) {
	var buf bytes.Buffer
	pv := newProgress(&buf)
	if pv.tty {
		t.Fatal("a buffer is not a terminal")
	}
	pv.Report(progress.Event{ID: "aaa", Action: "pull", Current: 0, Total: 100})
	for i := int64(1); i < 100; i++ {
		pv.Report(progress.Event{ID: "aaa", Action: "pull", Current: i, Total: 100})
	}
	pv.Report(progress.Event{ID: "bbb", Action: "cached", Total: 2048})
	pv.Report(progress.Event{ID: "aaa", Action: "done", Current: 100, Total: 100})
	pv.Message("converted")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	// A start line per task, an end line per task, the message: not one line
	// per byte count.
	if len(lines) != 4 {
		t.Fatalf("want 4 lines, got %d:\n%s", len(lines), buf.String())
	}
	if !strings.Contains(lines[0], "aaa") || !strings.Contains(lines[0], "pull") {
		t.Errorf("first line %q", lines[0])
	}
	if !strings.Contains(lines[1], "bbb") || !strings.Contains(lines[1], "cached") || !strings.Contains(lines[1], "2KiB") {
		t.Errorf("cached line %q", lines[1])
	}
	if !strings.Contains(lines[2], "done") || !strings.Contains(lines[2], "100B/100B") {
		t.Errorf("done line %q", lines[2])
	}
	if strings.Contains(buf.String(), "\x1b[") {
		t.Error("escape sequences in non-terminal output")
	}
}

func TestProgressBarLine(t *testing.T) {
	pv := &progressView{tty: true, width: 100}
	got := pv.line(progress.Event{ID: "abc", Action: "pull", Current: 50, Total: 100})
	if !strings.Contains(got, "[") || strings.Count(got, "=") == 0 || !strings.Contains(got, "50B/100B") {
		t.Fatalf("bar line %q", got)
	}
	if len(got) > 99 {
		t.Fatalf("line wider than the terminal: %d", len(got))
	}
}
