package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/bangerdev/banger/internal/units"
	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/progress"
)

// progressView shows progress events: one redrawn bar per task on a
// terminal, and plain lines (a task's start and end) otherwise, so logs and
// CI output stay readable.
type progressView struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool
	order []string
	tasks map[string]progress.Event
	drawn int
	last  time.Time
	width int
}

// newProgress returns a view writing to w; bars are drawn only when w is a
// terminal.
func newProgress(w io.Writer) *progressView {
	pv := &progressView{w: w, tasks: map[string]progress.Event{}, width: 80}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		pv.tty = true
		if cols, _, err := term.GetSize(int(f.Fd())); err == nil && cols > 40 {
			pv.width = cols
		}
	}
	return pv
}

// watch feeds the view from an event stream.
func (pv *progressView) watch() api.Watch {
	return api.Watch{Progress: pv.Report, Message: pv.Message}
}

// Report takes one event; it is a progress.Reporter.
func (pv *progressView) Report(e progress.Event) {
	pv.mu.Lock()
	defer pv.mu.Unlock()
	prev, seen := pv.tasks[e.ID]
	if !seen {
		pv.order = append(pv.order, e.ID)
	}
	pv.tasks[e.ID] = e
	if pv.tty {
		if e.Done() || !seen || time.Since(pv.last) > 100*time.Millisecond {
			pv.redraw()
		}
		return
	}
	if !seen || e.Action != prev.Action || e.Done() {
		_, _ = fmt.Fprintln(pv.w, pv.line(e))
	}
}

// Message prints a line of text above the bars.
func (pv *progressView) Message(s string) {
	pv.mu.Lock()
	defer pv.mu.Unlock()
	if pv.tty {
		pv.clear()
		_, _ = fmt.Fprintln(pv.w, s)
		pv.redraw()
		return
	}
	_, _ = fmt.Fprintln(pv.w, s)
}

// Finish draws the final state once more.
func (pv *progressView) Finish() {
	pv.mu.Lock()
	defer pv.mu.Unlock()
	if pv.tty {
		pv.redraw()
	}
}

func (pv *progressView) clear() {
	if pv.drawn > 0 {
		_, _ = fmt.Fprintf(pv.w, "\x1b[%dA\x1b[J", pv.drawn)
		pv.drawn = 0
	}
}

func (pv *progressView) redraw() {
	pv.clear()
	var b strings.Builder
	for _, id := range pv.order {
		b.WriteString(pv.line(pv.tasks[id]))
		b.WriteByte('\n')
	}
	_, _ = io.WriteString(pv.w, b.String())
	pv.drawn = len(pv.order)
	pv.last = time.Now()
}

// line renders one task: "a1b2c3d4e5f6  pull  [=====>    ]  12.0MiB/30.5MiB".
func (pv *progressView) line(e progress.Event) string {
	head := fmt.Sprintf("%-12s  %-8s", e.ID, e.Action)
	var tail string
	switch {
	case e.Total > 0:
		tail = units.FormatSize(e.Current) + "/" + units.FormatSize(e.Total)
		if pv.tty && !e.Done() {
			barw := max(10, min(40, pv.width-len(head)-len(tail)-8))
			filled := int(int64(barw) * min(e.Current, e.Total) / e.Total)
			tail = "[" + strings.Repeat("=", filled) + strings.Repeat(" ", barw-filled) + "]  " + tail
		}
	case e.Current > 0:
		tail = units.FormatSize(e.Current)
	}
	s := strings.TrimRight(head+"  "+tail, " ")
	if e.Message != "" {
		s += "  " + e.Message
	}
	if pv.tty && len(s) > pv.width-1 {
		s = s[:pv.width-1]
	}
	return s
}
