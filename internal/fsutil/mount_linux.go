package fsutil

import (
	"os"
	"path/filepath"
	"syscall"
)

// mountOf finds the mount holding path (which need not exist any more:
// what failed to be written is usually removed).
func mountOf(path string) (mount, bool) {
	p := filepath.Clean(path)
	for {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
			break
		}
		parent := filepath.Dir(p)
		if parent == p {
			break
		}
		p = parent
	}
	table, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return mount{}, false
	}
	best, ok := mountFor(string(table), p)
	if ok {
		var st syscall.Statfs_t
		if syscall.Statfs(best.dir, &st) == nil {
			best.size = int64(st.Blocks) * int64(st.Bsize) //nolint:unconvert // the field types differ by arch
		}
	}
	return best, ok
}
