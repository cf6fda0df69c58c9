package fetch

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bangerdev/banger/pkg/errdefs"
	"github.com/bangerdev/banger/pkg/progress"
)

var content = func() []byte {
	b := make([]byte, 256<<10)
	_, _ = rand.Read(b)
	return b
}()

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// server serves content; behave may break a request (return true when it
// handled the request itself). It records every Range header it saw.
type server struct {
	mu     sync.Mutex
	ranges []string
	hits   int
	*httptest.Server
}

func newServer(t *testing.T, behave func(n int, w http.ResponseWriter, r *http.Request) bool) *server {
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.hits++
		n := s.hits
		s.ranges = append(s.ranges, r.Header.Get("Range"))
		s.mu.Unlock()
		if behave != nil && behave(n, w, r) {
			return
		}
		http.ServeContent(w, r, "vmlinux", time.Time{}, bytes.NewReader(content))
	}))
	t.Cleanup(s.Close)
	return s
}

// dropAfter sends a full-length response header, then only n bytes, then
// closes the connection: an interrupted download.
func dropAfter(w http.ResponseWriter, n int) {
	w.Header().Set("Content-Length", strconv.Itoa(len(content)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(content[:n])
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		_ = conn.Close()
	}
}

func opts() Options { return Options{SHA256: digest(content), Backoff: time.Millisecond} }

func assertDownloaded(t *testing.T, dest string) {
	t.Helper()
	got, err := os.ReadFile(dest)
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("%s: %d bytes, %v", dest, len(got), err)
	}
	if _, err := os.Stat(dest + ".partial"); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("partial file left after success")
	}
}

func TestDownload(t *testing.T) {
	srv := newServer(t, nil)
	dest := filepath.Join(t.TempDir(), "vmlinux")
	var last progress.Event
	o := opts()
	o.ID = "k"
	o.Progress = func(e progress.Event) { last = e }
	if err := File(context.Background(), srv.URL+"/vmlinux", dest, o); err != nil {
		t.Fatal(err)
	}
	assertDownloaded(t, dest)
	if last.ID != "k" || last.Current != int64(len(content)) || last.Total != int64(len(content)) {
		t.Fatalf("last progress %+v", last)
	}
}

func TestResumeAfterInterruption(t *testing.T) {
	srv := newServer(t, func(n int, w http.ResponseWriter, _ *http.Request) bool {
		if n == 1 {
			dropAfter(w, 100000)
			return true
		}
		return false
	})
	dest := filepath.Join(t.TempDir(), "vmlinux")
	if err := File(context.Background(), srv.URL, dest, opts()); err != nil {
		t.Fatal(err)
	}
	assertDownloaded(t, dest)
	if srv.hits != 2 || srv.ranges[0] != "" || srv.ranges[1] != "bytes=100000-" {
		t.Fatalf("requests %d with ranges %q, want a resume at 100000", srv.hits, srv.ranges)
	}
}

func TestResumeFromPreviousRun(t *testing.T) {
	srv := newServer(t, nil)
	dest := filepath.Join(t.TempDir(), "vmlinux")
	if err := os.WriteFile(dest+".partial", content[:5000], 0o600); err != nil {
		t.Fatal(err)
	}
	if err := File(context.Background(), srv.URL, dest, opts()); err != nil {
		t.Fatal(err)
	}
	assertDownloaded(t, dest)
	if srv.ranges[0] != "bytes=5000-" {
		t.Fatalf("ranges %q", srv.ranges)
	}
}

func TestServerIgnoringRangeRestarts(t *testing.T) {
	srv := newServer(t, func(_ int, w http.ResponseWriter, _ *http.Request) bool {
		w.Header().Set("Content-Length", strconv.Itoa(len(content)))
		_, _ = w.Write(content) // 200 whatever the Range
		return true
	})
	dest := filepath.Join(t.TempDir(), "vmlinux")
	if err := os.WriteFile(dest+".partial", []byte("stale bytes"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := File(context.Background(), srv.URL, dest, opts()); err != nil {
		t.Fatal(err)
	}
	assertDownloaded(t, dest)
}

func TestRetriesTransientErrors(t *testing.T) {
	srv := newServer(t, func(n int, w http.ResponseWriter, _ *http.Request) bool {
		if n <= 2 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	dest := filepath.Join(t.TempDir(), "vmlinux")
	if err := File(context.Background(), srv.URL, dest, opts()); err != nil {
		t.Fatal(err)
	}
	assertDownloaded(t, dest)
	if srv.hits != 3 {
		t.Fatalf("%d requests, want 3", srv.hits)
	}
}

func TestFailures(t *testing.T) {
	for _, tc := range []struct {
		name     string
		behave   func(int, http.ResponseWriter, *http.Request) bool
		sha      string
		kind     error
		hits     int
		partial  bool
		attempts int
	}{
		{"not found", func(_ int, w http.ResponseWriter, _ *http.Request) bool { http.NotFound(w, nil); return true }, "", errdefs.ErrNotFound, 1, false, 5},
		{"forbidden", func(_ int, w http.ResponseWriter, _ *http.Request) bool {
			http.Error(w, "no", http.StatusForbidden)
			return true
		}, "", errdefs.ErrUnavailable, 1, false, 5},
		{"checksum mismatch", nil, strings.Repeat("ab", 32), errdefs.ErrInvalid, 1, false, 5},
		{"always interrupted", func(_ int, w http.ResponseWriter, r *http.Request) bool {
			if r.Header.Get("Range") == "" {
				dropAfter(w, 1000)
			} else {
				http.Error(w, "down", http.StatusBadGateway)
			}
			return true
		}, "", errdefs.ErrUnavailable, 3, true, 3},
		{"bad sha", nil, "xyz", errdefs.ErrInvalid, 0, false, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, tc.behave)
			dest := filepath.Join(t.TempDir(), "vmlinux")
			o := opts()
			o.Attempts = tc.attempts
			if tc.sha != "" {
				o.SHA256 = tc.sha
			}
			err := File(context.Background(), srv.URL, dest, o)
			if !errors.Is(err, tc.kind) {
				t.Fatalf("err = %v, want %v", err, tc.kind)
			}
			if srv.hits != tc.hits {
				t.Errorf("%d requests, want %d", srv.hits, tc.hits)
			}
			if _, err := os.Stat(dest); !errors.Is(err, os.ErrNotExist) {
				t.Error("a failed download has the final name")
			}
			_, perr := os.Stat(dest + ".partial")
			if (perr == nil) != tc.partial {
				t.Errorf("partial kept = %v, want %v (kept only to resume a transient failure)", perr == nil, tc.partial)
			}
		})
	}
}

func TestMaxBytes(t *testing.T) {
	srv := newServer(t, nil)
	dest := filepath.Join(t.TempDir(), "vmlinux")
	o := opts()
	o.MaxBytes = 1000
	if err := File(context.Background(), srv.URL, dest, o); !errors.Is(err, errdefs.ErrInvalid) || srv.hits != 1 {
		t.Fatalf("err = %v after %d requests", err, srv.hits)
	}
}

func TestCancel(t *testing.T) {
	srv := newServer(t, func(_ int, w http.ResponseWriter, _ *http.Request) bool {
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return true
	})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	o := opts()
	o.Backoff = time.Hour
	start := time.Now()
	if err := File(ctx, srv.URL, filepath.Join(t.TempDir(), "v"), o); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatal("cancellation did not interrupt the backoff")
	}
}
