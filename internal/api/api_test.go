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

	"github.com/bangerdev/banger/internal/errdefs"
	"github.com/bangerdev/banger/internal/progress"
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

func TestCallRoundTrip(t *testing.T) {
	rt := NewRouter(nil)
	rt.JSON("GET /v1/images/{name...}", func(r *http.Request) (any, error) {
		name := r.PathValue("name")
		if name == "missing" {
			return nil, fmt.Errorf("image %q: %w", name, errdefs.ErrNotFound)
		}
		return Image{Name: name, SizeBytes: 42}, nil
	})
	rt.JSON("POST /v1/echo", func(r *http.Request) (any, error) {
		var req PullRequest
		if err := DecodeJSON(r, &req); err != nil {
			return nil, err
		}
		return req, nil
	})
	rt.JSON("DELETE /v1/thing", func(*http.Request) (any, error) { return nil, nil })
	c := serve(t, rt)
	ctx := context.Background()

	var img Image
	name := "docker.io/library/debian:bookworm"
	if err := c.Call(ctx, "GET", "/v1/images/"+PathEscape(name), nil, &img); err != nil {
		t.Fatal(err)
	}
	if img.Name != name || img.SizeBytes != 42 {
		t.Fatalf("got %+v", img)
	}

	err := c.Call(ctx, "GET", "/v1/images/missing", nil, &img)
	if !errors.Is(err, errdefs.ErrNotFound) || !strings.Contains(err.Error(), `image "missing"`) {
		t.Fatalf("want a not-found error naming the image, got %v", err)
	}

	var echo PullRequest
	if err := c.Call(ctx, "POST", "/v1/echo", PullRequest{Reference: "x", Platform: "linux/arm64"}, &echo); err != nil || echo.Platform != "linux/arm64" {
		t.Fatalf("echo = %+v, %v", echo, err)
	}
	err = c.Call(ctx, "POST", "/v1/echo", map[string]any{"bogus": 1}, &echo)
	if !errors.Is(err, errdefs.ErrInvalid) {
		t.Fatalf("unknown field: want ErrInvalid, got %v", err)
	}
	if err := c.Call(ctx, "DELETE", "/v1/thing", nil, nil); err != nil {
		t.Fatalf("204: %v", err)
	}
	err = c.Call(ctx, "GET", "/v1/nope", nil, nil)
	var apiErr *Error
	if !errors.As(err, &apiErr) || !strings.Contains(err.Error(), "404") {
		t.Fatalf("unrouted path: want a 404 error, got %v", err)
	}
}

func TestStream(t *testing.T) {
	rt := NewRouter(nil)
	rt.Stream("POST /v1/work", func(r *http.Request, ew *EventWriter) (any, error) {
		var req PullRequest
		if err := DecodeJSON(r, &req); err != nil {
			return nil, err
		}
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
			return nil, fmt.Errorf("pull %q: %w", req.Reference, errdefs.ErrConflict)
		}
		return Image{Name: req.Reference}, nil
	})
	c := serve(t, rt)
	ctx := context.Background()

	var mu sync.Mutex
	seen := map[string]bool{}
	var msgs []string
	var img Image
	err := c.StreamJSON(ctx, "POST", "/v1/work", PullRequest{Reference: "ok"}, func(e progress.Event) {
		mu.Lock()
		seen[e.ID] = true
		mu.Unlock()
	}, func(m string) { msgs = append(msgs, m) }, &img)
	if err != nil {
		t.Fatal(err)
	}
	if img.Name != "ok" || len(seen) != 10 || len(msgs) != 1 || msgs[0] != "halfway" {
		t.Fatalf("img=%+v progress ids=%d msgs=%v", img, len(seen), msgs)
	}

	err = c.StreamJSON(ctx, "POST", "/v1/work", PullRequest{Reference: "fail"}, nil, nil, &img)
	if !errors.Is(err, errdefs.ErrConflict) || !strings.Contains(err.Error(), `pull "fail"`) {
		t.Fatalf("want the handler's conflict error, got %v", err)
	}
}

func TestDialErrorSaysWhatToDo(t *testing.T) {
	c, err := NewClient("unix://" + filepath.Join(t.TempDir(), "absent.sock"))
	if err != nil {
		t.Fatal(err)
	}
	err = c.Call(context.Background(), "GET", "/v1/info", nil, nil)
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
