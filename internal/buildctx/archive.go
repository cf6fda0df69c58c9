package buildctx

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"fmt"
	"io"

	"github.com/ulikunitz/xz"
)

// Unpack reads the archive a local ADD source is into a new tree in dir
// (an existing empty directory) and answers a match of its root, whose
// contents a copy writes into the destination — docker's ADD of a local
// tar, plain or compressed with gzip, bzip2 or xz. ok is false when the
// source is no such archive: ADD then copies the file as it is. The
// archive's members are validated as any hostile tar's.
func Unpack(m Match, dir string, max int64) (Match, bool, error) {
	if !m.Entry.Mode.IsRegular() {
		return m, false, nil
	}
	f, err := m.tree.Open(m.Entry)
	if err != nil {
		return m, false, err
	}
	defer func() { _ = f.Close() }()
	r, ok := decompress(bufio.NewReader(f))
	if !ok {
		return m, false, nil
	}
	br := bufio.NewReaderSize(r, 1024)
	head, _ := br.Peek(512)
	if len(head) < 512 || !bytes.Equal(head[257:262], []byte("ustar")) {
		return m, false, nil
	}
	t, err := ReadTree(br, dir, true, max)
	if err != nil {
		return m, false, fmt.Errorf("unpack %s: %w", m.Entry.Path, err)
	}
	return Match{Name: m.Name, Entry: t.entries[""], tree: t}, true, nil
}

// decompress wraps r by its magic number; false when it is compressed
// in a way it cannot read.
func decompress(r *bufio.Reader) (io.Reader, bool) {
	magic, _ := r.Peek(6)
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		z, err := gzip.NewReader(r)
		return z, err == nil
	case bytes.HasPrefix(magic, []byte("BZh")):
		return bzip2.NewReader(r), true
	case bytes.HasPrefix(magic, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		z, err := xz.NewReader(r)
		return z, err == nil
	}
	return r, true
}
