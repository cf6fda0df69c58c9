package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"

	"github.com/bangerdev/banger/pkg/progress"
)

// The client helpers call one endpoint of the table each: in is the
// request value, params fill the pattern's wildcards in order ({ref},
// {name...}). Each refuses an endpoint of another Kind.

// Watch receives what an event stream reports before its result. Either
// field may be nil.
type Watch struct {
	Progress progress.Reporter
	// Message is a line of text for the user.
	Message func(string)
}

// Do calls a KindJSON endpoint and returns its answer.
func Do[In, Out any](ctx context.Context, c *Client, e Endpoint[In, Out], in In, params ...string) (Out, error) {
	var out Out
	req, err := e.outgoing(KindJSON, in, params)
	if err != nil {
		return out, err
	}
	resp, err := c.do(ctx, req.method, req.path, req.body, req.contentType)
	if err != nil {
		return out, err
	}
	defer func() { _ = resp.Body.Close() }()
	if _, none := any(out).(None); none || resp.StatusCode == http.StatusNoContent {
		return out, nil
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return out, fmt.Errorf("decode %s response: %w", e.route, err)
	}
	return out, nil
}

// Stream calls a KindEvents endpoint: progress and messages go to w until
// the result, which it returns.
func Stream[In, Out any](ctx context.Context, c *Client, e Endpoint[In, Out], in In, w Watch, params ...string) (Out, error) {
	var out Out
	req, err := e.outgoing(KindEvents, in, params)
	if err != nil {
		return out, err
	}
	err = c.stream(ctx, req.method, req.path, req.body, req.contentType, w, &out)
	return out, err
}

// Upload calls a KindUpload endpoint: body is streamed as the request
// while progress and messages go to w, then the result is returned.
func Upload[In, Out any](ctx context.Context, c *Client, e Endpoint[In, Out], in In, body io.Reader, w Watch, params ...string) (Out, error) {
	var out Out
	req, err := e.outgoing(KindUpload, in, params)
	if err != nil {
		return out, err
	}
	err = c.stream(ctx, req.method, req.path, body, "application/octet-stream", w, &out)
	return out, err
}

// Open calls a KindText endpoint and returns the text as it arrives; the
// caller reads it to the end (or stops) and closes it.
func Open[In any](ctx context.Context, c *Client, e Endpoint[In, io.ReadCloser], in In, params ...string) (io.ReadCloser, error) {
	req, err := e.outgoing(KindText, in, params)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, req.method, req.path, nil, "")
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// Dial calls a KindUpgrade endpoint and returns the connection, switched
// to the endpoint's protocol.
func Dial[In any](ctx context.Context, c *Client, e Endpoint[In, net.Conn], in In, params ...string) (net.Conn, error) {
	req, err := e.outgoing(KindUpgrade, in, params)
	if err != nil {
		return nil, err
	}
	return c.upgrade(ctx, req.method, req.path, e.route.Protocol)
}

// outgoing is a request built from an endpoint and its values.
type outgoing struct {
	method, path string
	body         io.Reader
	contentType  string
}

// outgoing builds the request for a call of kind want.
func (e Endpoint[In, Out]) outgoing(want Kind, in In, params []string) (outgoing, error) {
	r := e.route
	if r.Kind != want {
		return outgoing{}, fmt.Errorf("%s is a %s endpoint, not %s", r, r.Kind, want)
	}
	path, err := r.Path(params...)
	if err != nil {
		return outgoing{}, err
	}
	req := outgoing{method: r.Method, path: path}
	switch r.Carrier {
	case CarryQuery:
		if q := encodeQuery(in).Encode(); q != "" {
			req.path += "?" + q
		}
	case CarryJSON:
		b, err := json.Marshal(in)
		if err != nil {
			return outgoing{}, fmt.Errorf("encode %s request: %w", r, err)
		}
		req.body, req.contentType = bytes.NewReader(b), "application/json"
	}
	return req, nil
}
