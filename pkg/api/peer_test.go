package api

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRequestsCarryAndLogTheCallersUID: over a unix socket served with
// ConnContext, a handler sees the caller's credentials and every request's
// log line names its uid — JSON, streamed and raw endpoints alike.
func TestRequestsCarryAndLogTheCallersUID(t *testing.T) {
	var logs syncBuffer
	rt := NewRouter(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	var seen Peer
	Handle(rt, GetInfo, func(r *http.Request, _ None) (Info, error) {
		seen, _ = PeerOf(r.Context())
		return Info{}, nil
	})
	rt.Raw(VMLogs, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("console")) })
	sock := filepath.Join(t.TempDir(), "api.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: rt.Mux, ConnContext: ConnContext}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	c, err := NewClient("unix://" + sock)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Do(context.Background(), c, GetInfo, None{}); err != nil {
		t.Fatal(err)
	}
	if seen.UID != os.Getuid() || seen.PID != os.Getpid() {
		t.Errorf("handler saw peer %+v; want uid %d pid %d", seen, os.Getuid(), os.Getpid())
	}
	if groups, err := os.Getgroups(); err == nil && !slices.Equal(sorted(seen.Groups), sorted(groups)) {
		t.Errorf("handler saw groups %v; the caller has %v (SO_PEERGROUPS)", seen.Groups, groups)
	}
	resp, err := c.http.Get("http://banger/v1/vms/x/logs")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	want := "uid=" + strconv.Itoa(os.Getuid()) + " pid=" + strconv.Itoa(os.Getpid())
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("log lines %q; want one per request", lines)
	}
	for _, line := range lines {
		if !strings.Contains(line, "msg=request") || !strings.Contains(line, want) {
			t.Errorf("log line %q lacks %q", line, want)
		}
	}
}

func TestConnContextWithoutCredentials(t *testing.T) {
	a, b := net.Pipe()
	defer func() { _ = a.Close(); _ = b.Close() }()
	if _, ok := PeerOf(ConnContext(context.Background(), a)); ok {
		t.Error("a connection that is not a unix socket got peer credentials")
	}
}

func sorted(s []int) []int {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
