package qemu

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// qmpStep is one QMP command and its arguments: save and restore are
// sequences of them, built by pure functions and tested as data.
type qmpStep struct {
	Cmd  string
	Args map[string]any
}

// snapshotFD names the state file's descriptor passed to QEMU with getfd.
const snapshotFD = "banger-snapshot"

// ignoreShared sets the x-ignore-shared migration capability: with it,
// RAM in a shared file backend stays out of the stream (the file is the
// snapshot's memory); without it, all of RAM goes into the state file. It
// is set either way, because capabilities outlive a migration.
func ignoreShared(on bool) qmpStep {
	return qmpStep{"migrate-set-capabilities", map[string]any{
		"capabilities": []map[string]any{{"capability": "x-ignore-shared", "state": on}},
	}}
}

// saveSteps writes a paused machine's state to the descriptor passed as
// snapshotFD (getfd runs first, with the descriptor attached).
func saveSteps(memFile bool) []qmpStep {
	return []qmpStep{
		ignoreShared(memFile),
		{"getfd", map[string]any{"fdname": snapshotFD}},
		{"migrate", map[string]any{"uri": "fd:" + snapshotFD}},
	}
}

// restoreSteps loads a state file QEMU inherited as descriptor fd into a
// QEMU started with -incoming defer.
func restoreSteps(memFile bool, fd string) []qmpStep {
	return []qmpStep{
		ignoreShared(memFile),
		{"migrate-incoming", map[string]any{"uri": "fd:" + fd}},
	}
}

// migrationInfo is what query-migrate says.
type migrationInfo struct {
	Status    string `json:"status"`
	ErrorDesc string `json:"error-desc"`
}

// qmpFunc runs one QMP command (Machine.qmpArgs, or a fake).
type qmpFunc func(ctx context.Context, cmd string, args, out any) error

// migratePoll is how often waitMigration asks.
const migratePoll = 5 * time.Millisecond

// waitMigration polls query-migrate until the migration completed, failed
// or was cancelled, QEMU is gone (alive; a destination QEMU exits when
// its incoming stream is bad) or ctx ends. QEMU refusing the query fails
// at once; a socket error is retried until ctx ends (it says which).
func waitMigration(ctx context.Context, qmp qmpFunc, alive func() bool) error {
	last := "not started"
	var lastErr error
	for {
		var info migrationInfo
		err := qmp(ctx, "query-migrate", nil, &info)
		if err == nil && info.Status != "" {
			last = info.Status
		}
		var qe *qmpError
		switch {
		case err == nil && info.Status == "completed":
			return nil
		case err == nil && (info.Status == "failed" || info.Status == "cancelled"):
			if info.ErrorDesc == "" {
				info.ErrorDesc = "no reason given"
			}
			return fmt.Errorf("migration %s: %s", info.Status, info.ErrorDesc)
		case !alive():
			return errQEMUGone
		case errors.As(err, &qe):
			return err
		case err != nil:
			lastErr = err
		}
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return fmt.Errorf("migration still %q: %w (last query: %w)", last, ctx.Err(), lastErr)
			}
			return fmt.Errorf("migration still %q: %w", last, ctx.Err())
		case <-time.After(migratePoll):
		}
	}
}

// errQEMUGone says QEMU exited during a migration.
var errQEMUGone = errors.New("qemu exited during the migration")

// runSteps runs steps in order in one QMP session; attach, when not nil, goes
// with the getfd step as SCM_RIGHTS.
func runSteps(ctx context.Context, sock string, steps []qmpStep, attach *os.File) error {
	q, err := dialQMP(ctx, sock)
	if err != nil {
		return err
	}
	defer func() { _ = q.Close() }()
	for _, s := range steps {
		var args any
		if s.Args != nil {
			args = s.Args
		}
		if s.Cmd == "getfd" {
			err = q.executeFD(s.Cmd, args, attach)
		} else {
			err = q.execute(s.Cmd, args, nil)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// executeFD is execute with f's descriptor attached to the command
// (getfd, add-fd).
func (q *qmpConn) executeFD(cmd string, args any, f *os.File) error {
	if _, ok := q.conn.(*net.UnixConn); !ok || f == nil {
		return fmt.Errorf("qmp %s: no descriptor to pass", cmd)
	}
	q.oob = unix.UnixRights(int(f.Fd()))
	return q.execute(cmd, args, nil)
}
