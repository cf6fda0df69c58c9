package api

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// ProtocolAttach is the Upgrade protocol of an attach connection: frames
// both ways.
const ProtocolAttach = "banger-attach"

// FrameKind says what a frame carries.
type FrameKind byte

// The frames of logs and attach streams.
const (
	// FrameStdout and FrameStderr carry output (with a TTY all of it is
	// stdout).
	FrameStdout FrameKind = 1
	FrameStderr FrameKind = 2
	// FrameExit ends an attach: the main process's exit status, decimal.
	FrameExit FrameKind = 3
	// FrameError ends a stream that failed: a message.
	FrameError FrameKind = 4
	// FrameStdin (client to daemon) is input; FrameStdinEOF closes it.
	FrameStdin    FrameKind = 5
	FrameStdinEOF FrameKind = 6
	// FrameResize (client to daemon) is the terminal's size, "ROWS COLS".
	FrameResize FrameKind = 7
)

// MaxFrame bounds a frame's payload.
const MaxFrame = 1 << 20

// Frame is one unit of a logs or attach stream: a kind byte, a 4-byte
// big-endian length, the payload.
type Frame struct {
	Kind FrameKind
	Data []byte
}

// WriteFrame writes one frame.
func WriteFrame(w io.Writer, kind FrameKind, data []byte) error {
	if len(data) > MaxFrame {
		return fmt.Errorf("frame of %d bytes: the limit is %d", len(data), MaxFrame)
	}
	b := make([]byte, 5+len(data))
	b[0] = byte(kind)
	binary.BigEndian.PutUint32(b[1:5], uint32(len(data))) //nolint:gosec // bounded by MaxFrame above
	copy(b[5:], data)
	_, err := w.Write(b)
	return err
}

// ReadFrame reads one frame. io.EOF means the stream ended between
// frames; a stream cut inside one is io.ErrUnexpectedEOF.
func ReadFrame(r io.Reader) (Frame, error) {
	var h [5]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return Frame{}, err
	}
	n := binary.BigEndian.Uint32(h[1:])
	if n > MaxFrame {
		return Frame{}, fmt.Errorf("frame of %d bytes: the limit is %d", n, MaxFrame)
	}
	f := Frame{Kind: FrameKind(h[0]), Data: make([]byte, n)}
	if _, err := io.ReadFull(r, f.Data); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return Frame{}, err
	}
	return f, nil
}
