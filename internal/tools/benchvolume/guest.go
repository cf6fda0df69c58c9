package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// guest is the program's mode inside the VM: `guest DIR FILES` writes
// Total bytes into DIR as FILES files (fsynced; synced file system),
// drops the page cache, reads them back, removes them, and prints one
// JSON result per operation.
func guest(args []string) error {
	if len(args) != 2 {
		return errors.New("usage: guest DIR FILES")
	}
	dir := args[0]
	files, err := strconv.Atoi(args[1])
	if err != nil || files < 1 {
		return fmt.Errorf("files %q: want a positive number", args[1])
	}
	if err := os.MkdirAll(dir, 0o755); err != nil { //nolint:gosec // the directory the benchmark names, in its own VM
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }() //nolint:gosec // see above
	size := int64(Total / files)
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i * 7) // not zeroes: nothing may compress or skip them
	}
	name := func(i int) string { return filepath.Join(dir, fmt.Sprintf("f%05d", i)) }

	t0 := time.Now()
	for i := range files {
		if err := writeFile(name(i), buf, size, files == 1); err != nil {
			return err
		}
	}
	if err := syncDir(dir); err != nil {
		return err
	}
	w := result{Op: "write", Files: files, Bytes: size * int64(files), Seconds: time.Since(t0).Seconds()}

	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0o200); err != nil {
		return fmt.Errorf("drop caches: %w", err)
	}
	t0 = time.Now()
	var n int64
	for i := range files {
		got, err := readFile(name(i), buf)
		if err != nil {
			return err
		}
		n += got
	}
	r := result{Op: "read", Files: files, Bytes: n, Seconds: time.Since(t0).Seconds()}
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(w); err != nil {
		return err
	}
	return enc.Encode(r)
}

// writeFile writes size bytes of buf's pattern to p, fsyncing it when
// asked (the one big file; the small ones are synced together).
func writeFile(p string, buf []byte, size int64, fsync bool) error {
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	for left := size; left > 0; {
		chunk := min(left, int64(len(buf)))
		if _, err := f.Write(buf[:chunk]); err != nil {
			_ = f.Close()
			return err
		}
		left -= chunk
	}
	if fsync {
		if err := f.Sync(); err != nil {
			_ = f.Close()
			return err
		}
	}
	return f.Close()
}

// syncDir flushes the whole file system dir is on (syncfs).
func syncDir(dir string) error {
	f, err := os.Open(dir) //nolint:gosec // the benchmark's directory
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	return unix.Syncfs(int(f.Fd()))
}

func readFile(p string, buf []byte) (int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return 0, err
	}
	defer func() { _ = f.Close() }()
	var n int64
	for {
		k, err := f.Read(buf)
		n += int64(k)
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}
