package vms

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// With one boot slot, a second start waits until the first VM's agent
// answered before its VMM starts; a start that fails gives its slot back;
// a start that cannot get a slot fails naming the setting.
func TestBootSlotsLetVMsBootInTurn(t *testing.T) {
	f := newFixture(t)
	f.s.boots = bootSlots(1)
	a, b := f.create("a"), f.create("b")

	// A's handshake blocks until released; B's does not.
	gate, blocked := make(chan struct{}), make(chan struct{})
	release := sync.OnceFunc(func() { close(gate) })
	t.Cleanup(release) // a failed check must not leave A blocked
	var once sync.Once
	f.h.onOp = func(op string) {
		if op == "agent.handshake" {
			once.Do(func() { close(blocked); <-gate })
		}
	}
	started := make(chan error, 2)
	bctx, bcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer bcancel()
	go func() { _, err := f.s.Start(bctx, a.ID); started <- err }()
	<-blocked
	go func() { _, err := f.s.Start(bctx, b.ID); started <- err }()
	time.Sleep(50 * time.Millisecond)
	if n := count(f.h.log(), "vmm.start"); n != 1 {
		t.Fatalf("%d VMMs started while one boot slot was taken: %v", n, f.h.log())
	}
	release()
	for range 2 {
		if err := <-started; err != nil {
			t.Fatal(err)
		}
	}
	log := f.h.log()
	if first, second := index(log, "agent.handshake", 0), index(log, "vmm.start", 1); first < 0 || second < first {
		t.Fatalf("the second VMM started before the first agent answered: %v", log)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if res, err := f.s.Start(ctx, f.create("c").ID); err != nil {
		t.Fatalf("the slot of a booted VM was not given back: %v %v", err, res.Timings)
	}

	// A failed boot gives its slot back.
	f.h.onOp = nil
	f.h.failOn("agent.handshake", errors.New("no agent"))
	if _, err := f.s.Start(context.Background(), f.create("broken").ID); err == nil {
		t.Fatal("a start whose agent fails succeeded")
	}
	f.h.failOn("agent.handshake", nil)
	ctx, cancel = context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := f.s.Start(ctx, f.create("after").ID); err != nil {
		t.Fatalf("the slot of a failed start was not given back: %v", err)
	}

	// No slot at all: the start says what it waited for, and started
	// nothing.
	f.s.boots <- struct{}{}
	before := count(f.h.log(), "vmm.start")
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := f.s.Start(ctx, f.create("waits").ID)
	if err == nil || !strings.Contains(err.Error(), "queue") || !strings.Contains(err.Error(), "vm.parallel_boots") {
		t.Fatalf("a start that got no slot: %v", err)
	}
	if after := count(f.h.log(), "vmm.start"); after != before {
		t.Fatalf("the waiting start started a VMM: %v", f.h.log())
	}
}

// index is the position of the nth (from 0) op in ops, or -1.
func index(ops []string, op string, nth int) int {
	for i, o := range ops {
		if o == op {
			if nth == 0 {
				return i
			}
			nth--
		}
	}
	return -1
}
