package fctest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sync"
)

// MaxPayload is Firecracker's default limit on a request body
// (--http-api-max-payload-size).
const MaxPayload = 51200

// Instance states, as GET / reports them.
const (
	StateNotStarted = "Not started"
	StateRunning    = "Running"
	StatePaused     = "Paused"
)

// Options configure a Server.
type Options struct {
	// ID is the instance id (firecracker --id).
	ID string
	// Root, when set, is the jail root: paths in requests are resolved
	// under it, as a chrooted Firecracker would.
	Root string
	// Console receives what the guest prints on its serial console
	// (Firecracker's stdout).
	Console io.Writer
	// Guest holds the guest's vsock services; nil means none.
	Guest *Guest
	// OnStart is called, after the response is written, when the guest
	// starts running (InstanceStart, or a snapshot load that resumes).
	OnStart func()
	// OnExit is called, after the response is written, when the guest
	// reboots (SendCtrlAltDel with reboot=k): the real VMM then exits 0.
	OnExit func(code int)
}

// Request is one request the server saw, accepted or not.
type Request struct {
	Method string
	Path   string
	// Op is the spec's operationId, when the path matched.
	Op     string
	Body   json.RawMessage
	Status int
	Fault  string
}

// Server is the contract server.
type Server struct {
	c    *Contract
	opts Options

	mu       sync.Mutex
	requests []Request
	vm       vmState
	vsockL   net.Listener
}

// NewServer returns a server for a fresh Firecracker process.
func NewServer(c *Contract, opts Options) *Server {
	if opts.Guest == nil {
		opts.Guest = NewGuest()
	}
	if opts.Console == nil {
		opts.Console = io.Discard
	}
	return &Server{c: c, opts: opts, vm: newVMState()}
}

// Requests returns every request seen so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// State is the instance state GET / reports.
func (s *Server) State() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.vm.state
}

// Close releases the vsock socket.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.vsockL != nil {
		err := s.vsockL.Close()
		s.vsockL = nil
		return err
	}
	return nil
}

// Serve answers requests on l until it is closed.
func (s *Server) Serve(l net.Listener) error {
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 0}
	err := srv.Serve(l)
	if errors.Is(err, net.ErrClosed) || errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// answer is what a handler decided.
type answer struct {
	status int
	body   any // for 200
	fault  string
	after  func() // run after the response is written
}

func ok() answer { return answer{status: http.StatusNoContent} }
func fault(f string, a ...any) answer {
	return answer{status: http.StatusBadRequest, fault: fmt.Sprintf(f, a...)}
}

// ServeHTTP validates the request against the contract, applies
// Firecracker's rules and answers as Firecracker does.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxPayload+1))
	rec := Request{Method: r.Method, Path: r.URL.Path, Body: json.RawMessage(body)}
	var a answer
	switch {
	case err != nil:
		a = fault("read request body: %v", err)
	case len(body) > MaxPayload:
		a = fault("Request payload with size %d is larger than the limit of %d allowed by server.", len(body), MaxPayload)
	default:
		op, verr := s.c.Validate(r.Context(), r.Method, r.URL.Path, body)
		rec.Op = op.ID
		if verr != nil {
			a = fault("%v", verr)
			break
		}
		s.mu.Lock()
		a = s.dispatch(op, body)
		s.mu.Unlock()
	}
	s.respond(r.Context(), w, r, a, &rec)
	s.mu.Lock()
	s.requests = append(s.requests, rec)
	s.mu.Unlock()
	if a.after != nil {
		a.after()
	}
}

func (s *Server) respond(ctx context.Context, w http.ResponseWriter, r *http.Request, a answer, rec *Request) {
	rec.Status = a.status
	var out []byte
	switch {
	case a.status == http.StatusNoContent:
	case a.body != nil:
		out, _ = json.Marshal(a.body)
	default:
		rec.Fault = a.fault
		out, _ = json.Marshal(map[string]string{"fault_message": a.fault})
	}
	// The fake checks its own answers too: a response the spec does not
	// allow is a bug here, reported as a 500 the client cannot miss.
	if rec.Op != "" {
		if err := s.c.ValidateResponse(ctx, r.Method, r.URL.Path, a.status, out); err != nil {
			a.status, rec.Status, rec.Fault = http.StatusInternalServerError, http.StatusInternalServerError, "fctest: "+err.Error()
			out, _ = json.Marshal(map[string]string{"fault_message": rec.Fault})
		}
	}
	if len(out) > 0 {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(a.status)
	_, _ = w.Write(out)
}

// path resolves a path from a request as the (possibly jailed) VMM would.
func (s *Server) path(p string) string {
	if s.opts.Root == "" {
		return p
	}
	return filepath.Join(s.opts.Root, p)
}
