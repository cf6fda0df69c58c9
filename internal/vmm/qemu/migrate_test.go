package qemu

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/proc"
	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// fakeQMP is a QMP server on a unix socket that answers each command with
// reply and logs the commands it got (qmp_capabilities aside).
type fakeQMP struct {
	sock  string
	mu    sync.Mutex
	cmds  []string
	reply func(cmd string) (ret any, qerr *qmpError)
}

func newFakeQMP(t *testing.T, reply func(cmd string) (any, *qmpError)) *fakeQMP {
	t.Helper()
	f := &fakeQMP{sock: filepath.Join(shortDir(t), "qmp.sock"), reply: reply}
	l, err := net.Listen("unix", f.sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go f.serve(c)
		}
	}()
	return f
}

func (f *fakeQMP) serve(c net.Conn) {
	defer func() { _ = c.Close() }()
	enc := json.NewEncoder(c)
	_ = enc.Encode(map[string]any{"QMP": map[string]any{"version": map[string]any{}}})
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			return
		}
		var req struct{ Execute string }
		_ = json.Unmarshal(line, &req)
		if req.Execute == "qmp_capabilities" {
			_ = enc.Encode(map[string]any{"return": map[string]any{}})
			continue
		}
		f.mu.Lock()
		f.cmds = append(f.cmds, req.Execute)
		f.mu.Unlock()
		ret, qerr := f.reply(req.Execute)
		if qerr != nil {
			_ = enc.Encode(map[string]any{"error": qerr})
			continue
		}
		_ = enc.Encode(map[string]any{"event": "MIGRATION", "data": map[string]any{}}) // events are skipped
		_ = enc.Encode(map[string]any{"return": ret})
	}
}

func (f *fakeQMP) commands() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.cmds...)
}

// Save and restore as QMP commands: x-ignore-shared is set (on or off)
// before every migration, the state goes through a passed descriptor.
func TestMigrationSteps(t *testing.T) {
	caps := func(on bool) qmpStep {
		return qmpStep{"migrate-set-capabilities", map[string]any{"capabilities": []map[string]any{{"capability": "x-ignore-shared", "state": on}}}}
	}
	tests := []struct {
		name string
		got  []qmpStep
		want []qmpStep
	}{
		{"save ram in state", saveSteps(false), []qmpStep{caps(false),
			{"getfd", map[string]any{"fdname": "banger-snapshot"}},
			{"migrate", map[string]any{"uri": "fd:banger-snapshot"}}}},
		{"save memory file", saveSteps(true), []qmpStep{caps(true),
			{"getfd", map[string]any{"fdname": "banger-snapshot"}},
			{"migrate", map[string]any{"uri": "fd:banger-snapshot"}}}},
		{"restore ram in state", restoreSteps(false, "12"), []qmpStep{caps(false),
			{"migrate-incoming", map[string]any{"uri": "fd:12"}}}},
		{"restore memory file", restoreSteps(true, "9"), []qmpStep{caps(true),
			{"migrate-incoming", map[string]any{"uri": "fd:9"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Errorf("steps\n got %+v\nwant %+v", tt.got, tt.want)
			}
		})
	}
}

// waitMigration polls query-migrate until an end state, and fails fast
// when QEMU is gone or ctx ends.
func TestWaitMigration(t *testing.T) {
	tests := []struct {
		name     string
		statuses []string // answered in turn; the last one repeats
		desc     string
		alive    bool
		timeout  time.Duration
		want     string // "" is success
		polls    int    // at least
	}{
		{"completes", []string{"setup", "active", "active", "completed"}, "", true, 5 * time.Second, "", 4},
		{"fails with a reason", []string{"active", "failed"}, "Unable to write to file", true, 5 * time.Second, "migration failed: Unable to write to file", 2},
		{"cancelled", []string{"cancelled"}, "", true, 5 * time.Second, "migration cancelled: no reason given", 1},
		{"qemu gone", []string{"active"}, "", false, 5 * time.Second, "qemu exited during the migration", 1},
		{"never ends", []string{"active"}, "", true, 100 * time.Millisecond, `migration still "active"`, 2},
		{"refused", []string{"error"}, "", true, 5 * time.Second, "qmp query-migrate: no migration here (GenericError)", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := 0
			var mu sync.Mutex
			f := newFakeQMP(t, func(string) (any, *qmpError) {
				mu.Lock()
				defer mu.Unlock()
				st := tt.statuses[min(n, len(tt.statuses)-1)]
				n++
				if st == "error" {
					return nil, &qmpError{Class: "GenericError", Desc: "no migration here"}
				}
				return map[string]any{"status": st, "error-desc": tt.desc}, nil
			})
			ctx, cancel := context.WithTimeout(t.Context(), tt.timeout)
			defer cancel()
			q := func(ctx context.Context, cmd string, args, out any) error {
				return qmpDo(ctx, f.sock, cmd, args, out)
			}
			err := waitMigration(ctx, q, func() bool { return tt.alive })
			if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("waitMigration = %v; want %q", err, tt.want)
			}
			if cmds := f.commands(); len(cmds) < tt.polls || cmds[0] != "query-migrate" {
				t.Errorf("commands %v; want at least %d query-migrate", cmds, tt.polls)
			}
		})
	}
}

// CreateSnapshot refuses what it cannot save before it sends QEMU
// anything, and saves nothing of a running machine.
func TestCreateSnapshotRefuses(t *testing.T) {
	tests := []struct {
		name     string
		h        vmm.Handles
		s        vmm.SnapshotSpec
		status   string
		want     string
		sentinel error
		sent     []string
	}{
		{"shared dirs", vmm.Handles{SharedDirs: vmm.SharedDirNames([]vmm.SharedDir{{Tag: "vol0", Desc: "-v /srv:/data"}, {Tag: "vol1"}})},
			vmm.SnapshotSpec{StatePath: "x"}, "paused", "virtio-fs (vol0 (-v /srv:/data), vol1)", vmm.ErrNotMigratable, nil},
		{"diff", vmm.Handles{}, vmm.SnapshotSpec{StatePath: "x", Type: vmm.SnapshotDiff}, "paused",
			"full snapshots only", errdefs.ErrUnsupported, nil},
		{"no state path", vmm.Handles{}, vmm.SnapshotSpec{}, "paused", "no state path", errdefs.ErrInvalid, nil},
		{"memory path without a memory file", vmm.Handles{}, vmm.SnapshotSpec{StatePath: "x", MemPath: "y"}, "paused",
			"guest RAM is not in a file", errdefs.ErrInvalid, nil},
		{"memory path is the live RAM file", vmm.Handles{MemoryFile: "/run/m"}, vmm.SnapshotSpec{StatePath: "x", MemPath: "/run/m"}, "paused",
			"keeps changing", errdefs.ErrInvalid, nil},
		{"running", vmm.Handles{}, vmm.SnapshotSpec{StatePath: "x"}, "running",
			"the machine is running", errdefs.ErrConflict, []string{"query-status"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeQMP(t, func(string) (any, *qmpError) { return map[string]any{"status": tt.status}, nil })
			tt.h.Sockets = map[string]string{"qmp": f.sock}
			self, err := proc.Lookup(os.Getpid()) // a live process
			if err != nil {
				t.Fatal(err)
			}
			tt.h.Process = self
			m := &Machine{id: "vm1", h: tt.h, dir: filepath.Dir(f.sock)}
			err = m.CreateSnapshot(t.Context(), tt.s)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, tt.sentinel) {
				t.Fatalf("CreateSnapshot = %v; want %q (%v)", err, tt.want, tt.sentinel)
			}
			if got := f.commands(); !reflect.DeepEqual(got, tt.sent) {
				t.Errorf("QMP commands sent: %v; want %v", got, tt.sent)
			}
		})
	}
}
