package client

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// fakeRun is a daemon for Run: it creates, attaches (holding the output
// until the start, as the daemon's next-run attach does), starts, and
// records what Run asked.
type fakeRun struct {
	failStart error
	started   chan struct{}

	mu      sync.Mutex
	attach  api.AttachVMQuery
	removed []string // "ref force=true"
	stopped []string // refs
	exit    int
}

func (f *fakeRun) router() *api.Router {
	rt := versionRouter(api.VersionInfo{APIVersion: api.APIVersion, MinAPIVersion: api.MinAPIVersion}, &counter{})
	api.Handle(rt, api.GetImage, func(*http.Request, api.None) (api.Image, error) { return api.Image{Name: "busybox"}, nil })
	api.Handle(rt, api.CreateVM, func(_ *http.Request, req api.CreateVMRequest) (api.VM, error) {
		return api.VM{ID: "id1", Name: req.Name, Spec: req.Spec, State: api.VMCreated}, nil
	})
	rt.Raw(api.AttachVM, func(w http.ResponseWriter, r *http.Request) {
		q, _ := api.AttachVM.Decode(r)
		f.mu.Lock()
		f.attach = q
		f.mu.Unlock()
		conn, err := api.Hijack(w, r, api.ProtocolAttach)
		if err != nil {
			return
		}
		defer func() { _ = conn.Close() }()
		<-f.started
		_ = api.WriteFrame(conn, api.FrameStdout, []byte("hello\n"))
		_ = api.WriteFrame(conn, api.FrameStderr, []byte("oops\n"))
		for q.Stdin { // echo stdin to stdout until its EOF
			fr, err := api.ReadFrame(conn)
			if err != nil || fr.Kind == api.FrameStdinEOF {
				break
			}
			if fr.Kind == api.FrameStdin {
				_ = api.WriteFrame(conn, api.FrameStdout, fr.Data)
			}
		}
		_ = api.WriteFrame(conn, api.FrameExit, fmt.Append(nil, f.exit))
	})
	api.HandleStream(rt, api.StartVM, func(_ *http.Request, _ api.None, _ *api.EventWriter) (api.StartResult, error) {
		if f.failStart != nil {
			return api.StartResult{}, f.failStart
		}
		close(f.started)
		return api.StartResult{VM: api.VM{ID: "id1", Name: "job", State: api.VMRunning, Boot: api.VMBoot{Mode: "cold"}}, Timings: map[string]float64{"vmm": 5}}, nil
	})
	api.Handle(rt, api.WaitVM, func(*http.Request, api.None) (api.VM, error) {
		code := f.exit
		return api.VM{ID: "id1", State: api.VMExited, ExitCode: &code}, nil
	})
	api.Handle(rt, api.StopVM, func(r *http.Request, _ api.StopVMQuery) (api.VM, error) {
		f.mu.Lock()
		f.stopped = append(f.stopped, r.PathValue("ref"))
		f.mu.Unlock()
		return api.VM{ID: "id1", State: api.VMExited}, nil
	})
	api.Handle(rt, api.RemoveVM, func(r *http.Request, q api.RemoveVMQuery) (api.None, error) {
		f.mu.Lock()
		f.removed = append(f.removed, fmt.Sprintf("%s force=%v", r.PathValue("ref"), q.Force))
		f.mu.Unlock()
		return api.None{}, nil
	})
	return rt
}

// TestRunStreamsAndExits: Run attaches before it starts (asking for the
// next run, with stdin when interactive), streams stdout and stderr to
// their writers and stdin to the process, and returns the main
// process's exit code with the start's timings and its own.
func TestRunStreamsAndExits(t *testing.T) {
	f := &fakeRun{started: make(chan struct{}), exit: 3}
	c := serve(t, f.router())
	var stdout, stderr bytes.Buffer
	res, err := c.Run(ctxT(t), RunConfig{
		Name: "job", Spec: api.VMSpec{Image: "busybox", Interactive: true, AutoRemove: true},
		Stdin: strings.NewReader("ping\n"), Stdout: &stdout, Stderr: &stderr,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 3 || res.VM.Boot.Mode != "cold" {
		t.Errorf("result %+v; want exit code 3 of a cold boot", res)
	}
	if stdout.String() != "hello\nping\n" || stderr.String() != "oops\n" {
		t.Errorf("stdout %q, stderr %q", stdout.String(), stderr.String())
	}
	for _, k := range []string{"vmm", "command", "teardown"} {
		if _, ok := res.Timings[k]; !ok {
			t.Errorf("timings %v lack %q", res.Timings, k)
		}
	}
	if !f.attach.Next || !f.attach.Stdin || f.attach.Logs {
		t.Errorf("attach query %+v; want next and stdin", f.attach)
	}
	if len(f.removed) != 0 {
		t.Errorf("a run that worked removed %v itself (the daemon's AutoRemove does)", f.removed)
	}
}

// TestRunFailedStartRemoves: a run with AutoRemove whose start fails
// removes the VM it created (forced) and returns the start's error.
func TestRunFailedStartRemoves(t *testing.T) {
	f := &fakeRun{started: make(chan struct{}), failStart: fmt.Errorf("boot: %w", errdefs.ErrUnavailable)}
	c := serve(t, f.router())
	_, err := c.Run(ctxT(t), RunConfig{Spec: api.VMSpec{Image: "busybox", AutoRemove: true}})
	if !errors.Is(err, errdefs.ErrUnavailable) || !strings.Contains(err.Error(), "boot") {
		t.Fatalf("Run = %v; want the start's error", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.removed) != 1 || f.removed[0] != "id1 force=true" {
		t.Errorf("removed %v; want the created VM, forced", f.removed)
	}
}

// TestRunTerminalFailureStops: when the terminal cannot be set up after
// the start, Run stops the VM it started (nobody would see its main
// process, which would run on) and returns the terminal's error.
func TestRunTerminalFailureStops(t *testing.T) {
	f := &fakeRun{started: make(chan struct{})}
	c := serve(t, f.router())
	rawFailed := errors.New("terminal raw mode: not a terminal")
	_, err := c.Run(ctxT(t), RunConfig{
		Name: "job", Spec: api.VMSpec{Image: "busybox", TTY: true, Interactive: true},
		Terminal: func() (*TTY, error) { return nil, rawFailed },
	})
	if !errors.Is(err, rawFailed) {
		t.Fatalf("Run = %v; want the terminal's error", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.stopped) != 1 || f.stopped[0] != "id1" {
		t.Errorf("stopped %v; want the started VM", f.stopped)
	}
}

// TestAttachErrorsNameTheVM: an attachment that breaks, or whose exit
// status does not parse, fails naming the VM; a daemon's error frame
// (which names it already) is passed on.
func TestAttachErrorsNameTheVM(t *testing.T) {
	for _, tc := range []struct {
		frames func(conn net.Conn)
		want   string
	}{
		{func(conn net.Conn) { _ = api.WriteFrame(conn, api.FrameExit, []byte("three")) }, `attach to vm web: the daemon sent a bad exit status "three"`},
		{func(conn net.Conn) { _, _ = conn.Write([]byte{byte(api.FrameStdout), 0, 0}) }, "attach to vm web: unexpected EOF"},
		{func(conn net.Conn) {
			_ = api.WriteFrame(conn, api.FrameError, []byte("vm web: its main process ended"))
		}, "attach: vm web: its main process ended"},
	} {
		rt := versionRouter(api.VersionInfo{APIVersion: api.APIVersion, MinAPIVersion: api.MinAPIVersion}, &counter{})
		rt.Raw(api.AttachVM, func(w http.ResponseWriter, r *http.Request) {
			conn, err := api.Hijack(w, r, api.ProtocolAttach)
			if err != nil {
				return
			}
			defer func() { _ = conn.Close() }()
			tc.frames(conn)
		})
		_, err := serve(t, rt).Attach(ctxT(t), "web", AttachConfig{})
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("Attach = %v; want %q", err, tc.want)
		}
	}
}
