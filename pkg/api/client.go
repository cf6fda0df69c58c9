package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/bangerdev/banger/internal/paths"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// EnvHost names the environment variable that selects the daemon, like
// DOCKER_HOST: "unix:///path/to/banger.sock".
const EnvHost = "BANGER_HOST"

// DefaultHost is the system daemon's socket.
var DefaultHost = "unix://" + paths.Default().Socket

// Client talks to one daemon.
type Client struct {
	socket string
	http   *http.Client
	guard  func(context.Context) error
	// observe sees the header of every answer from the daemon.
	observe func(http.Header)
}

// ParseHost turns "unix:///path" (or a bare absolute path) into a socket
// path.
func ParseHost(host string) (string, error) {
	switch {
	case strings.HasPrefix(host, "unix://"):
		p := strings.TrimPrefix(host, "unix://")
		if !strings.HasPrefix(p, "/") {
			return "", fmt.Errorf("%w: host %q: want unix:///absolute/path", errdefs.ErrInvalid, host)
		}
		return p, nil
	case strings.HasPrefix(host, "/"):
		return host, nil
	default:
		return "", fmt.Errorf("%w: host %q: only unix:///path is supported", errdefs.ErrInvalid, host)
	}
}

// ResolveHost picks the daemon address: the flag when set, else $BANGER_HOST,
// else the system daemon.
func ResolveHost(flag string) string {
	if flag != "" {
		return flag
	}
	if env := os.Getenv(EnvHost); env != "" {
		return env
	}
	return DefaultHost
}

// NewClient returns a client for host ("unix:///path").
func NewClient(host string) (*Client, error) {
	socket, err := ParseHost(host)
	if err != nil {
		return nil, err
	}
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", socket)
	}
	return &Client{
		socket: socket,
		http: &http.Client{Transport: &http.Transport{
			DialContext:        dial,
			DisableCompression: true,
			MaxIdleConns:       4,
		}},
	}, nil
}

// Guard sets check to run before every request the client sends (an
// upgrade included), with the request's context; its error is the
// request's. pkg/client's version handshake is one. Set it before the
// client is used.
func (c *Client) Guard(check func(context.Context) error) { c.guard = check }

// Observe sets fn to see the header of every answer the daemon sends (an
// error's and an upgrade's included). pkg/client's handshake watches the
// API version there, to ask again when another daemon answers. Set it
// before the client is used.
func (c *Client) Observe(fn func(http.Header)) { c.observe = fn }

// observed hands an answer's header to the observer, when there is one.
func (c *Client) observed(h http.Header) {
	if c.observe != nil {
		c.observe(h)
	}
}

// checkGuard runs the guard, when there is one.
func (c *Client) checkGuard(ctx context.Context) error {
	if c.guard == nil {
		return nil
	}
	return c.guard(ctx)
}

// Close closes the client's idle connections; calls in flight go on, and
// a later call opens a new one.
func (c *Client) Close() error {
	c.http.CloseIdleConnections()
	return nil
}

// Socket is the path of the daemon's socket.
func (c *Client) Socket() string { return c.socket }

// stream sends body (with its content type) and reads an event stream:
// progress and messages go to w, and the result is decoded into out (when
// not nil).
func (c *Client) stream(ctx context.Context, method, path string, body io.Reader, contentType string, w Watch, out any) error {
	resp, err := c.do(ctx, method, path, body, contentType)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	for sc.Scan() {
		var ev Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return fmt.Errorf("decode event from daemon: %w", err)
		}
		switch {
		case ev.Error != nil:
			return &Error{*ev.Error}
		case ev.Result != nil:
			if out == nil {
				return nil
			}
			return json.Unmarshal(ev.Result, out)
		case ev.Progress != nil:
			w.Progress.Report(*ev.Progress)
		case ev.Message != "" && w.Message != nil:
			w.Message(ev.Message)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read event stream: %w", err)
	}
	return fmt.Errorf("%w: the daemon closed the stream before a result (see the daemon's log)", errdefs.ErrUnavailable)
}

// do sends one request and returns the response for the caller to read
// and close. An error status becomes *Error.
func (c *Client) do(ctx context.Context, method, path string, body io.Reader, contentType string) (*http.Response, error) {
	if err := c.checkGuard(ctx); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://banger"+path, body)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.dialError(err)
	}
	c.observed(resp.Header)
	if resp.StatusCode >= 300 {
		defer func() { _ = resp.Body.Close() }()
		return nil, decodeError(resp)
	}
	return resp, nil
}

func (c *Client) dialError(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		hint := "start it with `sudo banger daemon`, or point --host / " + EnvHost + " at a running one"
		if errors.Is(err, os.ErrPermission) {
			hint = "run as root or as a member of the socket's group (banger)"
		}
		return fmt.Errorf("%w: cannot reach the banger daemon at %s: %w; %s", errdefs.ErrUnavailable, c.socket, op.Err, hint)
	}
	return err
}

func decodeError(resp *http.Response) error {
	var body struct {
		Error ErrorBody `json:"error"`
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxJSONBody))
	if err := json.Unmarshal(data, &body); err != nil || body.Error.Message == "" {
		// Not banger's error body (a 404 of a path the daemon does not
		// know): the status says the kind.
		kind := errdefs.Kind(errdefs.FromHTTPStatus(resp.StatusCode))
		return &Error{ErrorBody{Kind: kind, Message: fmt.Sprintf("daemon answered %s: %s", resp.Status, strings.TrimSpace(string(data)))}}
	}
	return &Error{body.Error}
}
