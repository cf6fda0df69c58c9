package compress

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"

	"github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"
)

// The xz container (tukaani.org/xz/xz-file-format.txt): filter IDs and
// check types used below.
const (
	filterX86   = 0x04
	filterLZMA2 = 0x21

	checkNone   = 0x00
	checkCRC32  = 0x01
	checkCRC64  = 0x04
	checkSHA256 = 0x0a
)

var (
	xzMagic    = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}
	crc64Table = crc64.MakeTable(crc64.ECMA)
)

// newXZReader reads an xz stream. A stream whose filter chain is plain
// LZMA2 (what dpkg and `xz` write) goes to ulikunitz/xz; one with the x86
// BCJ filter in front (every xz-compressed vmlinux) is decoded here.
func newXZReader(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(12 + 64)
	if err != nil && len(head) < 13 {
		return nil, fmt.Errorf("xz: %w", unexpected(err))
	}
	if !bytes.HasPrefix(head, xzMagic) {
		return nil, errors.New("xz: not an xz stream")
	}
	if xzBinary != "" {
		return newExecXZ(br)
	}
	if hasBCJ(head[12:]) {
		return newBCJStream(br)
	}
	zr, err := xz.ReaderConfig{SingleStream: true}.NewReader(br)
	if err != nil {
		return nil, fmt.Errorf("xz: %w", err)
	}
	return io.NopCloser(zr), nil
}

// hasBCJ reports whether the first block header lists a non-LZMA2 filter
// first. Only a quick look: the full parse happens in readBlockHeader.
func hasBCJ(block []byte) bool {
	if len(block) < 4 || block[0] == 0 {
		return false
	}
	flags := block[1]
	i := 2
	for _, present := range []bool{flags&0x40 != 0, flags&0x80 != 0} {
		if present {
			for i < len(block) && block[i]&0x80 != 0 {
				i++
			}
			i++
		}
	}
	return i < len(block) && block[i] != filterLZMA2
}

// bcjStream decodes the blocks of one xz stream whose filter chain is
// [x86 BCJ, LZMA2].
type bcjStream struct {
	br     *bufio.Reader
	check  byte
	block  io.Reader // the current block's filtered output
	cr     *countingReader
	hdrLen int
	sum    hash.Hash
	done   bool
}

func newBCJStream(br *bufio.Reader) (io.ReadCloser, error) {
	var hdr [12]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return nil, fmt.Errorf("xz: %w", unexpected(err))
	}
	if hdr[6] != 0 || crc32.ChecksumIEEE(hdr[6:8]) != binary.LittleEndian.Uint32(hdr[8:]) {
		return nil, errors.New("xz: corrupt stream header")
	}
	s := &bcjStream{br: br, check: hdr[7] & 0x0f}
	switch s.check {
	case checkNone, checkCRC32, checkCRC64, checkSHA256:
	default:
		return nil, fmt.Errorf("xz: unsupported check type %#x", s.check)
	}
	return s, nil
}

func (s *bcjStream) newSum() hash.Hash {
	switch s.check {
	case checkCRC32:
		return crc32.NewIEEE()
	case checkCRC64:
		return crc64.New(crc64Table)
	case checkSHA256:
		return sha256.New()
	}
	return nil
}

func (s *bcjStream) Read(p []byte) (int, error) {
	for {
		if s.done {
			return 0, io.EOF
		}
		if s.block == nil {
			if err := s.nextBlock(); err != nil {
				return 0, err
			}
			continue
		}
		n, err := s.block.Read(p)
		if s.sum != nil {
			s.sum.Write(p[:n])
		}
		if errors.Is(err, io.EOF) {
			s.block = nil
			if err := s.endBlock(); err != nil {
				return n, err
			}
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

func (s *bcjStream) nextBlock() error {
	size, err := s.br.ReadByte()
	if err != nil {
		return fmt.Errorf("xz: %w", unexpected(err))
	}
	if size == 0 { // the index follows the last block
		s.done = true
		return nil
	}
	hdr := make([]byte, (int(size)+1)*4)
	hdr[0] = size
	if _, err := io.ReadFull(s.br, hdr[1:]); err != nil {
		return fmt.Errorf("xz: %w", unexpected(err))
	}
	start, dictCap, err := parseBlockHeader(hdr)
	if err != nil {
		return err
	}
	s.cr = &countingReader{r: s.br}
	s.hdrLen = len(hdr)
	lr, err := lzma.Reader2Config{DictCap: dictCap}.NewReader2(s.cr)
	if err != nil {
		return fmt.Errorf("xz: %w", err)
	}
	s.block = &bcjReader{r: lr, pos: start}
	s.sum = s.newSum()
	return nil
}

// endBlock skips the block padding (zeros aligning header plus compressed
// data to 4 bytes) and verifies the block's check.
func (s *bcjStream) endBlock() error {
	pad := make([]byte, (4-(int64(s.hdrLen)+s.cr.n)%4)%4)
	if _, err := io.ReadFull(s.br, pad); err != nil {
		return fmt.Errorf("xz: %w", unexpected(err))
	}
	for _, b := range pad {
		if b != 0 {
			return errors.New("xz: corrupt block padding")
		}
	}
	if s.sum == nil {
		return nil
	}
	want := make([]byte, s.sum.Size())
	if _, err := io.ReadFull(s.br, want); err != nil {
		return fmt.Errorf("xz: %w", unexpected(err))
	}
	got := s.sum.Sum(nil)
	if s.check != checkSHA256 { // CRCs are stored little-endian
		for i, j := 0, len(got)-1; i < j; i, j = i+1, j-1 {
			got[i], got[j] = got[j], got[i]
		}
	}
	if !bytes.Equal(got, want) {
		return errors.New("xz: block check mismatch (corrupt data)")
	}
	return nil
}

func (s *bcjStream) Close() error { return nil }

// parseBlockHeader validates a block header and returns the BCJ start
// offset and the LZMA2 dictionary size.
func parseBlockHeader(hdr []byte) (start uint32, dictCap int, err error) {
	n := len(hdr)
	if crc32.ChecksumIEEE(hdr[:n-4]) != binary.LittleEndian.Uint32(hdr[n-4:]) {
		return 0, 0, errors.New("xz: corrupt block header")
	}
	flags := hdr[1]
	if flags&0x3c != 0 {
		return 0, 0, errors.New("xz: reserved block flags set")
	}
	r := bytes.NewReader(hdr[2 : n-4])
	for _, present := range []bool{flags&0x40 != 0, flags&0x80 != 0} {
		if present {
			if _, err := binary.ReadUvarint(r); err != nil {
				return 0, 0, errors.New("xz: corrupt block size")
			}
		}
	}
	nfilters := int(flags&3) + 1
	for i := range nfilters {
		id, err1 := binary.ReadUvarint(r)
		psize, err2 := binary.ReadUvarint(r)
		if err1 != nil || err2 != nil || psize > uint64(r.Len()) {
			return 0, 0, errors.New("xz: corrupt filter flags")
		}
		props := make([]byte, psize)
		_, _ = r.Read(props)
		switch {
		case i == nfilters-1 && id == filterLZMA2 && psize == 1:
			if props[0] > 40 {
				return 0, 0, errors.New("xz: bad LZMA2 dictionary size")
			}
			dictCap = lzma2Dict(props[0])
		case i < nfilters-1 && id == filterX86 && (psize == 0 || psize == 4):
			if psize == 4 {
				start = binary.LittleEndian.Uint32(props)
			}
		default:
			return 0, 0, fmt.Errorf("xz: unsupported filter chain (filter %#x at position %d)", id, i)
		}
	}
	if nfilters != 2 {
		return 0, 0, errors.New("xz: expected the filter chain [x86, LZMA2]")
	}
	return start, dictCap, nil
}

// lzma2Dict decodes the LZMA2 dictionary-size byte, capped at what the
// decoder accepts.
func lzma2Dict(b byte) int {
	size := uint64(2|b&1) << (b/2 + 11)
	return int(min(size, uint64(lzma.MaxDictCap)))
}

// countingReader counts the compressed bytes the LZMA2 decoder consumes,
// which fixes the length of the block padding. The decoder reads each chunk
// through an io.LimitReader, so it never reads past the block's data.
type countingReader struct {
	r *bufio.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// newXZWriter writes a plain LZMA2 xz stream with a CRC32 check, the only
// check the kernel's xz decoder is guaranteed to support.
func newXZWriter(w io.Writer) (io.WriteCloser, error) {
	zw, err := xz.WriterConfig{CheckSum: xz.CRC32, DictCap: 1 << 20}.NewWriter(w)
	if err != nil {
		return nil, fmt.Errorf("xz: %w", err)
	}
	return zw, nil
}
