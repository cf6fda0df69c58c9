package api

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// ProtocolSSH is the Upgrade protocol of a connection that carries SSH to
// the daemon's proxy (see package sshproxy).
const ProtocolSSH = "banger-ssh"

// HeaderProxyHostKey is the header of the answer to an SSH upgrade that
// names the daemon proxy's host key (authorized_keys form): the one
// Info.ProxyHostKey says, on the same trusted socket, so a client pins it
// without asking /v1/info first.
const HeaderProxyHostKey = "Banger-Proxy-Host-Key"

// upgrade asks the daemon to switch the connection at path to protocol and
// returns the raw connection. Errors the daemon answers instead (a VM that
// is not running, say) come back as *Error like any call's.
func (c *Client) upgrade(ctx context.Context, method, path, protocol string) (net.Conn, error) {
	if err := c.checkGuard(ctx); err != nil {
		return nil, err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.socket)
	if err != nil {
		return nil, c.dialError(&net.OpError{Op: "dial", Net: "unix", Err: err})
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	req, err := http.NewRequestWithContext(ctx, method, "http://banger"+path, nil)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", protocol)
	if err := req.Write(conn); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("upgrade %s: %w", path, err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("upgrade %s: %w", path, err)
	}
	c.observed(resp.Header)
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer func() { _ = conn.Close() }()
		return nil, decodeError(resp)
	}
	if !strings.EqualFold(resp.Header.Get("Upgrade"), protocol) {
		_ = conn.Close()
		return nil, fmt.Errorf("upgrade %s: daemon switched to %q, want %q", path, resp.Header.Get("Upgrade"), protocol)
	}
	return &bufferedConn{Conn: conn, r: br, header: resp.Header}, nil
}

// UpgradeHeader is the header of the daemon's answer to the upgrade that
// made conn (a connection from Dial); nil for any other connection.
func UpgradeHeader(conn net.Conn) http.Header {
	if bc, ok := conn.(*bufferedConn); ok {
		return bc.header
	}
	return nil
}

// Hijack answers an upgrade request with 101 Switching Protocols (and
// the headers set on w) and returns the raw connection, including any
// bytes the server already buffered. It refuses requests that did not ask
// for protocol.
func Hijack(w http.ResponseWriter, r *http.Request, protocol string) (net.Conn, error) {
	if !strings.EqualFold(r.Header.Get("Upgrade"), protocol) {
		return nil, fmt.Errorf("%w: this endpoint needs Upgrade: %s", errdefs.ErrInvalid, protocol)
	}
	extra := w.Header().Clone()
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, fmt.Errorf("hijack: %w", err)
	}
	_ = conn.SetDeadline(time.Time{})
	extra.Set("Connection", "Upgrade")
	extra.Set("Upgrade", protocol)
	_, err = fmt.Fprint(brw, "HTTP/1.1 101 Switching Protocols\r\n")
	if err == nil {
		err = extra.Write(brw)
	}
	if err == nil {
		_, err = fmt.Fprint(brw, "\r\n")
	}
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	if err := brw.Flush(); err != nil {
		_ = conn.Close()
		return nil, err
	}
	return &bufferedConn{Conn: conn, r: brw.Reader}, nil
}

// bufferedConn is a net.Conn whose reads first drain a bufio.Reader that
// may hold bytes read past the HTTP exchange.
type bufferedConn struct {
	net.Conn
	r      *bufio.Reader
	header http.Header // the upgrade's answer (client side)
}

func (c *bufferedConn) Read(p []byte) (int, error) {
	if c.r.Buffered() > 0 {
		return c.r.Read(p)
	}
	return c.Conn.Read(p)
}
