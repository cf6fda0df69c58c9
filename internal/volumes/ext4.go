package volumes

import (
	"context"
	"crypto/rand"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/bangerdev/banger/internal/ext4sb"
	"github.com/bangerdev/banger/internal/fsutil"
	"github.com/bangerdev/banger/internal/imagepull"
	"github.com/bangerdev/banger/internal/units"
)

// DefaultVolumeSize is a named volume's size when none is given. The
// file is sparse: it takes what the guest writes, and about 5 MiB of
// metadata at first.
const DefaultVolumeSize = 10 * units.GiB

// minImageSize is the smallest image of a directory: room for the journal
// and the guest's first writes.
const minImageSize = 64 * units.MiB

// step is one e2fsprogs run.
type step struct {
	argv  []string
	stdin string
	what  string
}

// Runner runs e2fsprogs steps; tests record them instead.
type Runner func(ctx context.Context, argv []string, stdin, what string) error

// mkfsPlan makes an ext4 of size bytes at path (which exists, sparse):
// 4 KiB blocks, the given UUID, no reserved blocks (a volume is all
// data), and no zeroing of inode tables or journal (the file is sparse,
// so it reads zeroes already; otherwise the guest's kernel would write
// them, ~1.6% of the volume). With from, the file system holds a copy of
// that directory with its owners (mke2fs -d): then the root takes the
// directory's owner and mode too, and lost+found goes so the volume
// looks like the directory. inodes is a minimum ("" leaves mke2fs's).
func mkfsPlan(path string, size int64, uuid, from string, root fs.FileInfo, inodes int) []step {
	argv := []string{"mkfs.ext4", "-q", "-F", "-b", "4096", "-m", "0", "-U", uuid}
	ext := "lazy_itable_init=1,lazy_journal_init=1,assume_storage_prezeroed=1"
	if root != nil {
		if st, ok := root.Sys().(*syscall.Stat_t); ok {
			ext += ",root_owner=" + strconv.Itoa(int(st.Uid)) + ":" + strconv.Itoa(int(st.Gid))
		}
	}
	argv = append(argv, "-E", ext)
	if inodes > 0 {
		argv = append(argv, "-N", strconv.Itoa(inodes))
	}
	if from != "" {
		argv = append(argv, "-d", from)
	}
	argv = append(argv, path, strconv.FormatInt(size/1024, 10)+"k")
	// debugfs runs constant commands only: no name from the directory
	// ever reaches it (its batch syntax cannot quote every name, and its
	// "!" runs host commands).
	batch := "rmdir lost+found\n"
	if root != nil {
		batch = fmt.Sprintf("sif / mode 0%o\n", uint32(syscall.S_IFDIR)|uint32(root.Mode().Perm()|stickyBits(root.Mode()))) + batch
	}
	return []step{
		{argv: argv, what: "make the file system"},
		{argv: []string{"debugfs", "-w", "-f", "-", path}, stdin: batch, what: "set the root's mode, drop lost+found"},
	}
}

// stickyBits are fs.FileMode's setuid/setgid/sticky bits as mode bits.
func stickyBits(m fs.FileMode) fs.FileMode {
	var b fs.FileMode
	if m&fs.ModeSetuid != 0 {
		b |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		b |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		b |= 0o1000
	}
	return b
}

// newUUID returns a random (version 4) UUID.
func newUUID() (string, error) {
	var u [16]byte
	if _, err := rand.Read(u[:]); err != nil {
		return "", err
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16]), nil
}

// makeExt4 makes the ext4 file path (which must not exist) of size
// bytes, from the directory from when given, and returns its UUID. On
// error the file is removed; a full host file system is named
// (fsutil.NoSpace).
func makeExt4(ctx context.Context, run Runner, path string, size int64, from string, inodes int) (uuid string, err error) {
	var root fs.FileInfo
	if from != "" {
		if root, err = os.Stat(from); err != nil {
			return "", err
		}
	}
	if uuid, err = newUUID(); err != nil {
		return "", err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600) //nolint:gosec // the caller's path, inside banger's state
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			_ = os.Remove(path)
			err = fsutil.NoSpace(err, path)
		}
	}()
	err = f.Truncate(size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	for _, s := range mkfsPlan(path, size, uuid, from, root, inodes) {
		if err = run(ctx, s.argv, s.stdin, s.what); err != nil {
			return "", err
		}
	}
	got, err := ext4sb.FileUUID(path)
	if err == nil && got != uuid {
		err = fmt.Errorf("%s: mkfs.ext4 wrote UUID %s, not %s", path, got, uuid)
	}
	return uuid, err
}

// MakeVolume makes an empty ext4 of size bytes at path for a named
// volume, and returns its UUID.
func MakeVolume(ctx context.Context, path string, size int64) (string, error) {
	return makeExt4(ctx, imagepull.RunE2fsprogs, path, size, "", 0)
}

// content is what a directory holds, as an ext4 would store it.
type content struct {
	bytes  int64
	inodes int
}

// measure walks dir: its files' sizes in whole 4 KiB blocks, and its
// entries.
func measure(dir string) (content, error) {
	var c content
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		c.inodes++
		c.bytes += 4096
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			c.bytes += (fi.Size() + 4095) / 4096 * 4096
		}
		return nil
	})
	return c, err
}

// imageSize is the size of an image holding c: a quarter on top for the
// guest's writes and the metadata, plus room for the journal, in whole
// MiB, at least minImageSize. A requested size wins.
func imageSize(c content, requested int64) int64 {
	if requested > 0 {
		return (requested + units.MiB - 1) / units.MiB * units.MiB
	}
	size := c.bytes + c.bytes/4 + 64*units.MiB
	return max((size+units.MiB-1)/units.MiB*units.MiB, minImageSize)
}

// BuildImage makes the ext4 image path (which must not exist) holding a
// copy of dir, owners, modes and times kept, of size bytes (0: the
// content plus headroom), and returns its UUID.
func BuildImage(ctx context.Context, dir, path string, size int64) (string, error) {
	c, err := measure(dir)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", dir, err)
	}
	return makeExt4(ctx, imagepull.RunE2fsprogs, path, imageSize(c, size), dir, c.inodes+c.inodes/4+1024)
}
