package vmlogs

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// entryAt is line i of a test log: "line i\n" at t0+i seconds.
func entryAt(i int) Entry {
	s := Stdout
	if i%3 == 0 {
		s = Stderr
	}
	return Entry{Stream: s, Time: t0.Add(time.Duration(i) * time.Second), Data: fmt.Appendf(nil, "line %03d\n", i)}
}

func writeLog(t *testing.T, path string, lim Limits, from, to int) {
	t.Helper()
	f, err := OpenFile(path, lim)
	if err != nil {
		t.Fatal(err)
	}
	for i := from; i < to; i++ {
		if err := f.Write(entryAt(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func numbers(t *testing.T, es []Entry) []int {
	t.Helper()
	var out []int
	for _, e := range es {
		var n int
		if _, err := fmt.Sscanf(string(e.Data), "line %d\n", &n); err != nil {
			t.Fatalf("entry %q: %v", e.Data, err)
		}
		if want := entryAt(n); e.Stream != want.Stream || !e.Time.Equal(want.Time) {
			t.Fatalf("entry %d: stream %v time %v, want %v %v", n, e.Stream, e.Time, want.Stream, want.Time)
		}
		out = append(out, n)
	}
	return out
}

func span(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

// TestRotation: at the cap the file rotates, no file passes the cap, the
// oldest file goes, and what is kept reads back as the newest entries in
// order with no gap.
func TestRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "main.log")
	lineLen := int64(len(entryAt(0).Marshal()))
	lim := Limits{MaxSize: 10 * lineLen, MaxFiles: 3}
	writeLog(t, path, lim, 0, 45)
	for _, name := range Files(path, lim.MaxFiles) {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatalf("rotated file missing: %v", err)
		}
		if fi.Size() > lim.MaxSize {
			t.Errorf("%s is %d bytes, over the cap %d", name, fi.Size(), lim.MaxSize)
		}
	}
	if _, err := os.Stat(path + ".3"); !os.IsNotExist(err) {
		t.Errorf("a fourth file exists with MaxFiles 3: %v", err)
	}
	got := numbers(t, mustRead(t, path, lim.MaxFiles, All))
	if want := span(20, 45); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("kept %v, want %v", got, want)
	}
	// Reopening appends (a stop/start, a new daemon).
	writeLog(t, path, lim, 45, 47)
	got = numbers(t, mustRead(t, path, lim.MaxFiles, Query{Tail: 3}))
	if fmt.Sprint(got) != fmt.Sprint([]int{44, 45, 46}) {
		t.Errorf("tail after reopen = %v", got)
	}
}

func mustRead(t *testing.T, path string, files int, q Query) []Entry {
	t.Helper()
	es, err := ReadLog(path, files, q)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// TestQueryAcrossFiles: tail, since and until select across rotated files.
func TestQueryAcrossFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "main.log")
	lineLen := int64(len(entryAt(0).Marshal()))
	lim := Limits{MaxSize: 10 * lineLen, MaxFiles: 3}
	writeLog(t, path, lim, 0, 30) // three full files: 0-9, 10-19, 20-29
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }
	for _, tc := range []struct {
		name string
		q    Query
		want []int
	}{
		{"all", All, span(0, 30)},
		{"tail 0", Query{Tail: 0}, nil},
		{"tail 2", Query{Tail: 2}, []int{28, 29}},
		{"tail across two files", Query{Tail: 12}, span(18, 30)},
		{"tail more than kept", Query{Tail: 100}, span(0, 30)},
		{"since in the oldest file", Query{Since: at(7), Tail: -1}, span(7, 30)},
		{"since and until across files", Query{Since: at(8), Until: at(12), Tail: -1}, span(8, 12)},
		{"since and tail", Query{Since: at(5), Tail: 3}, span(27, 30)},
		{"until before everything", Query{Until: at(0), Tail: -1}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := numbers(t, mustRead(t, path, lim.MaxFiles, tc.q))
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestTornLastLine: a crash cut the last line; the reader skips it, and
// the next writer starts a fresh line so everything after reads back.
func TestTornLastLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "main.log")
	writeLog(t, path, DefaultLimits, 0, 3)
	whole := entryAt(3).Marshal()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.Write(whole[:len(whole)/2])
	_ = f.Close()
	if got := numbers(t, mustRead(t, path, 2, All)); fmt.Sprint(got) != fmt.Sprint(span(0, 3)) {
		t.Fatalf("with a torn line: %v", got)
	}
	writeLog(t, path, DefaultLimits, 4, 6)
	if got := numbers(t, mustRead(t, path, 2, All)); fmt.Sprint(got) != fmt.Sprint([]int{0, 1, 2, 4, 5}) {
		t.Fatalf("after reopening: %v", got)
	}
	b, _ := os.ReadFile(path)
	if !bytes.Contains(b, append(whole[:len(whole)/2], '\n')) {
		t.Errorf("the torn line was not ended with a newline:\n%s", b)
	}
}

// TestSplitter: lines are cut at newlines; a partial line waits for its
// newline until it reaches MaxLine, and the end flushes what is left.
func TestSplitter(t *testing.T) {
	long := bytes.Repeat([]byte("x"), MaxLine+10)
	for _, tc := range []struct {
		name   string
		writes []string
		want   []string
	}{
		{"lines", []string{"a\nb\n"}, []string{"a\n", "b\n"}},
		{"a line in pieces", []string{"he", "llo\nwor", "ld\n"}, []string{"hello\n", "world\n"}},
		{"partial at the end", []string{"a\nno newline"}, []string{"a\n", "no newline"}},
		{"long partial is flushed at MaxLine", []string{string(long)}, []string{string(long[:MaxLine]), string(long[MaxLine:])}},
		{"long line", []string{string(long) + "\n"}, []string{string(long[:MaxLine]), string(long[MaxLine:]) + "\n"}},
		{"empty lines", []string{"\n\n"}, []string{"\n", "\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			l := &lineSplitter{stream: Stderr, now: func() time.Time { return t0 }, emit: func(e Entry) {
				if e.Stream != Stderr {
					t.Errorf("stream %v", e.Stream)
				}
				got = append(got, string(e.Data))
			}}
			for _, w := range tc.writes {
				if n, _ := l.Write([]byte(w)); n != len(w) {
					t.Errorf("Write = %d, want %d", n, len(w))
				}
			}
			if tc.name == "long partial is flushed at MaxLine" && len(got) != 1 {
				t.Errorf("before the end: %d entries, want the first MaxLine bytes written at once", len(got))
			}
			l.flush()
			if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// FuzzParseLine: the log file is read after crashes; whatever a line
// holds, the parser does not panic, and what it accepts re-encodes to an
// entry that parses back the same.
func FuzzParseLine(f *testing.F) {
	f.Add(entryAt(1).Marshal())
	f.Add([]byte(`{"log":"x","stream":"stderr","time":"2026-01-02T03:04:05.123456789Z"}`))
	f.Add([]byte(`{"log":"x","stream":"std`))
	f.Add([]byte(`{"log":1,"stream":"stdout","time":""}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		e, err := ParseLine(line)
		if err != nil {
			return
		}
		b := e.Marshal()
		back, err := ParseLine(b[:len(b)-1])
		if err != nil {
			t.Fatalf("re-encoded %q does not parse: %v", b, err)
		}
		if back.Stream != e.Stream || !back.Time.Equal(e.Time) || !bytes.Equal(back.Data, e.Data) {
			t.Fatalf("round trip changed %+v to %+v", e, back)
		}
	})
}

// FuzzReadLog: a file of any content reads without error or panic, and
// every entry it returns came from a whole line.
func FuzzReadLog(f *testing.F) {
	f.Add(append(entryAt(1).Marshal(), entryAt(2).Marshal()[:20]...))
	f.Add([]byte("\n\n{}\n"))
	f.Fuzz(func(t *testing.T, content []byte) {
		path := filepath.Join(t.TempDir(), "main.log")
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
		es, err := ReadLog(path, 1, All)
		if err != nil {
			t.Fatal(err)
		}
		if len(es) > bytes.Count(content, []byte{'\n'}) {
			t.Fatalf("%d entries from %d lines", len(es), bytes.Count(content, []byte{'\n'}))
		}
	})
}

// TestUnwritableLogIsReported: when the log file cannot be opened the
// daemon's log names the VM and the failure, and subscribers still get
// the output live.
func TestUnwritableLogIsReported(t *testing.T) {
	var logged bytes.Buffer
	missing := filepath.Join(t.TempDir(), "gone")
	svc := &Service{
		Path:  func(id string) string { return filepath.Join(missing, id+".log") },
		Retry: time.Millisecond,
		Log:   slog.New(slog.NewTextHandler(&logged, nil)),
	}
	src := newFakeSource()
	mustBegin(t, svc, "vm1", Session{Source: src, Started: time.Now()})
	a := src.next(t)
	_, s, err := svc.Subscribe("vm1", SubOptions{Follow: true})
	if err != nil || s == nil {
		t.Fatalf("subscribe: %v %v", s, err)
	}
	_, _ = io.WriteString(a.s.Stdout, "still live\n")
	a.result <- nil
	out, _, exit, err := collect(t, s)
	if err != nil || exit == nil || out != "still live\n" {
		t.Fatalf("subscriber got %q, %v, %v; want the line and the exit", out, exit, err)
	}
	svc.End("vm1")
	if l := logged.String(); !strings.Contains(l, "vm=vm1") || !strings.Contains(l, "open the output log") || strings.Count(l, "\n") != 1 {
		t.Errorf("daemon log %q: want one line naming vm1 and the failed open", l)
	}
}
