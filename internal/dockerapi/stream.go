package dockerapi

import (
	"encoding/binary"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"

	"github.com/bangerdev/banger/internal/vmlogs"
)

// The content types of a container's output stream: raw for a TTY's,
// multiplexed (stdcopy's frames) otherwise.
const (
	rawStream         = "application/vnd.docker.raw-stream"
	multiplexedStream = "application/vnd.docker.multiplexed-stream"
)

// Docker's timestamp format: RFC 3339 with nanoseconds always nine
// digits.
const timestampFormat = "2006-01-02T15:04:05.000000000Z07:00"

// outWriter writes a VM's output entries as Docker streams them: with
// stdcopy's 8-byte frame header (the stream, then the length) unless
// the container has a TTY, with the entry's time first when asked.
type outWriter struct {
	w          io.Writer
	tty        bool
	timestamps bool
	// stdout, stderr select the streams written.
	stdout, stderr bool
}

func (o outWriter) entry(e vmlogs.Entry) error {
	stream := stdcopy.Stdout
	if e.Stream == vmlogs.Stderr {
		stream = stdcopy.Stderr
	}
	if stream == stdcopy.Stdout && !o.stdout || stream == stdcopy.Stderr && !o.stderr {
		return nil
	}
	data := e.Data
	if o.timestamps {
		data = append([]byte(e.Time.UTC().Format(timestampFormat)+" "), data...)
	}
	return o.write(stream, data)
}

// write writes one frame (or, with a TTY, the bare data).
func (o outWriter) write(stream stdcopy.StdType, data []byte) error {
	if o.tty {
		_, err := o.w.Write(data)
		return err
	}
	_, err := o.w.Write(frame(stream, data))
	return err
}

// frame is data in stdcopy's framing: [stream, 0, 0, 0, size (big
// endian uint32)] then the data, which stdcopy.StdCopy reads.
func frame(stream stdcopy.StdType, data []byte) []byte {
	b := make([]byte, 8, 8+len(data))
	b[0] = byte(stream)
	binary.BigEndian.PutUint32(b[4:], uint32(len(data)))
	return append(b, data...)
}

// parseUnixTime reads Docker's since/until values: seconds since the
// epoch, with an optional fraction ("1700000000.123456789"); empty and
// "0" are the zero time. RFC 3339 is taken too.
func parseUnixTime(name, v string) (time.Time, error) {
	if v == "" || v == "0" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	sec, frac, _ := strings.Cut(v, ".")
	s, err := strconv.ParseInt(sec, 10, 64)
	if err != nil || s < 0 {
		return time.Time{}, badParam("invalid value for %s: %q: want seconds since the epoch", name, v)
	}
	var ns int64
	if frac != "" {
		if len(frac) > 9 {
			frac = frac[:9]
		}
		n, err := strconv.ParseInt(frac, 10, 64)
		if err != nil || n < 0 {
			return time.Time{}, badParam("invalid value for %s: %q: want seconds since the epoch", name, v)
		}
		for i := len(frac); i < 9; i++ {
			n *= 10
		}
		ns = n
	}
	return time.Unix(s, ns), nil
}
