package api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/bangerdev/banger/pkg/errdefs"
	"github.com/bangerdev/banger/pkg/progress"
)

// serve starts rt on a unix socket in a temp dir and returns a client for it.
func serve(t *testing.T, rt *Router) *Client {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "api.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: rt.Mux}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	c, err := NewClient("unix://" + sock)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestTypedJSONRoundTrip: typed handlers and the typed client agree
// through a real server: path values, query and JSON requests, answers,
// 204s, and errors coming back as their errdefs kind.
func TestTypedJSONRoundTrip(t *testing.T) {
	rt := NewRouter(nil)
	Handle(rt, GetImage, func(r *http.Request, _ None) (Image, error) {
		name := r.PathValue("name")
		if name == "missing" {
			return Image{}, fmt.Errorf("image %q: %w", name, errdefs.ErrNotFound)
		}
		return Image{Name: name, SizeBytes: 42}, nil
	})
	Handle(rt, StopVM, func(r *http.Request, q StopVMQuery) (VM, error) {
		if q.Timeout == nil {
			return VM{}, fmt.Errorf("vm %s: %w", r.PathValue("ref"), errdefs.ErrConflict)
		}
		return VM{Name: r.PathValue("ref"), ExitCode: q.Timeout}, nil
	})
	Handle(rt, CreateVM, func(_ *http.Request, req CreateVMRequest) (VM, error) {
		return VM{Name: req.Name, Spec: req.Spec}, nil
	})
	Handle(rt, RemoveVM, func(_ *http.Request, q RemoveVMQuery) (None, error) {
		if !q.Force {
			return None{}, fmt.Errorf("%w: running", errdefs.ErrConflict)
		}
		return None{}, nil
	})
	c := serve(t, rt)
	ctx := context.Background()

	name := "docker.io/library/debian:bookworm"
	img, err := Do(ctx, c, GetImage, None{}, name)
	if err != nil || img.Name != name || img.SizeBytes != 42 {
		t.Fatalf("GetImage(%q) = %+v, %v", name, img, err)
	}
	_, err = Do(ctx, c, GetImage, None{}, "missing")
	if !errors.Is(err, errdefs.ErrNotFound) || !strings.Contains(err.Error(), `image "missing"`) {
		t.Fatalf("want a not-found error naming the image, got %v", err)
	}

	zero := 0
	vm, err := Do(ctx, c, StopVM, StopVMQuery{Timeout: &zero}, "dev")
	if err != nil || vm.Name != "dev" || vm.ExitCode == nil || *vm.ExitCode != 0 {
		t.Fatalf("StopVM with timeout 0 = %+v, %v", vm, err)
	}
	if _, err := Do(ctx, c, StopVM, StopVMQuery{}, "dev"); !errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("StopVM without timeout: want the handler's conflict, got %v", err)
	}
	resp, err := c.do(ctx, http.MethodPost, "/v1/vms/dev/stop?timeout=soon", nil, "")
	if err == nil {
		_ = resp.Body.Close()
	}
	if !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("a bad query value: want ErrInvalid naming the parameter, got %v", err)
	}

	vm, err = Do(ctx, c, CreateVM, CreateVMRequest{Name: "a", Spec: VMSpec{Image: "x", CPUs: 2}})
	if err != nil || vm.Name != "a" || vm.Spec.CPUs != 2 {
		t.Fatalf("CreateVM = %+v, %v", vm, err)
	}
	resp, err = c.do(ctx, http.MethodPost, "/v1/vms", strings.NewReader(`{"bogus":1}`), "application/json")
	if err == nil {
		_ = resp.Body.Close()
	}
	if !errors.Is(err, errdefs.ErrInvalid) {
		t.Fatalf("unknown field: want ErrInvalid, got %v", err)
	}

	if _, err := Do(ctx, c, RemoveVM, RemoveVMQuery{Force: true}, "dev"); err != nil {
		t.Fatalf("204: %v", err)
	}
	if _, err := Do(ctx, c, RemoveVM, RemoveVMQuery{}, "dev"); !errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("409: want ErrConflict, got %v", err)
	}
	if _, err := Do(ctx, c, ListKernels, None{}); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("unrouted endpoint: want a 404 error, got %v", err)
	}
}

// TestTypedStream: a typed stream handler's progress (from concurrent
// producers) and messages reach the Watch, then the result; its error
// ends the stream as that error's kind.
func TestTypedStream(t *testing.T) {
	rt := NewRouter(nil)
	HandleStream(rt, PullImage, func(_ *http.Request, req PullRequest, ew *EventWriter) (Image, error) {
		var wg sync.WaitGroup
		for i := range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ew.Progress(progress.Event{ID: fmt.Sprint(i), Action: "pull", Current: int64(i), Total: 10})
			}()
		}
		wg.Wait()
		ew.Message("halfway")
		if req.Reference == "fail" {
			return Image{}, fmt.Errorf("pull %q: %w", req.Reference, errdefs.ErrConflict)
		}
		return Image{Name: req.Reference}, nil
	})
	c := serve(t, rt)
	ctx := context.Background()

	var mu sync.Mutex
	seen := map[string]bool{}
	var msgs []string
	w := Watch{
		Progress: func(e progress.Event) {
			mu.Lock()
			seen[e.ID] = true
			mu.Unlock()
		},
		Message: func(m string) { msgs = append(msgs, m) },
	}
	img, err := Stream(ctx, c, PullImage, PullRequest{Reference: "ok"}, w)
	if err != nil {
		t.Fatal(err)
	}
	if img.Name != "ok" || len(seen) != 10 || len(msgs) != 1 || msgs[0] != "halfway" {
		t.Fatalf("img=%+v progress ids=%d msgs=%v", img, len(seen), msgs)
	}

	_, err = Stream(ctx, c, PullImage, PullRequest{Reference: "fail"}, Watch{})
	if !errors.Is(err, errdefs.ErrConflict) || !strings.Contains(err.Error(), `pull "fail"`) {
		t.Fatalf("want the handler's conflict error, got %v", err)
	}
}

// TestHelpersRefuseOtherKinds: a helper called with an endpoint of
// another kind fails before sending anything, as does registering one.
func TestHelpersRefuseOtherKinds(t *testing.T) {
	c, err := NewClient("unix://" + filepath.Join(t.TempDir(), "absent.sock"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Do(context.Background(), c, StartVM, None{}, "dev"); err == nil || !strings.Contains(err.Error(), "events endpoint") {
		t.Fatalf("Do of an event stream: %v", err)
	}
	if _, err := Stream(context.Background(), c, GetVM, None{}, Watch{}, "dev"); err == nil || !strings.Contains(err.Error(), "json endpoint") {
		t.Fatalf("Stream of a JSON endpoint: %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("registering an event stream as JSON did not panic")
		}
	}()
	NewRouter(nil).json(StartVM, func(*http.Request) (any, error) { return nil, nil })
}

func TestDialErrorSaysWhatToDo(t *testing.T) {
	c, err := NewClient("unix://" + filepath.Join(t.TempDir(), "absent.sock"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Do(context.Background(), c, GetInfo, None{})
	if !errors.Is(err, errdefs.ErrUnavailable) || !strings.Contains(err.Error(), "banger daemon") {
		t.Fatalf("want an unavailable error with a hint, got %v", err)
	}
}

func TestParseHost(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"unix:///run/banger/banger.sock", "/run/banger/banger.sock", true},
		{"/tmp/x.sock", "/tmp/x.sock", true},
		{"unix://relative.sock", "", false},
		{"tcp://127.0.0.1:2375", "", false},
	}
	for _, tt := range tests {
		got, err := ParseHost(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseHost(%q) = %q, %v", tt.in, got, err)
		}
	}
	t.Setenv(EnvHost, "unix:///env.sock")
	if got := ResolveHost(""); got != "unix:///env.sock" {
		t.Errorf("ResolveHost from env = %q", got)
	}
	if got := ResolveHost("unix:///flag.sock"); got != "unix:///flag.sock" {
		t.Errorf("flag must win over env, got %q", got)
	}
}
