package kernels

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/bangerdev/banger/internal/fsutil"
	"github.com/bangerdev/banger/internal/kernelcat"
	"github.com/bangerdev/banger/internal/store"
)

// scratchPrefix starts the name of everything an install keeps in the
// scratch directory (kernelcat's work directories, uploads).
const scratchPrefix = "kernel-"

// Reconcile removes what an interrupted install left: scratch
// directories and uploads, entry directories no record names (a daemon
// killed between the rename into place and the commit), and half-written
// initramfs files in recorded entries. Call it before serving, while no
// install runs.
func (s *Service) Reconcile() error {
	leftovers, _ := filepath.Glob(filepath.Join(s.layout.Tmp(), scratchPrefix+"*"))
	ks, err := store.ListAll[kernelcat.Kernel](s.store, store.Kernels)
	if err != nil {
		return fmt.Errorf("reconcile kernels: %w", err)
	}
	known := map[string]bool{}
	for _, k := range ks {
		known[k.Name] = true
		partial, _ := filepath.Glob(filepath.Join(s.layout.Kernel(k.Name), ".initrd-*"))
		leftovers = append(leftovers, partial...)
	}
	unlisted, err := fsutil.Unlisted(s.layout.Kernels(), known)
	if err != nil {
		return fmt.Errorf("reconcile kernels: %w", err)
	}
	leftovers = append(leftovers, unlisted...)
	for _, p := range leftovers {
		s.log.Info("removing kernel files no record names", "path", p)
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("reconcile kernels: %w", err)
		}
	}
	return nil
}
