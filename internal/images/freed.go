package images

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// freedBytes is the disk space removing the directories dirs gives back:
// the blocks of each file all of whose links are under dirs. A tag's
// ext4 is a hard link to another image's: removing one name frees it
// only when the other goes too.
func freedBytes(dirs []string) int64 {
	type inode struct {
		links, seen uint64
		bytes       int64
	}
	inodes := map[[2]uint64]*inode{}
	for _, dir := range dirs {
		_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			fi, err := d.Info()
			if err != nil {
				return nil
			}
			st, ok := fi.Sys().(*syscall.Stat_t)
			if !ok {
				return nil
			}
			key := [2]uint64{uint64(st.Dev), st.Ino} //nolint:unconvert // the field types differ by arch
			in := inodes[key]
			if in == nil {
				in = &inode{links: uint64(st.Nlink), bytes: st.Blocks * 512} //nolint:unconvert // the field types differ by arch
				inodes[key] = in
			}
			in.seen++
			return nil
		})
	}
	var total int64
	for _, in := range inodes {
		if in.seen >= in.links {
			total += in.bytes
		}
	}
	return total
}

// allocated is the disk space file p takes (0 when it is gone).
func allocated(p string) int64 {
	fi, err := os.Lstat(p)
	if err != nil {
		return 0
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Blocks * 512
	}
	return fi.Size()
}
