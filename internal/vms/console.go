package vms

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bangerdev/banger/internal/agent/proto"
)

// consoleLog is where a VM's serial console goes (kept across stops).
func (s *Service) consoleLog(id string) string {
	return filepath.Join(s.Layout.VM(id), "console.log")
}

// consoleTail returns the last n non-empty lines of a console log.
func consoleTail(path string, n int) []string {
	return lastN(consoleLines(path), n)
}

func lastN(lines []string, n int) []string {
	if len(lines) > n {
		return lines[len(lines)-n:]
	}
	return lines
}

// runMarker begins each run's part of a console log, which keeps every
// run's lines: a start writes it (markRun) before anything boots, and how a
// run ended (its exit line, a panic) is read from its own lines only.
const runMarker = "--- banger: the VM starts"

// markRun appends a run's marker to a VM's console log.
func markRun(path string, at time.Time) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("console log: %w", err)
	}
	_, err = fmt.Fprintf(f, "%s at %s ---\n", runMarker, at.Format(time.RFC3339))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("console log: %w", err)
	}
	return nil
}

// consoleLines returns the non-empty lines the last run wrote to a console
// log (those after its marker), of the log's end (64 KiB).
func consoleLines(path string) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer func() { _ = f.Close() }()
	// Only the end matters; a long-running VM's log can be large.
	if fi, err := f.Stat(); err == nil && fi.Size() > 64<<10 {
		_, _ = f.Seek(fi.Size()-64<<10, 0)
	}
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(l) == "" {
			continue
		}
		if strings.HasPrefix(l, runMarker) {
			lines = lines[:0]
			continue
		}
		lines = append(lines, l)
	}
	return lines
}

// exitFromConsole finds the agent's last "main exited status=N" line: how
// the main process ended.
func exitFromConsole(lines []string) (proto.Exit, bool) {
	for i := len(lines) - 1; i >= 0; i-- {
		if e, ok := proto.ParseExitLine(lines[i]); ok {
			return e, true
		}
	}
	return proto.Exit{}, false
}

// panicLine finds the kernel's last panic line in the console: its index
// (-1 when none) and its text.
func panicLine(lines []string) (int, string) {
	for i := len(lines) - 1; i >= 0; i-- {
		if j := strings.Index(lines[i], "Kernel panic - not syncing"); j >= 0 {
			return i, strings.TrimSpace(lines[i][j:])
		}
	}
	return -1, ""
}

// LogOptions select what Logs streams.
type LogOptions struct {
	// Follow keeps streaming new output until the VM stops or ctx ends.
	Follow bool
	// Tail starts at the last Tail lines; negative means all.
	Tail int
}

// Logs copies a VM's serial console log to w, calling flush after each
// chunk. With Follow it keeps going until the VM stops or ctx ends.
func (s *Service) Logs(ctx context.Context, ref string, o LogOptions, w io.Writer, flush func()) error {
	vm, err := s.Get(ref)
	if err != nil {
		return err
	}
	f, err := os.Open(s.consoleLog(vm.ID))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	if o.Tail >= 0 {
		seekToTail(f, o.Tail)
	}
	for {
		if _, err := io.Copy(w, f); err != nil {
			return nil //nolint:nilerr // the reader went away
		}
		flush()
		if !o.Follow {
			return nil
		}
		lv := s.live.get(vm.ID)
		if lv == nil {
			_, _ = io.Copy(w, f)
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-lv.done:
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// seekToTail positions f at the start of its last n lines.
func seekToTail(f *os.File, n int) {
	fi, err := f.Stat()
	if err != nil {
		return
	}
	const chunk = 64 << 10
	start := max(fi.Size()-chunk*4, 0)
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		return
	}
	var offsets []int64
	pos := start
	br := bufio.NewReader(f)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 && line[len(line)-1] == '\n' {
			pos += int64(len(line))
			offsets = append(offsets, pos)
		}
		if err != nil {
			break
		}
	}
	target := start
	if len(offsets) > n {
		target = offsets[len(offsets)-n-1]
	}
	_, _ = f.Seek(target, io.SeekStart)
}
