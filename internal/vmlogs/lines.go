package vmlogs

import (
	"bytes"
	"time"
)

// MaxLine is the longest entry: a longer line is kept as several partial
// entries, and a partial line that reaches it is written without waiting
// for its newline (docker's json-file cuts at 16 KiB too).
const MaxLine = 16 << 10

// lineSplitter turns one stream's bytes into entries at newlines.
type lineSplitter struct {
	stream Stream
	buf    []byte
	emit   func(Entry)
	now    func() time.Time
}

func (l *lineSplitter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			l.buf = append(l.buf, p...)
			for len(l.buf) >= MaxLine {
				l.out(l.buf[:MaxLine])
				l.buf = l.buf[MaxLine:]
			}
			break
		}
		line := append(l.buf, p[:i+1]...)
		for len(line) > MaxLine {
			l.out(line[:MaxLine])
			line = line[MaxLine:]
		}
		l.out(line)
		l.buf, p = nil, p[i+1:]
	}
	if len(l.buf) == 0 {
		l.buf = nil
	}
	return n, nil
}

// flush writes a pending partial line (the stream ended).
func (l *lineSplitter) flush() {
	if len(l.buf) > 0 {
		l.out(l.buf)
	}
	l.buf = nil
}

func (l *lineSplitter) out(b []byte) {
	l.emit(Entry{Stream: l.stream, Time: l.now(), Data: append([]byte(nil), b...)})
}
