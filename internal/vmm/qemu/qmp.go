package qemu

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/bangerdev/banger/internal/vmm"
)

// qmpConn is one QMP session. banger opens a session per operation rather
// than keeping one: QEMU serves a single QMP client at a time, and a daemon
// that dies holding it must not lock out the daemon that adopts the VM.
type qmpConn struct {
	conn net.Conn
	r    *bufio.Reader
	stop func() bool // unhooks the ctx cancellation
	// oob goes with the next command written (SCM_RIGHTS, see executeFD).
	oob []byte
}

// qmpError is an error QEMU returned for a command.
type qmpError struct {
	Class string `json:"class"`
	Desc  string `json:"desc"`
}

func (e *qmpError) Error() string { return e.Desc + " (" + e.Class + ")" }

// qmpMessage is any message QEMU sends: the greeting, a reply or an event.
type qmpMessage struct {
	QMP    json.RawMessage `json:"QMP"`
	Return json.RawMessage `json:"return"`
	Error  *qmpError       `json:"error"`
	Event  string          `json:"event"`
}

// dialQMP connects to the QMP socket at path, reads the greeting and leaves
// capabilities negotiation mode. The connection obeys ctx's deadline, and
// at most 5 s when ctx has none, so a wedged QEMU cannot hang the daemon.
func dialQMP(ctx context.Context, path string) (*qmpConn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, err
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(5 * time.Second)
	}
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	q := &qmpConn{conn: conn, r: bufio.NewReader(conn), stop: stop}
	fail := func(err error) (*qmpConn, error) {
		_ = q.Close()
		return nil, err
	}
	m, err := q.read()
	if err != nil {
		return fail(fmt.Errorf("qmp greeting: %w", err))
	}
	if m.QMP == nil {
		return fail(errors.New("qmp greeting: not a QMP server"))
	}
	if err := q.execute("qmp_capabilities", nil, nil); err != nil {
		return fail(err)
	}
	return q, nil
}

func (q *qmpConn) read() (qmpMessage, error) {
	var m qmpMessage
	line, err := q.r.ReadBytes('\n')
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(line, &m); err != nil {
		return m, fmt.Errorf("qmp: malformed message %q: %w", truncate(line, 200), err)
	}
	return m, nil
}

// execute runs one command and decodes its return value into out (when
// not nil). Events that arrive meanwhile are skipped.
func (q *qmpConn) execute(cmd string, args, out any) error {
	req := map[string]any{"execute": cmd}
	if args != nil {
		req["arguments"] = args
	}
	b, err := json.Marshal(req)
	if err != nil {
		return err
	}
	if err := q.write(append(b, '\n')); err != nil {
		return fmt.Errorf("qmp %s: %w", cmd, err)
	}
	for {
		m, err := q.read()
		if err != nil {
			return fmt.Errorf("qmp %s: %w", cmd, err)
		}
		switch {
		case m.Error != nil:
			return fmt.Errorf("qmp %s: %w", cmd, m.Error)
		case m.Return != nil:
			if out == nil {
				return nil
			}
			if err := json.Unmarshal(m.Return, out); err != nil {
				return fmt.Errorf("qmp %s: decode reply: %w", cmd, err)
			}
			return nil
		}
		// An event (m.Event != "") or an unknown message: keep reading.
	}
}

// write sends b, with q.oob attached once when set.
func (q *qmpConn) write(b []byte) error {
	oob := q.oob
	q.oob = nil
	if uc, ok := q.conn.(*net.UnixConn); ok && oob != nil {
		_, _, err := uc.WriteMsgUnix(b, oob, nil)
		return err
	}
	_, err := q.conn.Write(b)
	return err
}

func (q *qmpConn) Close() error {
	q.stop()
	return q.conn.Close()
}

// qmpDo opens a session, runs one command and closes the session.
func qmpDo(ctx context.Context, path, cmd string, args, out any) error {
	q, err := dialQMP(ctx, path)
	if err != nil {
		return err
	}
	defer func() { _ = q.Close() }()
	return q.execute(cmd, args, out)
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// BlockStats implements vmm.BlockStatser: the guest's reads and writes
// over every drive, from QMP query-blockstats.
func (m *Machine) BlockStats(ctx context.Context) (vmm.BlockStats, error) {
	var devs []struct {
		Stats struct {
			RdBytes uint64 `json:"rd_bytes"`
			WrBytes uint64 `json:"wr_bytes"`
		} `json:"stats"`
	}
	if err := m.qmp(ctx, "query-blockstats", &devs); err != nil {
		return vmm.BlockStats{}, m.errf("block stats", err)
	}
	var out vmm.BlockStats
	for _, d := range devs {
		out.ReadBytes += d.Stats.RdBytes
		out.WriteBytes += d.Stats.WrBytes
	}
	return out, nil
}
