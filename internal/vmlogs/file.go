package vmlogs

import (
	"fmt"
	"io"
	"os"
	"strconv"
)

// Limits cap a VM's kept output: MaxFiles files of at most MaxSize bytes
// each (the live one and MaxFiles-1 rotated ones).
type Limits struct {
	MaxSize  int64
	MaxFiles int
}

// DefaultLimits are 2 files of 10 MiB, as the config's defaults.
var DefaultLimits = Limits{MaxSize: 10 << 20, MaxFiles: 2}

func (l Limits) norm() Limits {
	if l.MaxSize <= 0 {
		l.MaxSize = DefaultLimits.MaxSize
	}
	if l.MaxFiles <= 0 {
		l.MaxFiles = DefaultLimits.MaxFiles
	}
	return l
}

// Files lists a log's files, oldest first: path.N-1 … path.1, path.
func Files(path string, maxFiles int) []string {
	var out []string
	for i := maxFiles - 1; i >= 1; i-- {
		out = append(out, path+"."+strconv.Itoa(i))
	}
	return append(out, path)
}

// File appends entries to a log, rotating it at the size cap.
type File struct {
	path string
	lim  Limits
	f    *os.File
	size int64
}

// OpenFile opens (or creates) the log at path for appending. A file a
// crash left without a final newline gets one, so the next entry starts
// on its own line and only the torn one is unreadable.
func OpenFile(path string, lim Limits) (*File, error) {
	w := &File{path: path, lim: lim.norm()}
	if err := w.open(); err != nil {
		return nil, err
	}
	if w.size > 0 {
		last := make([]byte, 1)
		if _, err := w.f.ReadAt(last, w.size-1); err == nil && last[0] != '\n' {
			if err := w.write([]byte{'\n'}); err != nil {
				_ = w.f.Close()
				return nil, err
			}
		}
	}
	return w, nil
}

func (w *File) open() error {
	f, err := os.OpenFile(w.path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("open the output log: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("open the output log: %w", err)
	}
	w.f, w.size = f, fi.Size()
	return nil
}

// Write appends e, first rotating when it would pass the cap.
func (w *File) Write(e Entry) error {
	b := e.Marshal()
	if w.size > 0 && w.size+int64(len(b)) > w.lim.MaxSize {
		if err := w.rotate(); err != nil {
			return err
		}
	}
	return w.write(b)
}

func (w *File) write(b []byte) error {
	n, err := w.f.Write(b)
	w.size += int64(n)
	if err != nil {
		return fmt.Errorf("write the output log %s: %w", w.path, err)
	}
	return nil
}

// rotate shifts path → path.1 → … and drops the oldest.
func (w *File) rotate() error {
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("rotate the output log: %w", err)
	}
	files := Files(w.path, w.lim.MaxFiles)
	if len(files) == 1 {
		if err := os.Truncate(w.path, 0); err != nil {
			return fmt.Errorf("rotate the output log: %w", err)
		}
		return w.open()
	}
	_ = os.Remove(files[0])
	for i := 1; i < len(files); i++ {
		if err := os.Rename(files[i], files[i-1]); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("rotate the output log: %w", err)
		}
	}
	return w.open()
}

// Close closes the file.
func (w *File) Close() error { return w.f.Close() }

var _ io.Closer = (*File)(nil)
