package client

import (
	"errors"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"testing/iotest"

	"golang.org/x/crypto/ssh"
)

func TestParseDetachKeys(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		bad  bool
	}{
		{in: "ctrl-p,ctrl-q", want: "\x10\x11"},
		{in: "ctrl-x,x", want: "\x18x"},
		{in: "CTRL-A", want: "\x01"},
		{in: "ctrl-@,ctrl-[,ctrl-_", want: "\x00\x1b\x1f"},
		{in: "", bad: true},
		{in: "ctrl-", bad: true},
		{in: "ctrl-1", bad: true},
		{in: "ab", bad: true},
	} {
		got, err := ParseDetachKeys(tc.in)
		if (err != nil) != tc.bad || string(got) != tc.want {
			t.Errorf("ParseDetachKeys(%q) = %q, %v", tc.in, got, err)
		}
	}
}

// TestDetachReader: input passes through unchanged until the detach
// sequence, which is swallowed and ends the input; a started sequence
// that is not finished is passed on, across reads too.
func TestDetachReader(t *testing.T) {
	keys := []byte{0x10, 0x11}
	for _, tc := range []struct {
		name, in, want string
		detached       bool
	}{
		{name: "plain", in: "hello", want: "hello"},
		{name: "detach", in: "ab\x10\x11cd", want: "ab", detached: true},
		{name: "half a sequence", in: "a\x10b", want: "a\x10b"},
		{name: "the first key twice", in: "\x10\x10\x11", want: "\x10", detached: true},
		{name: "ctrl-p at the end", in: "x\x10", want: "x\x10"},
	} {
		for _, oneByte := range []bool{false, true} {
			var r io.Reader = &detachReader{r: stringReader(tc.in, oneByte), keys: keys}
			got, err := io.ReadAll(r)
			if string(got) != tc.want || errors.Is(err, ErrDetach) != tc.detached {
				t.Errorf("%s (one byte at a time %v): %q, %v; want %q detached %v", tc.name, oneByte, got, err, tc.want, tc.detached)
			}
		}
	}
}

func stringReader(s string, oneByte bool) io.Reader {
	var r io.Reader = strings.NewReader(s)
	if oneByte {
		r = iotest.OneByteReader(r)
	}
	return r
}

// TestForwardSignals: host signals reach the agent by their names, in
// order, and one without a name is dropped.
func TestForwardSignals(t *testing.T) {
	in := make(chan os.Signal, 3)
	done := make(chan struct{})
	out := forwardSignals(in, done)
	in <- syscall.SIGTERM
	in <- syscall.Signal(40) // real-time: no name
	in <- syscall.SIGHUP
	for _, want := range []ssh.Signal{"TERM", "HUP"} {
		if got := <-out; got != want {
			t.Errorf("forwarded %q, want %q", got, want)
		}
	}
	close(done)
}
