package imagepull

import (
	"archive/tar"
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/Microsoft/hcsshim/ext4/tar2ext4"
)

// maxDiskSize is the bound given to tar2ext4 (its default is 16 GiB). It
// only reserves group-descriptor blocks, 256 KiB for 1 TiB.
const maxDiskSize = 1 << 40

// Ext4Options tune BuildExt4.
type Ext4Options struct {
	// SizeBytes is the image size; 0 picks a content-aware size.
	SizeBytes int64
	// HeadroomPercent is free space (and inodes) on top of the content.
	HeadroomPercent int

	run runner // nil: run e2fsprogs
}

// Ext4Info describes a finished image.
type Ext4Info struct {
	SizeBytes int64
	// Inodes in use and in total.
	Inodes, InodesTotal int64
	FreeBytes           int64
}

// BuildExt4 creates the ext4 image path from the members fill writes to
// its sink, all without root, a mount or a loop device:
//
//   - members stream through ApplyOwnership into hcsshim's tar2ext4, which
//     writes each inode — data, uid, gid, mode, xattrs — as it arrives;
//   - placeholder inodes size the inode tables (see reserveInodes);
//   - e2fsprogs finishes the file system (finishPlan): writable, journaled,
//     grown to the content-aware size or opts.SizeBytes.
//
// path must not exist. On any error path is removed.
func BuildExt4(ctx context.Context, path string, opts Ext4Options, fill func(Sink) error) (info *Ext4Info, err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create image: %w", err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(path)
		}
	}()
	s := newExt4Sink(f, opts.HeadroomPercent)
	if err := fill(s); err != nil {
		return nil, s.abort(err)
	}
	if err := s.close(); err != nil {
		return nil, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	size, err := imageSize(fi.Size(), opts.HeadroomPercent, opts.SizeBytes)
	if err != nil {
		return nil, err
	}
	run := opts.run
	if run == nil {
		run = execRunner{}
	}
	for _, st := range finishPlan(path, size) {
		if err := run.run(ctx, st); err != nil {
			return nil, fmt.Errorf("finish ext4: %w", err)
		}
	}
	return readExt4Info(path)
}

// ext4Sink feeds tar2ext4 through a pipe.
type ext4Sink struct {
	f        *os.File
	pw       *io.PipeWriter
	bw       *bufio.Writer
	tw       *tar.Writer
	done     chan error
	headroom int
	inodes   int64
	blocks   int64
	names    map[string]bool // what was written under /.banger
}

func newExt4Sink(f *os.File, headroom int) *ext4Sink {
	pr, pw := io.Pipe()
	s := &ext4Sink{f: f, pw: pw, done: make(chan error, 1), headroom: headroom, names: map[string]bool{}}
	s.bw = bufio.NewWriterSize(pw, 1<<20)
	s.tw = tar.NewWriter(s.bw)
	go func() {
		err := tar2ext4.ConvertTarToExt4(pr, f, tar2ext4.MaximumDiskSize(maxDiskSize))
		if err != nil {
			err = fmt.Errorf("ext4: %w", err)
		}
		_ = pr.CloseWithError(err) // a failed conversion fails the writer's next write
		_, _ = io.Copy(io.Discard, pr)
		s.done <- err
	}()
	return s
}

// WriteHeader settles hdr's ownership and passes it on.
func (s *ext4Sink) WriteHeader(hdr *tar.Header) error {
	if err := ApplyOwnership(hdr); err != nil {
		return fmt.Errorf("%q: %w", hdr.Name, err)
	}
	switch hdr.Typeflag {
	case tar.TypeLink:
	case tar.TypeReg:
		s.inodes++
		s.blocks += (hdr.Size + blockSize - 1) / blockSize
	case tar.TypeSymlink:
		s.inodes++
		if len(hdr.Linkname) > 59 { // longer targets take a block
			s.blocks++
		}
	default:
		s.inodes++
		s.blocks++
	}
	if rest, ok := strings.CutPrefix(hdr.Name, bangerDir+"/"); ok {
		s.names[strings.TrimSuffix(rest, "/")] = true
	}
	return s.tw.WriteHeader(hdr)
}

func (s *ext4Sink) Write(p []byte) (int, error) { return s.tw.Write(p) }

// close writes the placeholders, ends the stream and waits for tar2ext4.
func (s *ext4Sink) close() error {
	err := s.writeReserve()
	if err == nil {
		err = s.tw.Close()
	}
	if err == nil {
		err = s.bw.Flush()
	}
	if err != nil {
		return s.abort(err)
	}
	_ = s.pw.Close()
	err = <-s.done
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// abort stops the conversion after cause and returns cause. (When the
// converter failed first, cause is the write error carrying its message.)
func (s *ext4Sink) abort(cause error) error {
	_ = s.pw.CloseWithError(cause)
	convErr := <-s.done
	_ = convErr // it only echoes cause, which says more
	_ = s.f.Close()
	return cause
}

func (s *ext4Sink) writeReserve() error {
	if s.names[strings.TrimPrefix(reserveDir, bangerDir+"/")] {
		return fmt.Errorf("%w: the image has /%s, which banger reserves", ErrReserved, reserveDir)
	}
	n := reserveInodes(s.inodes, s.blocks, s.headroom)
	if err := s.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: reserveDir + "/", Mode: 0o700}); err != nil {
		return err
	}
	for i := range n {
		if err := s.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: reserveDir + "/" + strconv.FormatInt(i, 36), Mode: 0o600}); err != nil {
			return err
		}
	}
	return nil
}

func readExt4Info(path string) (*Ext4Info, error) {
	sb, err := tar2ext4.ReadExt4SuperBlock(path)
	if err != nil {
		return nil, fmt.Errorf("read finished image: %w", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	blockSz := int64(1024) << sb.LogBlockSize
	return &Ext4Info{
		SizeBytes:   fi.Size(),
		Inodes:      int64(sb.InodesCount) - int64(sb.FreeInodesCount),
		InodesTotal: int64(sb.InodesCount),
		FreeBytes:   (int64(sb.FreeBlocksCountHigh)<<32 | int64(sb.FreeBlocksCountLow)) * blockSz,
	}, nil
}
