package systemd

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

// EnvNotifySocket names the service manager's notification socket.
const EnvNotifySocket = "NOTIFY_SOCKET"

// Notifier tells the service manager about the daemon's state
// (sd_notify(3)). A nil Notifier does nothing: a daemon started by hand
// has no one to tell.
type Notifier struct {
	addr string
}

// NewNotifier takes $NOTIFY_SOCKET out of the environment (a VMM must not
// be able to speak for the daemon) and returns a Notifier for it, or nil
// when it is unset. The socket is a path or, starting with @, an abstract
// socket; anything else is an error.
func NewNotifier() (*Notifier, error) {
	addr := os.Getenv(EnvNotifySocket)
	_ = os.Unsetenv(EnvNotifySocket)
	switch {
	case addr == "":
		return nil, nil
	case strings.HasPrefix(addr, "/"), strings.HasPrefix(addr, "@") && len(addr) > 1:
		return &Notifier{addr: addr}, nil
	}
	return nil, fmt.Errorf("%s=%q: want an absolute path or an abstract socket (@name)", EnvNotifySocket, addr)
}

// notifyTimeout bounds one datagram: the manager reads them at once, and a
// daemon must never hang on a wedged one.
const notifyTimeout = 2 * time.Second

// Notify sends the assignments (READY=1, STATUS=…) in one datagram.
func (n *Notifier) Notify(assignments ...string) error {
	if n == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), notifyTimeout)
	defer cancel()
	var d net.Dialer
	// Go maps a leading @ to the abstract namespace.
	c, err := d.DialContext(ctx, "unixgram", n.addr)
	if err != nil {
		return fmt.Errorf("notify service manager at %s: %w", n.addr, err)
	}
	defer func() { _ = c.Close() }()
	_ = c.SetWriteDeadline(time.Now().Add(notifyTimeout))
	if _, err := c.Write([]byte(strings.Join(assignments, "\n") + "\n")); err != nil {
		return fmt.Errorf("notify service manager at %s: %w", n.addr, err)
	}
	return nil
}

// Ready says the daemon answers requests (READY=1) and what it is doing.
func (n *Notifier) Ready(status string) error { return n.Notify("READY=1", statusLine(status)) }

// Stopping says the daemon is shutting down (STOPPING=1).
func (n *Notifier) Stopping(status string) error {
	return n.Notify("STOPPING=1", statusLine(status))
}

// Status shows a line in `systemctl status`.
func (n *Notifier) Status(status string) error { return n.Notify(statusLine(status)) }

// statusLine is a STATUS assignment: one line, as the protocol separates
// assignments by newlines.
func statusLine(s string) string { return "STATUS=" + strings.ReplaceAll(s, "\n", " ") }
