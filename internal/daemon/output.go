package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/bangerdev/banger/internal/vmlogs"
	"github.com/bangerdev/banger/internal/vms"
	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// attachWait bounds how long an attach waits for the daemon's own
// attachment to a VM that just started.
const attachWait = 3 * time.Second

// mainLogFile is where a VM's main process output is kept, in its
// directory (removed with it).
const mainLogFile = "main.log"

// newOutputs is the service that keeps main process output.
func (d *Daemon) newOutputs() *vmlogs.Service {
	return &vmlogs.Service{
		Path:   func(id string) string { return filepath.Join(d.layout.VM(id), mainLogFile) },
		Limits: vmlogs.Limits{MaxSize: int64(d.cfg.VM.LogMaxSize), MaxFiles: d.cfg.VM.LogMaxFiles},
		Log:    d.log,
		Own:    d.layout.Roots(),
	}
}

// logs streams a VM's kept main process output as frames (stdout and
// stderr apart), or with console=1 its serial console; follow=1 keeps
// streaming until the main process ends (the console: the VM stops).
func (d *Daemon) logs(w http.ResponseWriter, r *http.Request) {
	vm, err := d.vms.Get(r.PathValue("ref"))
	if err != nil {
		api.WriteError(w, err)
		return
	}
	q, err := api.VMLogs.Decode(r)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	if q.Console {
		d.consoleLogs(w, r, vm, q)
		return
	}
	query := vmlogs.Query{Tail: -1}
	if q.Tail != nil {
		query.Tail = *q.Tail
	}
	if query.Since, err = parseWireTime("since", q.Since); err == nil {
		query.Until, err = parseWireTime("until", q.Until)
	}
	if err != nil {
		api.WriteError(w, err)
		return
	}
	follow := q.Follow && query.Until.IsZero()
	backlog, sub, err := d.outputs.Subscribe(vm.ID, vmlogs.SubOptions{Backlog: &query, Follow: follow})
	if err != nil {
		api.WriteError(w, fmt.Errorf("vm %s: read the output log: %w", vm.Name, err))
		return
	}
	if sub != nil {
		defer sub.Close()
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	out := frameOut{w: w, timestamps: q.Timestamps}
	for _, e := range backlog {
		if out.entry(e) != nil {
			return
		}
	}
	_ = rc.Flush()
	if sub == nil {
		return
	}
	for {
		ev, err := sub.Next(r.Context())
		if err != nil {
			if errors.Is(err, vmlogs.ErrSlow) {
				_ = api.WriteFrame(w, api.FrameError, []byte(err.Error()))
			}
			return
		}
		if ev.Exit != nil {
			return
		}
		if out.entry(ev.Entry) != nil {
			return
		}
		_ = rc.Flush()
	}
}

// consoleLogs streams the serial console log (plain text).
func (d *Daemon) consoleLogs(w http.ResponseWriter, r *http.Request, vm vms.VM, q api.VMLogsQuery) {
	o := vms.LogOptions{Follow: q.Follow, Tail: -1}
	if q.Tail != nil {
		o.Tail = *q.Tail
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = d.vms.Logs(r.Context(), vm.ID, o, w, func() { _ = rc.Flush() })
}

// attach connects a client to a VM's main process through the daemon's
// own attachment: the output kept since the run began (logs=1), then
// live output and the exit status; the client's stdin and terminal size
// go the other way.
func (d *Daemon) attach(w http.ResponseWriter, r *http.Request) {
	vm, err := d.vms.Get(r.PathValue("ref"))
	if err != nil {
		api.WriteError(w, err)
		return
	}
	q, err := api.AttachVM.Decode(r)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	// A VM just started may not have its attachment yet: give it a moment.
	if !q.Next && !d.outputs.Attached(vm.ID, attachWait) {
		api.WriteError(w, fmt.Errorf("vm %s: %w: its main process is not running (the VM is stopped, or has no main process); see `banger logs %s`", vm.Name, errdefs.ErrConflict, vm.Name))
		return
	}
	o := vmlogs.SubOptions{Follow: true, Next: q.Next, Session: true}
	if q.Logs {
		o.Backlog = &vmlogs.Query{Tail: -1}
	}
	backlog, sub, err := d.outputs.Subscribe(vm.ID, o)
	if err != nil {
		api.WriteError(w, fmt.Errorf("vm %s: read the output log: %w", vm.Name, err))
		return
	}
	conn, err := api.Hijack(w, r, api.ProtocolAttach)
	if err != nil {
		if sub != nil {
			sub.Close()
		}
		api.WriteError(w, err)
		return
	}
	defer func() { _ = conn.Close() }()
	out := frameOut{w: conn}
	for _, e := range backlog {
		if out.entry(e) != nil {
			return
		}
	}
	if sub == nil {
		_ = api.WriteFrame(conn, api.FrameError, []byte(fmt.Sprintf("vm %s: its main process ended", vm.Name)))
		return
	}
	defer sub.Close()
	ctx, cancel := context.WithCancel(d.ctx)
	defer cancel()
	go func() {
		defer cancel() // the client left
		readClient(conn, sub, q.Stdin)
	}()
	for {
		ev, err := sub.Next(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil:
			_ = api.WriteFrame(conn, api.FrameError, []byte(fmt.Sprintf("vm %s: %v", vm.Name, err)))
			return
		case ev.Exit != nil:
			_ = api.WriteFrame(conn, api.FrameExit, []byte(strconv.Itoa(ev.Exit.Code)))
			return
		}
		if out.entry(ev.Entry) != nil {
			return
		}
	}
}

// readClient applies an attached client's frames until it leaves.
func readClient(r io.Reader, sub *vmlogs.Sub, stdin bool) {
	for {
		f, err := api.ReadFrame(r)
		if err != nil {
			return
		}
		switch f.Kind {
		case api.FrameStdin:
			if stdin {
				_, _ = sub.WriteStdin(f.Data)
			}
		case api.FrameStdinEOF:
			if stdin {
				sub.CloseStdin()
			}
		case api.FrameResize:
			var rows, cols int
			if _, err := fmt.Sscan(string(f.Data), &rows, &cols); err == nil && rows > 0 && cols > 0 {
				sub.Resize(rows, cols)
			}
		}
	}
}

// frameOut writes entries as frames.
type frameOut struct {
	w          io.Writer
	timestamps bool
}

func (o frameOut) entry(e vmlogs.Entry) error {
	kind := api.FrameStdout
	if e.Stream == vmlogs.Stderr {
		kind = api.FrameStderr
	}
	data := e.Data
	if o.timestamps {
		data = append([]byte(e.Time.UTC().Format(time.RFC3339Nano)+" "), data...)
	}
	return api.WriteFrame(o.w, kind, data)
}

// parseWireTime reads a query's RFC 3339 time; empty is the zero time.
func parseWireTime(name, s string) (time.Time, error) {
	if strings.TrimSpace(s) == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %s %q: want an RFC 3339 time", errdefs.ErrInvalid, name, s)
	}
	return t, nil
}
