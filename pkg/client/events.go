package client

import (
	"context"

	"github.com/bangerdev/banger/pkg/api"
)

// Events follows the daemon's event journal: fn gets each line (an event,
// or a run of events the daemon no longer keeps) in order, until q.Until,
// ctx ends, fn fails or the daemon ends the stream. It returns the stream's
// end, whose Seq is where a later call resumes (q.Since) with no gap and
// no repeat; a stream broken without its end line is an
// errdefs.ErrUnavailable, with the end holding the last sequence read.
func (c *Client) Events(ctx context.Context, q api.EventsQuery, fn func(api.EventsLine) error) (api.EventsEnd, error) {
	body, err := api.Open(ctx, c.api, api.GetEvents, q)
	if err != nil {
		return api.EventsEnd{}, err
	}
	defer func() { _ = body.Close() }()
	return api.ReadEvents(body, fn)
}
