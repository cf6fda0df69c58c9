package firecracker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"unicode/utf8"
)

// Client talks to one Firecracker process over its API socket.
type Client struct {
	sock string
	hc   *http.Client
}

// NewClient returns a client for the API socket at sock.
func NewClient(sock string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
		// Firecracker's API server handles one connection at a time;
		// keep-alive across requests is fine, more connections are not.
		MaxConnsPerHost: 1,
	}
	return &Client{sock: sock, hc: &http.Client{Transport: tr}}
}

// Close drops idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// APIError is a request Firecracker refused (or could not be asked). It
// names the endpoint and carries Firecracker's fault_message.
type APIError struct {
	Method string
	Path   string
	// Status is the HTTP status; 0 when no answer came.
	Status int
	// Fault is Firecracker's fault_message (or the body, if it had none).
	Fault string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("firecracker %s %s: %s (HTTP %d)", e.Method, e.Path, e.Fault, e.Status)
}

// Call is one API request, as a value: the configuration of a VM is a
// list of them (see bootCalls).
type Call struct {
	Method string
	Path   string
	Body   any
}

func (c Call) String() string { return c.Method + " " + c.Path }

// Do sends a call and decodes a 200 answer into out (when out is not nil).
func (c *Client) Do(ctx context.Context, call Call, out any) error {
	var body io.Reader
	if call.Body != nil {
		b, err := json.Marshal(call.Body)
		if err != nil {
			return fmt.Errorf("firecracker %s: encode body: %w", call, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, call.Method, "http://localhost"+call.Path, body)
	if err != nil {
		return fmt.Errorf("firecracker %s: %w", call, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("firecracker %s via %s: %w", call, c.sock, err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("firecracker %s: read answer: %w", call, err)
	}
	switch resp.StatusCode {
	case http.StatusNoContent:
		return nil
	case http.StatusOK:
		if out == nil {
			return nil
		}
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("firecracker %s: decode answer: %w", call, err)
		}
		return nil
	}
	return &APIError{Method: call.Method, Path: call.Path, Status: resp.StatusCode, Fault: ParseFault(raw)}
}

// ParseFault extracts fault_message from an error body. A body that is not
// Firecracker's error document is returned as text (trimmed, valid UTF-8,
// at most 512 bytes), so the user still sees what came back.
func ParseFault(body []byte) string {
	var e Error
	if err := json.Unmarshal(body, &e); err == nil && e.FaultMessage != "" {
		return e.FaultMessage
	}
	s := strings.TrimSpace(strings.ToValidUTF8(string(body), "\uFFFD"))
	if len(s) > 512 {
		s = s[:512]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		s += "…"
	}
	if s == "" {
		return "no fault message"
	}
	return s
}

// Info asks GET / for the instance's id and state.
func (c *Client) Info(ctx context.Context) (InstanceInfo, error) {
	var info InstanceInfo
	err := c.Do(ctx, Call{Method: http.MethodGet, Path: "/"}, &info)
	return info, err
}

// IsAPIError reports whether err is a refusal from Firecracker (as opposed
// to a transport error).
func IsAPIError(err error) bool {
	var ae *APIError
	return errors.As(err, &ae)
}
