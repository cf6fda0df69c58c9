package events

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/bangerdev/banger/internal/store"
)

// BenchmarkPublish is what an event adds to the operation that reports
// it: one bbolt transaction (fsynced), then the fan-out to subs
// subscribers; the baseline is one store.Put of a record, what the
// operation's own record costs.
func BenchmarkPublish(b *testing.B) {
	b.Run("baseline=store.Put", func(b *testing.B) {
		st, err := store.Open(filepath.Join(b.TempDir(), "banger.db"))
		if err != nil {
			b.Fatal(err)
		}
		defer func() { _ = st.Close() }()
		rec := Event{Type: TypeVM, Action: Start, ID: "0123456789abcdef", Name: "web"}
		b.ResetTimer()
		for range b.N {
			if err := st.Put(store.VMs, rec.ID, rec); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, subs := range []int{0, 16} {
		b.Run(fmt.Sprintf("subscribers=%d", subs), func(b *testing.B) {
			st, err := store.Open(filepath.Join(b.TempDir(), "banger.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer func() { _ = st.Close() }()
			j, err := Open(st, Options{Retain: 1000, Buffer: b.N + 1})
			if err != nil {
				b.Fatal(err)
			}
			for range subs {
				if _, err := j.Subscribe(Query{}); err != nil {
					b.Fatal(err)
				}
			}
			e := Event{Type: TypeVM, Action: Start, ID: "0123456789abcdef", Name: "web", Attributes: map[string]string{"image": "busybox", "tier": "front"}}
			b.ResetTimer()
			for range b.N {
				j.Publish(e)
			}
		})
	}
}
