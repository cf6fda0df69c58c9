package dockerapi

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"

	"github.com/bangerdev/banger/internal/vmlogs"
	"github.com/bangerdev/banger/pkg/client"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// streamType is the content type of an attach or exec stream for a
// client of API version: multiplexed without a TTY from 1.42, raw with
// one or before (the framing is the same).
func streamType(tty bool, version string) string {
	if !tty && !lessVersion(version, "1.42") {
		return multiplexedStream
	}
	return rawStream
}

// attach connects the client to the VM's main process through the
// daemon's own attachment: the connection is hijacked (101 UPGRADED
// when the client asked to upgrade to tcp, as the docker CLI does), then
// carries the output (framed unless a TTY) until the process ends, and
// the client's bytes to its stdin. Attached before a start (`docker
// run`), it follows the next run. On a TTY, as Docker's, the detach keys
// (detachKeys, default ctrl-p,ctrl-q) end the attachment and the
// process runs on, its stdin open: neither they nor the client's EOF
// close it.
func (s *Server) attach(w http.ResponseWriter, r *http.Request) {
	vm, err := s.vm(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	q := r.URL.Query()
	stdin := boolParam(q.Get("stdin")) && vm.Spec.Interactive
	keys, err := client.ParseDetachKeys(cmp.Or(q.Get("detachKeys"), client.DefaultDetachKeys))
	if err != nil {
		writeError(w, badParam("Invalid detach keys (%s) provided", q.Get("detachKeys")))
		return
	}
	out := outWriter{tty: vm.Spec.TTY, stdout: boolParam(q.Get("stdout")), stderr: boolParam(q.Get("stderr"))}
	o := vmlogs.SubOptions{Follow: boolParam(q.Get("stream")), Next: true, Session: true}
	if boolParam(q.Get("logs")) {
		o.Backlog = &vmlogs.Query{Tail: -1}
	}
	backlog, sub, err := s.opts.Outputs.Subscribe(vm.ID, o)
	if err != nil {
		writeError(w, fmt.Errorf("container %s: read its output: %w", vm.Name, err))
		return
	}
	if sub != nil {
		defer sub.Close()
	}
	conn, buf, err := hijack(w, r, streamType(vm.Spec.TTY, requestVersion(r)))
	if err != nil {
		return
	}
	defer func() { _ = conn.Close() }()
	out.w = conn
	for _, e := range backlog {
		if out.entry(e) != nil {
			return
		}
	}
	if sub == nil {
		return
	}
	ctx, cancel := context.WithCancel(s.opts.Ctx)
	defer cancel()
	// The client half-closes its side when its input ends (or at once
	// without stdin): that is not leaving, so only a failed write of the
	// output ends the attachment early.
	switch {
	case stdin && vm.Spec.TTY:
		detached := make(chan struct{})
		go func() {
			select {
			case <-detached:
				cancel()
			case <-ctx.Done():
			}
		}()
		in := &stdinReader{r: client.DetachReader(buf.Reader, keys), detached: detached, done: ctx.Done()}
		go s.forwardStdin(ctx, vm.ID, in, sub, false)
	case stdin:
		go s.forwardStdin(ctx, vm.ID, buf.Reader, sub, true)
	}
	for {
		ev, err := sub.Next(ctx)
		if err != nil || ev.Exit != nil {
			return
		}
		if out.entry(ev.Entry) != nil {
			return
		}
	}
}

// forwardStdin copies the client's bytes to the main process's stdin
// once its run has begun (a client attached before the start writes
// early); with closeAtEOF it closes that stdin when the client's input
// ends (docker's stdin-once, which `docker run -i` sets).
func (s *Server) forwardStdin(ctx context.Context, id string, r io.Reader, sub *vmlogs.Sub, closeAtEOF bool) {
	for !s.opts.Outputs.Attached(id, time.Second) {
		if ctx.Err() != nil {
			return
		}
	}
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := sub.WriteStdin(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if closeAtEOF {
				sub.CloseStdin()
			}
			return
		}
	}
}

// hijack takes the connection over and answers the upgrade, or 200 for
// a client that did not ask for one, with the stream's content type.
func hijack(w http.ResponseWriter, r *http.Request, contentType string) (net.Conn, *bufio.ReadWriter, error) {
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		writeError(w, fmt.Errorf("%s %s: take the connection over for the stream: %w", r.Method, r.URL.Path, err))
		return nil, nil, err
	}
	// A hijacked connection keeps the server's deadlines: clear them.
	_ = conn.SetDeadline(time.Time{})
	var head strings.Builder
	if strings.EqualFold(r.Header.Get("Upgrade"), "tcp") {
		head.WriteString("HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n")
	} else {
		head.WriteString("HTTP/1.1 200 OK\r\n")
	}
	head.WriteString("Content-Type: " + contentType + "\r\n")
	for _, k := range []string{"Api-Version", "Server", "Docker-Experimental", "Ostype"} {
		if v := w.Header().Get(k); v != "" {
			head.WriteString(k + ": " + v + "\r\n")
		}
	}
	head.WriteString("\r\n")
	if _, err := conn.Write([]byte(head.String())); err != nil {
		_ = conn.Close()
		return nil, nil, err
	}
	return conn, buf, nil
}

// logs answers the VM's kept output: since/until (seconds since the
// epoch), tail (a count or "all"), timestamps, the streams asked for,
// framed unless a TTY; follow keeps streaming until the main process
// ends.
func (s *Server) logs(w http.ResponseWriter, r *http.Request) {
	vm, err := s.vm(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	q := r.URL.Query()
	out := outWriter{w: w, tty: vm.Spec.TTY, timestamps: boolParam(q.Get("timestamps")), stdout: boolParam(q.Get("stdout")), stderr: boolParam(q.Get("stderr"))}
	if !out.stdout && !out.stderr {
		writeError(w, badParam("Bad parameters: you must choose at least one stream"))
		return
	}
	query, err := logQuery(q.Get("since"), q.Get("until"), q.Get("tail"))
	if err != nil {
		writeError(w, err)
		return
	}
	follow := boolParam(q.Get("follow")) && query.Until.IsZero()
	backlog, sub, err := s.opts.Outputs.Subscribe(vm.ID, vmlogs.SubOptions{Backlog: &query, Follow: follow})
	if err != nil {
		writeError(w, fmt.Errorf("container %s: read its output: %w", vm.Name, err))
		return
	}
	if sub != nil {
		defer sub.Close()
	}
	w.Header().Set("Content-Type", streamType(vm.Spec.TTY, requestVersion(r)))
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	for _, e := range backlog {
		if out.entry(e) != nil {
			return
		}
	}
	_ = rc.Flush()
	if sub == nil {
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer context.AfterFunc(s.opts.Ctx, cancel)()
	defer cancel()
	for {
		ev, err := sub.Next(ctx)
		if err != nil || ev.Exit != nil {
			if errors.Is(err, vmlogs.ErrSlow) {
				_ = out.write(stdcopy.Systemerr, []byte(err.Error()))
			}
			return
		}
		if out.entry(ev.Entry) != nil {
			return
		}
		_ = rc.Flush()
	}
}

// logQuery reads logs' since, until and tail.
func logQuery(since, until, tail string) (vmlogs.Query, error) {
	q := vmlogs.Query{Tail: -1}
	var err error
	if q.Since, err = parseUnixTime("since", since); err != nil {
		return q, err
	}
	if q.Until, err = parseUnixTime("until", until); err != nil {
		return q, err
	}
	if tail != "" && tail != "all" {
		n, err := strconv.Atoi(tail)
		if err != nil {
			return q, badParam("invalid value for tail: %q: want a number or all", tail)
		}
		if n >= 0 {
			q.Tail = n
		}
	}
	return q, nil
}

// resize sets the terminal size of the VM's main process (h rows, w
// columns), which runs on a TTY; the docker CLI sends it after a start
// with -t and at each SIGWINCH.
func (s *Server) resize(w http.ResponseWriter, r *http.Request) {
	vm, err := s.vm(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	rows, herr := strconv.Atoi(r.URL.Query().Get("h"))
	cols, werr := strconv.Atoi(r.URL.Query().Get("w"))
	if herr != nil || werr != nil || rows < 1 || cols < 1 {
		writeError(w, badParam("invalid size: h=%q w=%q: want positive numbers", r.URL.Query().Get("h"), r.URL.Query().Get("w")))
		return
	}
	_, sub, err := s.opts.Outputs.Subscribe(vm.ID, vmlogs.SubOptions{Follow: true})
	if err != nil {
		writeError(w, err)
		return
	}
	if sub == nil {
		writeError(w, kindError(errdefs.ErrConflict, "Container %s is not running", containerID(vm.ID)))
		return
	}
	sub.Resize(rows, cols)
	sub.Close()
	w.WriteHeader(http.StatusOK)
}
