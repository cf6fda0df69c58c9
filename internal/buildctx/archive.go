package buildctx

import (
	"bufio"
	"bytes"
	"fmt"

	"github.com/bangerdev/banger/internal/kernelcat/compress"
)

// Unpack reads the archive a local ADD source is into a new tree in dir
// (an existing empty directory) and answers a match of its root, whose
// contents a copy writes into the destination — docker's ADD of a local
// tar, plain or compressed (gzip, bzip2, xz, zstd, ... as
// kernelcat/compress detects them). ok is false when the
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
	fr := bufio.NewReader(f)
	magic, _ := fr.Peek(8)
	r, err := compress.NewReader(compress.Detect(magic), fr)
	if err != nil {
		return m, false, nil //nolint:nilerr // not an archive ADD unpacks: copied as it is
	}
	defer func() { _ = r.Close() }()
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
