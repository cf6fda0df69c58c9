package firecracker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// DialVsock opens a stream to a guest vsock port through Firecracker's
// hybrid vsock: connect to the device's unix socket, send
// "CONNECT <port>\n" in a single write, and read "OK <host port>\n".
//
// Until the guest program listens, Firecracker closes the connection
// without answering (the guest resets the request); until the VMM has
// created the socket, connecting fails. Both are retried, with a short
// backoff, until ctx ends — so the caller may dial while the guest boots.
// A malformed answer is not retried: whatever answered is not Firecracker.
func DialVsock(ctx context.Context, uds string, port uint32) (net.Conn, error) {
	backoff := 5 * time.Millisecond
	var last error
	for attempt := 1; ; attempt++ {
		c, err := vsockHandshake(ctx, uds, port)
		if err == nil {
			return c, nil
		}
		var fatal *handshakeError
		if errors.As(err, &fatal) {
			return nil, err
		}
		last = err
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("vsock port %d via %s: not reachable after %d attempts (%w): last: %w", port, uds, attempt, ctx.Err(), last)
		case <-t.C:
		}
		backoff = min(backoff*2, 100*time.Millisecond)
	}
}

// handshakeError is an answer that is not Firecracker's.
type handshakeError struct{ msg string }

func (e *handshakeError) Error() string { return e.msg }

func vsockHandshake(ctx context.Context, uds string, port uint32) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", uds)
	if err != nil {
		return nil, err
	}
	// One attempt may take at most a second (or what is left of ctx): a
	// muxer that neither answers nor closes is treated as not ready.
	deadline := time.Now().Add(time.Second)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = c.SetDeadline(deadline)
	if _, err := c.Write([]byte("CONNECT " + strconv.FormatUint(uint64(port), 10) + "\n")); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("send connect: %w", err)
	}
	line, err := readLine(c, 32)
	if err != nil {
		_ = c.Close()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("guest is not listening on vsock port %d (connection closed)", port)
		}
		return nil, fmt.Errorf("read connect answer: %w", err)
	}
	if _, err := ParseOK(line); err != nil {
		_ = c.Close()
		return nil, &handshakeError{fmt.Sprintf("vsock %s: %v", uds, err)}
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

// readLine reads up to and without '\n', one byte at a time so that no
// byte of the stream after the line is consumed.
func readLine(r io.Reader, limit int) (string, error) {
	var line []byte
	b := make([]byte, 1)
	for len(line) <= limit {
		n, err := r.Read(b)
		if n == 1 {
			if b[0] == '\n' {
				return string(line), nil
			}
			line = append(line, b[0])
			continue
		}
		if err != nil {
			if errors.Is(err, io.EOF) && len(line) > 0 {
				return "", &handshakeError{fmt.Sprintf("answer %q cut short", line)}
			}
			return "", err
		}
	}
	return "", &handshakeError{fmt.Sprintf("answer longer than %d bytes", limit)}
}

// ParseOK parses Firecracker's answer to a connect request (without the
// newline): "OK <host port>".
func ParseOK(line string) (uint32, error) {
	rest, ok := strings.CutPrefix(line, "OK ")
	if !ok {
		return 0, fmt.Errorf("unexpected answer to CONNECT: %q", line)
	}
	port, err := strconv.ParseUint(rest, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("bad port in answer %q", line)
	}
	return uint32(port), nil
}
