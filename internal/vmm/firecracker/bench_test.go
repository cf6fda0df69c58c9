package firecracker_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/bangerdev/banger/internal/vmm/firecracker/fctest"
)

// BenchmarkStartShutdown measures the backend's own cost per VM against
// the fake VMM: exec, socket wait (inotify), eleven validated API calls,
// Ctrl-Alt-Del, reap, cleanup. With the real Firecracker the guest's boot
// comes on top.
func BenchmarkStartShutdown(b *testing.B) {
	fake := fctest.Binaries(b)
	be := backend(fake)
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		spec := fctest.Spec(b, fmt.Sprintf("bench-%d", i))
		m, err := be.Start(ctx, spec)
		if err != nil {
			b.Fatal(err)
		}
		if err := m.Shutdown(ctx); err != nil {
			b.Fatal(err)
		}
		if err := m.Cleanup(); err != nil {
			b.Fatal(err)
		}
	}
}
