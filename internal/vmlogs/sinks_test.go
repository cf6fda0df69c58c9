package vmlogs

import (
	"bufio"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bangerdev/banger/pkg/errdefs"
)

func mkfifo(t *testing.T, path string) string {
	t.Helper()
	if err := unix.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// readFIFO reads a FIFO's lines as they come, and "EOF" each time its
// writer closes it; it then opens it again, as a reader that outlives
// the daemon must (the test's end leaves it blocked in open).
func readFIFO(t *testing.T, path string) <-chan string {
	t.Helper()
	lines := make(chan string, 100)
	go func() {
		for {
			f, err := os.Open(path) // blocks until the daemon opens its end
			if err != nil {
				lines <- err.Error()
				return
			}
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				lines <- sc.Text()
			}
			_ = f.Close()
			lines <- "EOF"
		}
	}()
	return lines
}

func nextLine(t *testing.T, lines <-chan string) string {
	t.Helper()
	select {
	case l := <-lines:
		return l
	case <-time.After(5 * time.Second):
		t.Fatal("no line from the FIFO")
		return ""
	}
}

// Output goes to the log and to the stdio paths: a FIFO read by its
// reader (which sees EOF once the process ended) and a regular file
// appended; after the daemon detaches and a new one re-attaches
// (adoption), the file continues without repeating a line.
func TestStdioSinksGetTheOutputOnce(t *testing.T) {
	svc, _ := newTestService(t)
	dir := t.TempDir()
	outFIFO := mkfifo(t, filepath.Join(dir, "out"))
	errFile := filepath.Join(dir, "err.log")
	if err := os.WriteFile(errFile, []byte("before\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	lines := readFIFO(t, outFIFO)
	stdio := Stdio{Stdout: outFIFO, Stderr: errFile}
	src := newFakeSource()
	if err := svc.Begin("vm1", Session{Source: src, Started: time.Now(), Stdio: stdio}); err != nil {
		t.Fatal(err)
	}
	a := src.next(t)
	_, _ = io.WriteString(a.s.Stdout, "one\n")
	_, _ = io.WriteString(a.s.Stderr, "e1\n")
	if got := nextLine(t, lines); got != "one" {
		t.Fatalf("FIFO got %q, want one", got)
	}
	svc.End("vm1") // the daemon leaves; the next one adopts the VM
	if got := nextLine(t, lines); got != "EOF" {
		t.Fatalf("FIFO got %q when the daemon left, want EOF", got)
	}

	src = newFakeSource()
	if err := svc.Begin("vm1", Session{Source: src, Started: time.Now(), Stdio: stdio, Adopted: true}); err != nil {
		t.Fatal(err)
	}
	a = src.next(t)
	_, _ = io.WriteString(a.s.Stdout, "two\n")
	_, _ = io.WriteString(a.s.Stderr, "e2\n")
	a.result <- nil // exit 7
	if got := nextLine(t, lines); got != "two" {
		t.Fatalf("FIFO got %q after re-attaching, want two", got)
	}
	svc.End("vm1")
	if got := nextLine(t, lines); got != "EOF" {
		t.Errorf("FIFO got %q after the exit, want EOF", got)
	}
	if b, _ := os.ReadFile(errFile); string(b) != "before\ne1\ne2\n" {
		t.Errorf("stderr file %q: want what was there, then each line once", b)
	}
}

// The stdin path (a FIFO) feeds the main process's stdin; its writer's
// close is the process's EOF. An adopting daemon does not read it again.
func TestStdinFromAFIFO(t *testing.T) {
	svc, _ := newTestService(t)
	in := mkfifo(t, filepath.Join(t.TempDir(), "in"))
	src := newFakeSource()
	if err := svc.Begin("vm1", Session{Source: src, Started: time.Now(), Stdio: Stdio{Stdin: in}}); err != nil {
		t.Fatal(err)
	}
	a := src.next(t)
	if a.s.Stdin == nil {
		t.Fatal("the attachment has no stdin")
	}
	w, err := os.OpenFile(in, os.O_WRONLY, 0) // blocks until the daemon's open
	if err != nil {
		t.Fatal(err)
	}
	_, _ = w.WriteString("hello\nworld\n")
	_ = w.Close()
	got, err := io.ReadAll(a.s.Stdin)
	if err != nil || string(got) != "hello\nworld\n" {
		t.Errorf("stdin got %q, %v; want both lines, then EOF", got, err)
	}
	a.result <- nil
	svc.End("vm1")

	src = newFakeSource()
	if err := svc.Begin("vm1", Session{Source: src, Started: time.Now(), Stdio: Stdio{Stdin: in}, Adopted: true}); err != nil {
		t.Fatal(err)
	}
	if a := src.next(t); a.s.Stdin != nil {
		t.Error("an adopting daemon reopened stdin: the guest closed it when the last daemon left")
	}
	svc.End("vm1")
}

// A FIFO nobody opens never blocks the daemon: Begin returns, output
// queues, and End returns promptly.
func TestAFIFOWithoutReaderDoesNotBlock(t *testing.T) {
	svc, _ := newTestService(t)
	out := mkfifo(t, filepath.Join(t.TempDir(), "out"))
	src := newFakeSource()
	began := make(chan error, 1)
	go func() {
		began <- svc.Begin("vm1", Session{Source: src, Started: time.Now(), Stdio: Stdio{Stdout: out}})
	}()
	select {
	case err := <-began:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Begin blocked on a FIFO without a reader")
	}
	a := src.next(t)
	_, _ = io.WriteString(a.s.Stdout, "queued\n")
	ended := make(chan struct{})
	go func() { svc.End("vm1"); close(ended) }()
	select {
	case <-ended:
	case <-time.After(drainAtDetach + 3*time.Second):
		t.Fatal("End blocked on a FIFO without a reader")
	}
}

// A path that cannot be opened fails Begin naming it; bad paths are
// refused by Check with the stream and path named.
func TestStdioPathErrors(t *testing.T) {
	svc, _ := newTestService(t)
	dir := t.TempDir()
	own := filepath.Join(dir, "state")
	if err := os.Mkdir(own, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(own, "disk"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(own, "disk"), filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(own, "new"), filepath.Join(dir, "dangling")); err != nil {
		t.Fatal(err)
	}
	err := svc.Begin("vm1", Session{Source: newFakeSource(), Started: time.Now(), Stdio: Stdio{Stdout: filepath.Join(dir, "nodir", "out")}})
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "nodir", "out")) {
		t.Errorf("Begin with an output path in a missing directory: %v", err)
	}
	for _, tc := range []struct {
		s    Stdio
		want string
	}{
		{Stdio{Stdout: "out.log"}, `stdout "out.log": want an absolute`},
		{Stdio{Stderr: dir + "/../x"}, "want an absolute, clean path"},
		{Stdio{Stdin: filepath.Join(dir, "missing")}, "stdin"},
		{Stdio{Stdout: filepath.Join(own, "x")}, "inside banger's own directory"},
		{Stdio{Stdout: filepath.Join(dir, "link")}, "inside banger's own directory"},
		{Stdio{Stderr: filepath.Join(dir, "dangling")}, "a symbolic link to nothing"},
		{Stdio{Stdout: dir}, "it is a directory"},
		{Stdio{Stdout: "/dev/null"}, "it is a device"},
	} {
		err := tc.s.Check(own)
		if !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Check(%+v) = %v, want ErrInvalid saying %q", tc.s, err, tc.want)
		}
	}
	if err := (Stdio{Stdout: filepath.Join(dir, "new.log")}).Check(own); err != nil {
		t.Errorf("a missing output file in an existing directory: %v", err)
	}
}

// FuzzStdioCheck: a path an API caller names is accepted only when it is
// absolute, clean and outside banger's directories (symbolic links
// resolved); nothing panics.
func FuzzStdioCheck(f *testing.F) {
	dir := f.TempDir()
	own := filepath.Join(dir, "state")
	if err := os.Mkdir(own, 0o700); err != nil {
		f.Fatal(err)
	}
	if err := os.Symlink(own, filepath.Join(dir, "link")); err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"out.log", "state/x", "link/x", "link/../x", "", "/", "a/./b", "state", "x\x00y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		path := filepath.Join(dir, name)
		if strings.HasPrefix(name, "/") {
			path = name
		}
		for _, s := range []Stdio{{Stdout: path}, {Stderr: name}, {Stdin: path}} {
			if s.Check(own) != nil {
				continue
			}
			p := s.Stdout + s.Stderr + s.Stdin
			if p == "" {
				continue // no path: nothing to check
			}
			real, err := filepath.EvalSymlinks(filepath.Dir(p))
			if !filepath.IsAbs(p) || filepath.Clean(p) != p || err == nil && (real == own || strings.HasPrefix(real+"/", own+"/")) {
				t.Fatalf("Check accepted %q", p)
			}
		}
	})
}

// An adopting daemon whose stdio path is gone still keeps the output in
// the log (the guest must not wait for a host that takes nothing), and
// says what failed.
func TestAdoptionWithABadPathKeepsTheLog(t *testing.T) {
	svc, logPath := newTestService(t)
	gone := filepath.Join(t.TempDir(), "gone", "out")
	src := newFakeSource()
	err := svc.Begin("vm1", Session{Source: src, Started: time.Now(), Stdio: Stdio{Stdout: gone, Stdin: gone}, Adopted: true})
	if err == nil || !strings.Contains(err.Error(), gone) {
		t.Errorf("Begin of an adopted session with a missing path: %v, want the path named", err)
	}
	a := src.next(t)
	_, _ = io.WriteString(a.s.Stdout, "kept\n")
	a.result <- nil
	svc.End("vm1")
	if b, _ := os.ReadFile(logPath); !strings.Contains(string(b), "kept") {
		t.Errorf("the log lost the adopted VM's output: %q", b)
	}
}
