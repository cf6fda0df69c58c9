package keylock

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Holders of one key never overlap; holders of different keys do not wait
// on each other.
func TestSet(t *testing.T) {
	var s Set
	var inside, max atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			unlock := s.Lock("a")
			defer unlock()
			if n := inside.Add(1); n > max.Load() {
				max.Store(n)
			}
			time.Sleep(2 * time.Millisecond)
			inside.Add(-1)
		})
	}
	wg.Wait()
	if max.Load() != 1 {
		t.Fatalf("%d holders of one key at once", max.Load())
	}
	unlockA := s.Lock("a")
	done := make(chan struct{})
	go func() { s.Lock("b")(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("key b waited for key a")
	}
	unlockA()
}
