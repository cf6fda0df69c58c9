package dockerapi

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/common"
	"github.com/moby/moby/api/types/container"

	"github.com/bangerdev/banger/internal/agentclient"
	"github.com/bangerdev/banger/internal/vms"
	"github.com/bangerdev/banger/pkg/client"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// execRoutes: exec create/start/inspect/resize — a process started in
// the guest through the VM's agent, as `banger exec` does. The archive
// (docker cp) and the container operations beyond run register here too.
func (s *Server) execRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /containers/{id}/exec", s.execCreate)
	mux.HandleFunc("POST /exec/{id}/start", s.execStart)
	mux.HandleFunc("GET /exec/{id}/json", s.execInspect)
	mux.HandleFunc("POST /exec/{id}/resize", s.execResize)
	s.archiveRoutes(mux)
	s.opsRoutes(mux)
}

// maxExecs bounds the exec instances kept for inspect: past it, the
// oldest finished ones are forgotten (Docker forgets them with their
// container).
const maxExecs = 1024

// execTable is the exec instances created and not yet forgotten.
type execTable struct {
	mu    sync.Mutex
	execs map[string]*execInst
	order []string
}

// execInst is one exec: what was asked, then its process and exit.
type execInst struct {
	id, vmID string
	cfg      container.ExecCreateRequest
	keys     []byte

	// done closes when the exec ended (or never ran).
	done chan struct{}

	mu      sync.Mutex
	started bool
	running bool
	exit    *int
	rows    int
	cols    int
	proc    *agentclient.Process
}

func (t *execTable) add(e *execInst) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.execs == nil {
		t.execs = map[string]*execInst{}
	}
	for len(t.order) >= maxExecs {
		drop := t.order[0]
		t.order = t.order[1:]
		if old := t.execs[drop]; old != nil && old.isRunning() {
			t.order = append(t.order, drop)
			break
		}
		delete(t.execs, drop)
	}
	t.execs[e.id] = e
	t.order = append(t.order, e.id)
}

func (t *execTable) get(id string) (*execInst, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.execs[id]; ok {
		return e, nil
	}
	return nil, kindError(errdefs.ErrNotFound, "No such exec instance: %s", id)
}

func (e *execInst) isRunning() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.running || !e.started
}

// execCreate records an exec in a running container; nothing runs until
// its start.
func (s *Server) execCreate(w http.ResponseWriter, r *http.Request) {
	vm, err := s.vm(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	var req container.ExecCreateRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, badParam("exec: the request body is not an exec config: %v", err))
		return
	}
	e, err := newExec(vm, req)
	if err != nil {
		writeError(w, err)
		return
	}
	s.execs.add(e)
	writeJSON(w, http.StatusCreated, common.IDResponse{ID: e.id})
}

// newExec checks an exec's config against its container's state.
func newExec(vm vms.VM, req container.ExecCreateRequest) (*execInst, error) {
	switch {
	case vm.State == vms.Paused:
		return nil, kindError(errdefs.ErrConflict, "Container %s is paused, unpause the container before exec", vm.Name)
	case vm.State != vms.Running:
		return nil, kindError(errdefs.ErrConflict, "Container %s is not running", vm.Name)
	case len(req.Cmd) == 0:
		return nil, badParam("No exec command specified")
	case req.Privileged:
		return nil, refuse("exec --privileged (Privileged)", "the VM's root already has every capability inside its own kernel, and no access to the host's devices or kernel is given")
	}
	keys, err := client.ParseDetachKeys(cmp.Or(req.DetachKeys, client.DefaultDetachKeys))
	if err != nil {
		return nil, badParam("Invalid detach keys (%s) provided", req.DetachKeys)
	}
	id := make([]byte, 32)
	_, _ = rand.Read(id)
	e := &execInst{id: hex.EncodeToString(id), vmID: vm.ID, cfg: req, keys: keys, rows: 24, cols: 80, done: make(chan struct{})}
	if cs := req.ConsoleSize; cs != nil && cs[0] > 0 && cs[1] > 0 {
		e.rows, e.cols = int(cs[0]), int(cs[1]) //nolint:gosec // terminal sizes are small
	}
	return e, nil
}

// execStart runs the exec: detached, it answers at once; else the
// connection becomes the process's streams (raw with a TTY, Docker's
// multiplexed framing without) until it exits. A client that leaves
// (or types the detach keys) leaves the process running, as Docker's.
func (s *Server) execStart(w http.ResponseWriter, r *http.Request) {
	e, err := s.execs.get(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	var req container.ExecStartRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, badParam("exec start: the request body is not a start config: %v", err))
		return
	}
	e.mu.Lock()
	started := e.started
	e.started = true
	e.mu.Unlock()
	if started {
		writeError(w, kindError(errdefs.ErrConflict, "exec %s has already been started", e.id))
		return
	}
	agent, err := s.opts.Ops.Live.Agent(r.Context(), e.vmID)
	if err != nil {
		e.finish(nil)
		writeError(w, err)
		return
	}
	ereq := agentclient.ExecRequest{Argv: e.cfg.Cmd, Env: e.cfg.Env, WorkingDir: e.cfg.WorkingDir, User: e.cfg.User}
	e.mu.Lock()
	if e.cfg.Tty {
		ereq.TTY = &agentclient.TTYConfig{Rows: e.rows, Cols: e.cols}
	}
	e.mu.Unlock()
	if req.Detach {
		s.runExec(w, e, agentclient.Over(agent), ereq)
		return
	}
	h, err := hijackExec(w, r, e.cfg.Tty)
	if err != nil {
		e.finish(nil)
		s.opts.Log.Debug("docker api exec", "exec", e.id, "error", err)
		return
	}
	defer h.close()
	if e.cfg.AttachStdout || e.cfg.Tty {
		ereq.Stdout = h.raw()
		if !e.cfg.Tty {
			ereq.Stdout = h.stream(stdcopy.Stdout)
		}
	}
	if e.cfg.AttachStderr && !e.cfg.Tty {
		ereq.Stderr = h.stream(stdcopy.Stderr)
	}
	detached := make(chan struct{})
	switch {
	case e.cfg.AttachStdin && e.cfg.Tty:
		// The detach keys are a terminal's, as Docker's: piped stdin
		// passes as it is.
		ereq.Stdin = &stdinReader{r: client.DetachReader(h, e.keys), detached: detached, done: e.done}
	case e.cfg.AttachStdin:
		ereq.Stdin = h
	}
	s.runExec(nil, e, agentclient.Over(agent), ereq)
	select {
	case <-e.done:
	case <-detached:
	}
}

// runExec starts the exec's process and, in the background, records its
// exit (e.done closes then). With w (a detached start) it answers the
// start: 200, or the error.
func (s *Server) runExec(w http.ResponseWriter, e *execInst, agent *agentclient.Client, req agentclient.ExecRequest) {
	p, err := agent.Start(s.opts.Ctx, req)
	if err != nil {
		e.finish(nil)
		if w != nil {
			writeError(w, err)
		} else if req.Stderr != nil || req.Stdout != nil {
			_, _ = io.WriteString(firstWriter(req.Stderr, req.Stdout), "banger: exec: "+err.Error()+"\n")
		}
		return
	}
	e.mu.Lock()
	e.proc, e.running = p, true
	rows, cols := e.rows, e.cols
	e.mu.Unlock()
	if req.TTY != nil && (rows != req.TTY.Rows || cols != req.TTY.Cols) {
		_ = p.Resize(rows, cols) // a resize that came during the start
	}
	if w != nil {
		w.WriteHeader(http.StatusOK)
	}
	go func() {
		code, err := p.Wait()
		if err != nil {
			s.opts.Log.Debug("docker api exec ended without a status", "exec", e.id, "error", err)
			code = 126 // Docker's "the command could not be run"
		}
		e.finish(&code)
	}()
}

// finish records the exec's end (code nil: it never ran, Docker's 126).
func (e *execInst) finish(code *int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.running, e.proc = false, nil
	if code == nil {
		c := 126
		code = &c
	}
	if e.exit == nil {
		e.exit = code
		close(e.done)
	}
}

func firstWriter(ws ...io.Writer) io.Writer {
	for _, w := range ws {
		if w != nil {
			return w
		}
	}
	return io.Discard
}

// stdinReader is the client's stdin. The client closing its side is the
// process's EOF; the detach keys end the attachment instead, and the
// process keeps its stdin open (a detach is not an EOF) until it ends.
type stdinReader struct {
	r        io.Reader
	detached chan struct{}
	done     <-chan struct{}
	once     sync.Once
	ended    bool
}

func (s *stdinReader) Read(p []byte) (int, error) {
	if s.ended {
		<-s.done
		return 0, io.EOF
	}
	n, err := s.r.Read(p)
	if errors.Is(err, client.ErrDetach) {
		s.once.Do(func() { close(s.detached) })
		s.ended, err = true, nil // what came before the keys goes first
	}
	return n, err
}

// execInspect answers an exec's state: running, and its exit code once
// it ended.
func (s *Server) execInspect(w http.ResponseWriter, r *http.Request) {
	e, err := s.execs.get(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var args []string
	if len(e.cfg.Cmd) > 1 {
		args = e.cfg.Cmd[1:]
	}
	writeJSON(w, http.StatusOK, container.ExecInspectResponse{
		ID: e.id, Running: e.running, ExitCode: e.exit, ContainerID: containerID(e.vmID),
		ProcessConfig: &container.ExecProcessConfig{Tty: e.cfg.Tty, Entrypoint: e.cfg.Cmd[0], Arguments: args, User: e.cfg.User},
		OpenStdin:     e.cfg.AttachStdin, OpenStdout: e.cfg.AttachStdout, OpenStderr: e.cfg.AttachStderr,
		DetachKeys: e.keys,
	})
}

// execResize sets an exec's terminal size (h rows, w columns); before the
// start, the size it starts with.
func (s *Server) execResize(w http.ResponseWriter, r *http.Request) {
	e, err := s.execs.get(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	rows, cols, err := termSize(r)
	if err != nil {
		writeError(w, err)
		return
	}
	e.mu.Lock()
	tty, p := e.cfg.Tty, e.proc
	e.rows, e.cols = rows, cols
	e.mu.Unlock()
	if !tty {
		writeError(w, kindError(errdefs.ErrConflict, "exec %s has no TTY to resize", e.id))
		return
	}
	if p != nil {
		_ = p.Resize(rows, cols)
	}
	w.WriteHeader(http.StatusOK)
}

// termSize reads a resize's h and w.
func termSize(r *http.Request) (rows, cols int, err error) {
	q := r.URL.Query()
	rows, err1 := strconv.Atoi(q.Get("h"))
	cols, err2 := strconv.Atoi(q.Get("w"))
	if err1 != nil || err2 != nil || rows <= 0 || cols <= 0 || rows > 1<<15 || cols > 1<<15 {
		return 0, 0, badParam("resize: h and w must be positive numbers, got h=%q w=%q", q.Get("h"), q.Get("w"))
	}
	return rows, cols, nil
}
