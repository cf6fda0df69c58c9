// Package fetch downloads kernel artifacts by URL and sha256. A download
// goes to <dest>.partial, resumes with an HTTP Range request after an
// interrupted attempt (or a previous run), retries transient failures with
// backoff, and becomes <dest> only once its sha256 matches: nothing
// unverified ever carries the final name, so nothing unverified is ever
// imported or recorded.
package fetch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/bangerdev/banger/pkg/errdefs"
	"github.com/bangerdev/banger/pkg/progress"
)

// Options tune File.
type Options struct {
	// SHA256 is the expected digest (hex). Required.
	SHA256 string
	// Client defaults to a client with a 30 s response-header timeout.
	Client *http.Client
	// Attempts bounds the tries (default 5); Backoff is the first wait
	// between them (default 500 ms, doubling).
	Attempts int
	Backoff  time.Duration
	// MaxBytes bounds the download (default 2 GiB).
	MaxBytes int64
	// Progress gets download events under ID.
	Progress progress.Reporter
	ID       string
}

// permanent marks failures a retry cannot fix.
type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

// File downloads url to dest, verifying opts.SHA256.
func File(ctx context.Context, url, dest string, opts Options) error {
	want := strings.ToLower(opts.SHA256)
	if len(want) != 64 || strings.Trim(want, "0123456789abcdef") != "" {
		return fmt.Errorf("%w: sha256 %q: want 64 hex digits", errdefs.ErrInvalid, opts.SHA256)
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, ResponseHeaderTimeout: 30 * time.Second}}
	}
	if opts.Attempts <= 0 {
		opts.Attempts = 5
	}
	if opts.Backoff <= 0 {
		opts.Backoff = 500 * time.Millisecond
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 2 << 30
	}
	partial := dest + ".partial"
	wait := opts.Backoff
	var err error
	for attempt := 1; attempt <= opts.Attempts; attempt++ {
		err = try(ctx, url, partial, &opts)
		if err == nil {
			return verify(partial, dest, want, url)
		}
		var p permanent
		if errors.As(err, &p) || ctx.Err() != nil || attempt == opts.Attempts {
			break
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
		wait *= 2
	}
	// Keep a partial file only to resume a transient failure later.
	var p permanent
	if fi, serr := os.Stat(partial); errors.As(err, &p) || (serr == nil && fi.Size() == 0) {
		_ = os.Remove(partial)
	}
	return fmt.Errorf("download %s: %w", url, err)
}

// try makes one request, resuming the partial file when it has data.
func try(ctx context.Context, url, partial string, opts *Options) error {
	f, err := os.OpenFile(partial, os.O_CREATE|os.O_WRONLY, 0o600) //nolint:gosec // dest comes from the daemon's layout
	if err != nil {
		return permanent{err}
	}
	defer func() { _ = f.Close() }()
	off, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return permanent{err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return permanent{fmt.Errorf("%w: %w", errdefs.ErrInvalid, err)}
	}
	if off > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(off, 10)+"-")
	}
	resp, err := opts.Client.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	switch {
	case resp.StatusCode == http.StatusPartialContent && off > 0:
		if start := rangeStart(resp.Header.Get("Content-Range")); start != off {
			return fmt.Errorf("server resumed at byte %d, asked for %d", start, off)
		}
	case resp.StatusCode == http.StatusOK:
		if err := f.Truncate(0); err != nil {
			return permanent{err}
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return permanent{err}
		}
		off = 0
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && off > 0:
		return nil // already complete: verify decides
	case resp.StatusCode == http.StatusNotFound:
		return permanent{fmt.Errorf("%w: %s", errdefs.ErrNotFound, resp.Status)}
	case resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusRequestTimeout:
		return permanent{fmt.Errorf("%w: %s", errdefs.ErrUnavailable, resp.Status)}
	default:
		return fmt.Errorf("%w: %s", errdefs.ErrUnavailable, resp.Status)
	}
	total := int64(-1)
	if resp.ContentLength >= 0 {
		total = off + resp.ContentLength
		if total > opts.MaxBytes {
			return permanent{fmt.Errorf("%w: %d bytes, more than the %d allowed", errdefs.ErrInvalid, total, opts.MaxBytes)}
		}
	}
	pw := &progressWriter{w: f, n: off, total: total, opts: opts}
	n, err := io.Copy(pw, io.LimitReader(resp.Body, opts.MaxBytes-off+1))
	if err == nil && off+n > opts.MaxBytes {
		return permanent{fmt.Errorf("%w: more than the %d bytes allowed", errdefs.ErrInvalid, opts.MaxBytes)}
	}
	if err == nil && total >= 0 && off+n != total {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// rangeStart parses the first byte of "bytes 100-199/200".
func rangeStart(cr string) int64 {
	s, ok := strings.CutPrefix(cr, "bytes ")
	if !ok {
		return -1
	}
	s, _, _ = strings.Cut(s, "-")
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// verify hashes the partial file; a match renames it to dest, a mismatch
// deletes it.
func verify(partial, dest, want, url string) error {
	f, err := os.Open(partial) //nolint:gosec // dest comes from the daemon's layout
	if err != nil {
		return err
	}
	h := sha256.New()
	_, err = io.Copy(h, f)
	_ = f.Close()
	if err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		_ = os.Remove(partial)
		return fmt.Errorf("%w: download %s: sha256 %s, want %s (the file was deleted; the source changed or is corrupt)", errdefs.ErrInvalid, url, got, want)
	}
	return os.Rename(partial, dest)
}

type progressWriter struct {
	w     io.Writer
	n     int64
	total int64
	opts  *Options
	last  time.Time
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.n += int64(n)
	if time.Since(p.last) > 100*time.Millisecond || (p.total >= 0 && p.n == p.total) {
		p.last = time.Now()
		p.opts.Progress.Report(progress.Event{ID: p.opts.ID, Action: "download", Current: p.n, Total: max(p.total, 0)})
	}
	return n, err
}
