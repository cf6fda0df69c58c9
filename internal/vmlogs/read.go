package vmlogs

import (
	"bufio"
	"errors"
	"os"
	"time"
)

// Query selects entries of a log: those at or after Since and before
// Until (zero: no bound), the last Tail lines of them (negative: all).
type Query struct {
	Since, Until time.Time
	Tail         int
}

// All is the query of every entry.
var All = Query{Tail: -1}

// ReadLog returns the entries of the log at path (its rotated files
// first) that q selects. Lines that do not decode (a line torn by a
// crash) are skipped; a missing file is an empty log.
func ReadLog(path string, maxFiles int, q Query) ([]Entry, error) {
	var out []Entry
	for _, name := range Files(path, maxFiles) {
		es, err := readFile(name, q)
		if err != nil {
			return nil, err
		}
		out = append(out, es...)
	}
	return tail(out, q.Tail), nil
}

func readFile(name string, q Query) ([]Entry, error) {
	f, err := os.Open(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	var out []Entry
	r := bufio.NewReaderSize(f, 64<<10)
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 && line[len(line)-1] == '\n' {
			if e, perr := ParseLine(line[:len(line)-1]); perr == nil && q.selects(e.Time) {
				out = append(out, e)
			}
		}
		if err != nil {
			return out, nil
		}
	}
}

func (q Query) selects(t time.Time) bool {
	if !q.Since.IsZero() && t.Before(q.Since) {
		return false
	}
	return q.Until.IsZero() || t.Before(q.Until)
}

// tail keeps the entries of the last n lines; a line cut into partial
// entries counts once.
func tail(es []Entry, n int) []Entry {
	if n < 0 {
		return es
	}
	if n == 0 {
		return nil
	}
	lines := 0
	for i := len(es) - 1; i >= 0; i-- {
		if !es[i].Partial() || i == len(es)-1 {
			if lines == n {
				return es[i+1:]
			}
			lines++
		}
	}
	return es
}
