// Package vmlogs keeps a VM's main process output on the host: the
// daemon is the one host attached to the guest agent's main process
// (package agent/mainproc), and a Hub per VM writes what it receives to
// a size-capped, rotated log file in the VM's directory and fans it out
// to live subscribers (`banger run`, `banger attach`, `banger logs -f`).
//
// The file is docker's json-file format: one JSON object per line,
// {"log":"text\n","stream":"stdout","time":"RFC 3339 nanoseconds"}. A
// line longer than MaxLine is cut into entries whose "log" does not end
// in a newline (a partial line), so nothing is held in memory forever.
// The reader skips a line it cannot decode, such as the torn last line a
// crash left; the writer starts a fresh line after one.
//
// The file is not in the VM's runtime record: it is not a resource a
// stop releases but the VM's persistent data, kept across stop/start
// (appended) and a daemon restart, and removed with the VM's directory.
//
// A VM's spec may also name host paths for the main process's standard
// streams (Stdio: files or FIFOs, as a containerd shim is given them):
// each session opens them, copies the output it receives to them after
// the log, and feeds stdin from its path (sinks.go).
package vmlogs

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Stream is which output an entry came from.
type Stream uint8

// The streams. With a TTY everything is Stdout.
const (
	Stdout Stream = 1
	Stderr Stream = 2
)

func (s Stream) String() string {
	if s == Stderr {
		return "stderr"
	}
	return "stdout"
}

// Entry is one line (or one piece of a long line) of output.
type Entry struct {
	Stream Stream
	Time   time.Time
	// Data is the text, with its newline unless it is a partial line.
	Data []byte
}

// Partial says the entry is not a whole line.
func (e Entry) Partial() bool { return len(e.Data) == 0 || e.Data[len(e.Data)-1] != '\n' }

type jsonLine struct {
	Log    string `json:"log"`
	Stream string `json:"stream"`
	Time   string `json:"time"`
}

// Marshal encodes e as one line of the log file, newline included.
func (e Entry) Marshal() []byte {
	b, _ := json.Marshal(jsonLine{Log: string(e.Data), Stream: e.Stream.String(), Time: e.Time.UTC().Format(time.RFC3339Nano)})
	return append(b, '\n')
}

// errBadLine is what ParseLine says of a line that is not an entry.
var errBadLine = errors.New("vmlogs: not a log entry")

// ParseLine decodes one line of a log file (without its newline). The
// file may have been cut by a crash or edited: anything that is not a
// whole entry is an error.
func ParseLine(line []byte) (Entry, error) {
	var j jsonLine
	if err := json.Unmarshal(line, &j); err != nil {
		return Entry{}, fmt.Errorf("%w: %w", errBadLine, err)
	}
	var s Stream
	switch j.Stream {
	case "stdout":
		s = Stdout
	case "stderr":
		s = Stderr
	default:
		return Entry{}, fmt.Errorf("%w: stream %q", errBadLine, j.Stream)
	}
	t, err := time.Parse(time.RFC3339Nano, j.Time)
	if err != nil {
		return Entry{}, fmt.Errorf("%w: time: %w", errBadLine, err)
	}
	return Entry{Stream: s, Time: t, Data: []byte(j.Log)}, nil
}
