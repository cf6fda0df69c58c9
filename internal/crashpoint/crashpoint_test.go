package crashpoint

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// The child half of TestHitKills: a test binary run with Env set.
var (
	childPoint = New("crashpoint/child", Run)
	otherPoint = New("crashpoint/other", Run)
)

func TestChildProcess(t *testing.T) {
	if os.Getenv("CRASHPOINT_CHILD") != "1" {
		t.Skip("runs only as TestHitKills's child")
	}
	otherPoint.Hit()
	_ = otherPoint.After(nil)
	os.Stdout.WriteString("passed other\n")
	_ = childPoint.After(errors.New("failed step"))
	os.Stdout.WriteString("passed a failed step\n")
	childPoint.Hit()
	os.Stdout.WriteString("survived\n")
}

// TestHitKills runs this test binary armed at a point: it must die by
// SIGKILL at that point's first Hit, and only there.
func TestHitKills(t *testing.T) {
	for _, tc := range []struct {
		armed    string
		killed   bool
		wantOut  []string
		wantNone string
	}{
		{armed: "crashpoint/child", killed: true, wantOut: []string{"passed other", "passed a failed step"}, wantNone: "survived"},
		{armed: "crashpoint/nowhere", killed: false, wantOut: []string{"survived"}},
		{armed: "", killed: false, wantOut: []string{"survived"}},
	} {
		t.Run(tc.armed, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestChildProcess$", "-test.v")
			cmd.Env = append(os.Environ(), "CRASHPOINT_CHILD=1", Env+"="+tc.armed)
			var out, errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			err := cmd.Run()
			ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
			killed := ws.Signaled() && ws.Signal() == syscall.SIGKILL
			if killed != tc.killed {
				t.Fatalf("armed %q: killed=%v (err %v), want %v\nstdout: %s\nstderr: %s", tc.armed, killed, err, tc.killed, out.String(), errb.String())
			}
			for _, w := range tc.wantOut {
				if !strings.Contains(out.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, out.String())
				}
			}
			if tc.wantNone != "" && strings.Contains(out.String(), tc.wantNone) {
				t.Errorf("stdout has %q: the process ran past its crashpoint", tc.wantNone)
			}
			if tc.killed && !strings.Contains(errb.String(), "crashpoint "+tc.armed+": SIGKILL") {
				t.Errorf("stderr does not name the point:\n%s", errb.String())
			}
		})
	}
}

func TestNewRefusesBadNames(t *testing.T) {
	for _, name := range []string{"", "nopackage", "Vms/disk", "vms/", "vms//x", "vms/disk made", "crashpoint/child"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("New(%q) did not panic", name)
				}
			}()
			New(name, Run)
		}()
	}
}

func TestAllListsEveryPointSorted(t *testing.T) {
	all := All()
	var names []string
	for _, p := range all {
		names = append(names, p.Name)
	}
	want := map[string]Op{"crashpoint/child": Run, "crashpoint/other": Run}
	for _, p := range all {
		if op, ok := want[p.Name]; ok && op != p.Op {
			t.Errorf("%s: op %q, want %q", p.Name, p.Op, op)
		}
		delete(want, p.Name)
	}
	if len(want) > 0 {
		t.Errorf("All() = %v lacks %v", names, want)
	}
	for i := 1; i < len(names); i++ {
		if names[i-1] >= names[i] {
			t.Errorf("All() not sorted: %v", names)
		}
	}
}

func TestAfterHitsOnlyOnSuccess(t *testing.T) {
	var hits []string
	oldKill, oldArmed := kill, armed
	t.Cleanup(func() { kill, armed = oldKill, oldArmed })
	kill = func(name string) { hits = append(hits, name) }
	armed = childPoint.Name()
	failure := errors.New("step failed")
	if err := childPoint.After(failure); !errors.Is(err, failure) {
		t.Errorf("After returned %v, want the step's error", err)
	}
	if len(hits) != 0 {
		t.Fatalf("After(error) hit the point: %v", hits)
	}
	if err := childPoint.After(nil); err != nil {
		t.Errorf("After(nil) = %v", err)
	}
	otherPoint.Hit()
	if len(hits) != 1 || hits[0] != "crashpoint/child" {
		t.Errorf("hits %v, want exactly the armed point once", hits)
	}
}

// BenchmarkHitDisarmed measures what a point costs a process that is not
// armed at it (the production case).
func BenchmarkHitDisarmed(b *testing.B) {
	for b.Loop() {
		otherPoint.Hit()
	}
}
