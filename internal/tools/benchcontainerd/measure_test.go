package main

import (
	"context"
	"errors"
	"testing"
)

// TestWaitAll: waitAll returns once list holds every id (polling until
// then), passes list's error on, and ends with the context's error when
// it is cancelled while ids are missing.
func TestWaitAll(t *testing.T) {
	ids := []string{"tp-1", "tp-2"}
	t.Run("all running on the third poll", func(t *testing.T) {
		polls := 0
		err := waitAll(t.Context(), ids, func() ([]string, error) {
			polls++
			if polls < 3 {
				return []string{"tp-2", "other"}, nil
			}
			return []string{"other", "tp-2", "tp-1"}, nil
		})
		if err != nil || polls != 3 {
			t.Fatalf("waitAll: %v after %d polls, want nil after 3", err, polls)
		}
	})
	t.Run("list fails", func(t *testing.T) {
		boom := errors.New("ctr task ls: exit 1")
		if err := waitAll(t.Context(), ids, func() ([]string, error) { return nil, boom }); !errors.Is(err, boom) {
			t.Fatalf("waitAll: %v, want %v", err, boom)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		err := waitAll(ctx, ids, func() ([]string, error) { cancel(); return []string{"tp-1"}, nil })
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("waitAll: %v, want context.Canceled", err)
		}
	})
}

// TestPerMinute: n containers in secs seconds as a rate per minute.
func TestPerMinute(t *testing.T) {
	for _, tc := range []struct {
		n    int
		secs float64
		want float64
	}{{6, 60, 6}, {4, 10, 24}, {1, 0.5, 120}} {
		if got := perMinute(tc.n, tc.secs); got != tc.want {
			t.Errorf("perMinute(%d, %v) = %v, want %v", tc.n, tc.secs, got, tc.want)
		}
	}
}
