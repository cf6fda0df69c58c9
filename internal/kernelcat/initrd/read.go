package initrd

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/bangerdev/banger/internal/kernelcat/compress"
	"github.com/bangerdev/banger/internal/kernelcat/cpio"
)

// Entry is one file read back from an initramfs.
type Entry struct {
	Header cpio.Header
	Data   []byte
}

// Contents is an initramfs read back: its codec, its entries in archive
// order, and its manifest.
type Contents struct {
	Codec    compress.Codec
	Entries  []Entry
	Manifest Manifest
}

// Find returns the entry at the absolute path name.
func (c *Contents) Find(name string) (*Entry, bool) {
	for i := range c.Entries {
		if "/"+c.Entries[i].Header.Name == name {
			return &c.Entries[i], true
		}
	}
	return nil, false
}

// maxRead bounds what Read keeps in memory.
const maxRead = 1 << 30

// Read decompresses and parses an initramfs, for verification and tests.
func Read(r io.Reader) (*Contents, error) {
	br := bufio.NewReader(r)
	head, _ := br.Peek(8)
	c := &Contents{Codec: compress.Detect(head)}
	zr, err := compress.NewReader(c.Codec, br)
	if err != nil {
		return nil, err
	}
	defer func() { _ = zr.Close() }()
	cr := cpio.NewReader(io.LimitReader(zr, maxRead))
	found := false
	for {
		h, err := cr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		data, err := io.ReadAll(cr)
		if err != nil {
			return nil, err
		}
		c.Entries = append(c.Entries, Entry{Header: *h, Data: data})
		if "/"+h.Name == ManifestPath {
			if err := json.NewDecoder(bytes.NewReader(data)).Decode(&c.Manifest); err != nil {
				return nil, fmt.Errorf("%s: %w", ManifestPath, err)
			}
			found = true
		}
	}
	if !found {
		return nil, fmt.Errorf("initramfs has no %s", ManifestPath)
	}
	return c, nil
}
