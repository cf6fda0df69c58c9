// Package ext4sb reads the one thing banger needs from an ext4
// superblock: the file system's UUID. The host reads it from the volumes
// it makes; the guest agent finds a volume's block device by it, since
// the order in which drives appear differs between VMMs.
package ext4sb

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// The superblock starts 1024 bytes in; its magic is at offset 0x38 and
// its UUID at 0x68 (the kernel's struct ext4_super_block).
const (
	sbOffset    = 1024
	magicOffset = 0x38
	uuidOffset  = 0x68
	magic       = 0xEF53
)

// ErrNotExt4 is returned for a device or file without an ext2/3/4
// superblock.
var ErrNotExt4 = errors.New("no ext4 superblock")

// ReadUUID returns the UUID of the ext4 file system r holds, in its
// canonical form (8-4-4-4-12 lowercase hex).
func ReadUUID(r io.ReaderAt) (string, error) {
	var sb [uuidOffset + 16]byte
	if _, err := r.ReadAt(sb[:], sbOffset); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return "", ErrNotExt4
		}
		return "", err
	}
	if binary.LittleEndian.Uint16(sb[magicOffset:]) != magic {
		return "", ErrNotExt4
	}
	u := sb[uuidOffset:]
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16]), nil
}

// FileUUID is ReadUUID of the file or device at path.
func FileUUID(path string) (string, error) {
	f, err := os.Open(path) //nolint:gosec // the caller names its own volume or device
	if err != nil {
		return "", err
	}
	defer func() { _ = f.Close() }()
	uuid, err := ReadUUID(f)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return uuid, nil
}
