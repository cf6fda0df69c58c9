package snapshots

import "syscall"

// stamp identifies one version of a file: a write changes its ctime, which
// no one can set back, and a replacement its inode.
type stamp struct {
	dev, ino  uint64
	size      int64
	ctimeNano int64
}

func stampOf(path string) (stamp, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return stamp{}, err
	}
	return stamp{dev: uint64(st.Dev), ino: st.Ino, size: st.Size, ctimeNano: st.Ctim.Nano()}, nil //nolint:unconvert // Dev's type differs by architecture
}
