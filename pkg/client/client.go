package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// EnvHost is the environment variable FromEnv reads: the daemon's address
// as unix:///path, like DOCKER_HOST.
const EnvHost = api.EnvHost

// Client talks to one banger daemon. It is safe for concurrent use.
type Client struct {
	host string
	// api sends every call; its guard runs the version handshake first.
	api *api.Client

	mu      sync.Mutex
	checked bool
	failed  error // a handshake that found the versions do not fit

	// serving is the API version the daemon answered the handshake with;
	// stale says an answer since carried another one. Both are atomics:
	// the handshake's own answer is observed while it holds mu.
	serving atomic.Value // string
	stale   atomic.Bool
}

// New returns a client for the daemon at host ("unix:///path", or a bare
// absolute socket path). It does not connect: the first call does, after
// the version handshake.
func New(host string) (*Client, error) {
	c := &Client{host: host}
	var err error
	if c.api, err = api.NewClient(host); err != nil {
		return nil, err
	}
	c.api.Guard(c.guard)
	c.api.Observe(c.observe)
	return c, nil
}

// observe watches the API version every answer carries: a different one
// than the handshake's means another daemon answers now (an upgrade, a
// restart into another release), so the next call asks again. A kept
// verdict that the versions do not fit stays: no call reaches the daemon
// past it.
func (c *Client) observe(h http.Header) {
	v := h.Get(api.HeaderAPIVersion)
	if s, _ := c.serving.Load().(string); v != "" && s != "" && v != s {
		c.stale.Store(true)
	}
}

// Close closes the client's idle connections to the daemon.
func (c *Client) Close() error { return c.api.Close() }

// handshaking marks the context of the handshake's own call, which the
// guard lets through.
type handshaking struct{}

// guard runs the handshake before a call (not before its own).
func (c *Client) guard(ctx context.Context) error {
	if ctx.Value(handshaking{}) != nil {
		return nil
	}
	return c.Handshake(ctx)
}

// FromEnv returns a client for the daemon $BANGER_HOST names, or the
// system daemon (api.DefaultHost) when it is unset.
func FromEnv() (*Client, error) { return New(api.ResolveHost("")) }

// Host is the daemon's address the client was made with.
func (c *Client) Host() string { return c.host }

// API returns the low-level client, for pkg/api's generic helpers
// (api.Do, api.Stream, ...). Calls through it run the handshake too.
func (c *Client) API() *api.Client { return c.api }

// ServerVersion asks the daemon's version and the API versions it
// serves, without the handshake (it works against a daemon that does not
// fit, to say so).
func (c *Client) ServerVersion(ctx context.Context) (api.VersionInfo, error) {
	return api.Do(context.WithValue(ctx, handshaking{}, true), c.api, api.GetVersion, api.None{})
}

// Handshake checks, once, that the daemon serves this package's API
// version; every call does it first, so calling it is only needed to fail
// early. It checks again when an answer shows another API version than
// the handshake's (the daemon was upgraded under a long-lived client). A
// daemon that does not fit is a *VersionError (errdefs.ErrUnsupported),
// remembered; a daemon that cannot be reached is retried at the next
// call.
func (c *Client) Handshake(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.checked && (c.failed != nil || !c.stale.Load()) {
		return c.failed
	}
	v, err := c.ServerVersion(ctx)
	switch {
	case errors.Is(err, errdefs.ErrNotFound):
		// A daemon from before the handshake: no /v1/version.
		c.failed = &VersionError{Host: c.host, Client: api.APIVersion}
	case err != nil:
		return err // not a verdict (the daemon is down, say): asked again next time
	default:
		ok, verr := v.Serves(api.APIVersion)
		if verr != nil {
			return fmt.Errorf("the daemon at %s answered a bad version: %w", c.host, verr)
		}
		if !ok {
			c.failed = &VersionError{Host: c.host, Client: api.APIVersion, Daemon: v}
		}
		c.serving.Store(v.APIVersion)
		c.stale.Store(false)
	}
	c.checked = true
	return c.failed
}

// VersionError says the daemon does not serve this client's API version.
// It unwraps to errdefs.ErrUnsupported.
type VersionError struct {
	// Host is the daemon's address.
	Host string
	// Client is the API version this client speaks.
	Client string
	// Daemon is what the daemon answered; zero when it predates the
	// version handshake.
	Daemon api.VersionInfo
}

func (e *VersionError) Error() string {
	d := e.Daemon
	if d.APIVersion == "" {
		return fmt.Sprintf("the banger daemon at %s predates the API version handshake, so it is older than API %s, which this client speaks: upgrade the daemon", e.Host, e.Client)
	}
	if newer, _ := api.CompareAPIVersions(e.Client, d.APIVersion); newer > 0 {
		return fmt.Sprintf("this client speaks banger API %s, newer than the daemon at %s (banger %s, API %s): upgrade the daemon to a banger with API %s or later, or use a client of API %s",
			e.Client, e.Host, d.Version, d.APIVersion, e.Client, d.APIVersion)
	}
	return fmt.Sprintf("this client speaks banger API %s, older than the daemon at %s accepts (banger %s, API %s, oldest accepted %s): upgrade this client (the banger CLI, or the module github.com/bangerdev/banger) to API %s or later",
		e.Client, e.Host, d.Version, d.APIVersion, d.MinAPIVersion, d.MinAPIVersion)
}

// Unwrap returns errdefs.ErrUnsupported.
func (e *VersionError) Unwrap() error { return errdefs.ErrUnsupported }
