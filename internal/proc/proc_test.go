package proc

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"
)

func TestParseStartTime(t *testing.T) {
	tests := []struct {
		stat string
		want uint64
		ok   bool
	}{
		{"1234 (qemu-system-x86) S 1 1234 1234 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 3 0 987654 1000 200", 987654, true},
		{"77 (a) b (c) R 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 42 0 0", 42, true},
		{"77 (short) R 1 2", 0, false},
		{"no paren", 0, false},
	}
	for _, tt := range tests {
		got, err := parseStartTime([]byte(tt.stat))
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseStartTime(%q) = %d, %v", tt.stat, got, err)
		}
	}
}

func TestIdentityOfChild(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	cmd.Env = append(os.Environ(), "BANGER_VM=proctest-"+t.Name())
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot start sleep: %v", err)
	}
	reaped := make(chan struct{})
	go func() { _ = cmd.Wait(); close(reaped) }()

	id, err := Lookup(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if !id.Alive() {
		t.Fatal("live child not Alive")
	}
	stale := id
	stale.StartTime++
	if stale.Alive() {
		t.Fatal("identity with a different start time must not be Alive (pid reuse)")
	}
	pids, err := FindByEnv("BANGER_VM", "proctest-"+t.Name())
	if err != nil || !slices.Contains(pids, id.PID) {
		t.Fatalf("FindByEnv = %v, %v; want %d", pids, err, id.PID)
	}
	all, err := EnvPrefixed("BANGER_VM")
	if err != nil || all[id.PID] != "proctest-"+t.Name() {
		t.Fatalf("EnvPrefixed = %v, %v", all, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := id.Wait(ctx); err == nil {
		t.Fatal("Wait returned before the process exited")
	}
	if err := id.Kill(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	<-reaped
	if id.Alive() {
		t.Fatal("killed process still Alive")
	}
	if err := id.Wait(context.Background()); err != nil {
		t.Fatalf("Wait on a gone process: %v", err)
	}
}
