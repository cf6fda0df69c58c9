package compress

import (
	"encoding/binary"
	"errors"
	"io"
)

// bcjReader undoes the x86 branch/call/jump filter (xz's "x86" filter,
// filter ID 0x04): the encoder turned the relative targets of E8 (call)
// and E9 (jmp) instructions into absolute ones so they compress better;
// decoding turns them back. The algorithm follows the xz file format
// specification's reference decoder.
type bcjReader struct {
	r        io.Reader
	pos      uint32 // uncompressed position of buf[0]
	prevMask uint32
	buf      []byte // buf[:ready] is decoded, buf[ready:] awaits more input
	ready    int
	eof      bool
}

var (
	maskAllowed = [8]bool{true, true, true, false, true, false, false, false}
	maskBitNum  = [8]uint32{0, 1, 2, 2, 3, 3, 3, 3}
)

func testMSByte(b byte) bool { return b == 0x00 || b == 0xff }

func (b *bcjReader) Read(p []byte) (int, error) {
	for b.ready == 0 {
		if b.eof {
			if len(b.buf) == 0 {
				return 0, io.EOF
			}
			b.ready = len(b.buf) // the unfiltered tail passes as is
			break
		}
		if cap(b.buf) == 0 {
			b.buf = make([]byte, 0, 64<<10)
		}
		n, err := b.r.Read(b.buf[len(b.buf):cap(b.buf)])
		b.buf = b.buf[:len(b.buf)+n]
		if errors.Is(err, io.EOF) {
			b.eof = true
		} else if err != nil {
			return 0, err
		}
		if len(b.buf) > 4 {
			b.ready = b.filter(b.buf)
		}
	}
	n := copy(p, b.buf[:b.ready])
	b.ready -= n
	rest := copy(b.buf, b.buf[n:])
	b.buf = b.buf[:rest]
	return n, nil
}

// filter decodes buf in place and returns how many leading bytes are
// final; the rest (at most 4) needs the bytes that follow.
func (b *bcjReader) filter(buf []byte) int {
	size := len(buf) - 4
	prevPos := -1
	prevMask := b.prevMask
	i := 0
	for ; i < size; i++ {
		if buf[i]&0xfe != 0xe8 {
			continue
		}
		d := i - prevPos
		if d > 3 {
			prevMask = 0
		} else {
			prevMask = (prevMask << (d - 1)) & 7
			if prevMask != 0 {
				v := buf[i+4-int(maskBitNum[prevMask])]
				if !maskAllowed[prevMask] || testMSByte(v) {
					prevPos = i
					prevMask = prevMask<<1 | 1
					continue
				}
			}
		}
		prevPos = i
		if !testMSByte(buf[i+4]) {
			prevMask = prevMask<<1 | 1
			continue
		}
		src := binary.LittleEndian.Uint32(buf[i+1:])
		var dest uint32
		for {
			dest = src - (b.pos + uint32(i) + 5) //nolint:gosec // i < 64 KiB
			if prevMask == 0 {
				break
			}
			j := maskBitNum[prevMask] * 8
			if !testMSByte(byte(dest >> (24 - j))) {
				break
			}
			src = dest ^ (1<<(32-j) - 1)
		}
		dest &= 0x01ffffff
		dest |= 0 - (dest & 0x01000000)
		binary.LittleEndian.PutUint32(buf[i+1:], dest)
		i += 4
	}
	if d := i - prevPos; d > 3 {
		b.prevMask = 0
	} else {
		b.prevMask = prevMask << (d - 1)
	}
	b.pos += uint32(i) //nolint:gosec // i < 64 KiB
	return i
}
