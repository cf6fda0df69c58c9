package qemu

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/vmm"
)

// BlockStats sums QEMU's query-blockstats over every drive: a real QEMU
// with two drives answers, and the totals decode (nothing read yet: 0).
func TestBlockStatsAgainstQEMU(t *testing.T) {
	if testing.Short() {
		t.Skip("runs qemu")
	}
	dir := shortDir(t)
	var args []string
	for _, d := range []string{"d0", "d1"} {
		img := filepath.Join(dir, d+".img")
		if err := os.WriteFile(img, make([]byte, 1<<20), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "-drive", "file="+img+",if=none,format=raw,id="+d)
	}
	sock, _ := qemuWithQMP(t, dir, args...)
	m := &Machine{id: "blockstats", h: vmm.Handles{Sockets: map[string]string{"qmp": sock}}}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for {
		b, err := m.BlockStats(ctx)
		if err == nil {
			if b != (vmm.BlockStats{}) {
				t.Errorf("a machine that never ran read or wrote: %+v", b)
			}
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("block stats: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
