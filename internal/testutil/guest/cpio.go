package guest

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// entry is one file of a newc cpio archive.
type entry struct {
	mode uint32 // type bits and permissions
	data []byte // contents, or a symlink's target
	rdev [2]uint32
}

// Archive modes.
const (
	modeDir     = 0o040000
	modeFile    = 0o100000
	modeSymlink = 0o120000
	modeChar    = 0o020000
)

// writeCPIO writes entries as a newc ("070701") archive, parents before
// children, as the kernel's initramfs unpacker expects.
func writeCPIO(w io.Writer, entries map[string]entry) error {
	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	sort.Strings(names) // a parent sorts before its children
	ino := uint32(1)
	for _, name := range names {
		if err := writeEntry(w, ino, strings.TrimPrefix(name, "/"), entries[name]); err != nil {
			return err
		}
		ino++
	}
	return writeEntry(w, ino, "TRAILER!!!", entry{})
}

func writeEntry(w io.Writer, ino uint32, name string, e entry) error {
	nlink := 1
	if e.mode&0o170000 == modeDir {
		nlink = 2
	}
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		ino, e.mode, 0, 0, nlink, 0, len(e.data), 0, 0, e.rdev[0], e.rdev[1], len(name)+1, 0)
	buf := append([]byte(hdr), name...)
	buf = append(buf, 0)
	buf = pad4(buf)
	buf = append(buf, e.data...)
	buf = pad4(buf)
	_, err := w.Write(buf)
	return err
}

func pad4(b []byte) []byte {
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}
