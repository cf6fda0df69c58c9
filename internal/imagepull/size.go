package imagepull

import (
	"fmt"

	"github.com/bangerdev/banger/internal/units"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// MinSize is the smallest image banger makes: room for a journal and for
// the guest's first writes even when the content is a few files.
const MinSize = 64 * units.MiB

const (
	blockSize      = 4096
	blocksPerGroup = 32768
	// inodesPerGroup is the density images are given: one inode per 16 KiB,
	// mke2fs's default, so a guest can create files in proportion to the
	// space it has.
	inodesPerGroup = 8192
)

// journalBytes is the journal tune2fs creates for a file system of size
// bytes (e2fsprogs' ext2fs_default_journal_size, in 4 KiB blocks).
func journalBytes(size int64) int64 {
	blocks := size / blockSize
	var j int64
	switch {
	case blocks < 2048:
		j = 0
	case blocks < 32768:
		j = 1024
	case blocks < 256*1024:
		j = 4096
	case blocks < 512*1024:
		j = 8192
	case blocks < 4096*1024:
		j = 16384
	case blocks < 8192*1024:
		j = 32768
	case blocks < 16384*1024:
		j = 65536
	case blocks < 32768*1024:
		j = 131072
	default:
		j = 262144
	}
	return j * blockSize
}

// imageSize decides the size of an image whose compact file system (the
// content, its metadata and inode tables, nothing free) takes compact
// bytes: the content plus headroomPercent of it plus the journal, rounded
// up to a MiB, at least MinSize. A requested size wins when it holds the
// content and the journal.
func imageSize(compact int64, headroomPercent int, requested int64) (int64, error) {
	need := compact + journalBytes(compact)
	need += journalBytes(need) - journalBytes(compact) // the journal grows with the file system
	if requested > 0 {
		requested = alignUp(requested, blockSize)
		switch {
		case requested < MinSize:
			return 0, fmt.Errorf("%w: size %s: images are at least %s", errdefs.ErrInvalid, units.FormatSize(requested), units.FormatSize(MinSize))
		case requested < need:
			return 0, fmt.Errorf("%w: size %s is too small: the content needs %s", errdefs.ErrInvalid, units.FormatSize(requested), units.FormatSize(alignUp(need, units.MiB)))
		}
		return requested, nil
	}
	size := compact + compact*int64(headroomPercent)/100
	size += journalBytes(size + journalBytes(size))
	return max(MinSize, alignUp(size, units.MiB)), nil
}

// reserveInodes is how many placeholder inodes to add so the image has
// inodesPerGroup per block group (tar2ext4 sizes its inode tables to the
// inodes it wrote, and resize2fs gives new groups as many as the old), or
// headroomPercent more than used when the content is denser than that.
func reserveInodes(used, dataBlocks int64, headroomPercent int) int64 {
	perGroup := int64(blocksPerGroup - inodesPerGroup*256/blockSize - 2)
	groups := max(1, (dataBlocks+perGroup-1)/perGroup)
	want := max(inodesPerGroup*groups, used+used*int64(headroomPercent)/100)
	return max(0, want-used-1) // the placeholder directory is an inode too
}

func alignUp(n, to int64) int64 { return (n + to - 1) / to * to }
