package client

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/bangerdev/banger/pkg/api"
)

// Logs copies a VM's kept main process output to stdout and stderr (nil
// discards), as `banger logs` prints it: what q selects (Tail, Since,
// Until, Timestamps), and with q.Follow new output until the process
// ends. With q.Console the serial console's text goes to stdout instead.
// It returns nil at the log's end, ctx's error when ctx ends first.
func (c *Client) Logs(ctx context.Context, ref string, q api.VMLogsQuery, stdout, stderr io.Writer) error {
	logs, err := api.Open(ctx, c.api, api.VMLogs, q, ref)
	if err != nil {
		return err
	}
	defer func() { _ = logs.Close() }()
	stop := context.AfterFunc(ctx, func() { _ = logs.Close() })
	defer stop()
	if q.Console {
		if stdout == nil {
			stdout = io.Discard
		}
		if _, err := io.Copy(stdout, logs); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("read the console log of vm %s: %w", ref, err)
		}
		return nil
	}
	for {
		f, err := api.ReadFrame(logs)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return fmt.Errorf("read logs of vm %s: %w", ref, err)
		case f.Kind == api.FrameError:
			return fmt.Errorf("logs of vm %s: %s", ref, f.Data)
		}
		if err := writeOutput(f, stdout, stderr); err != nil {
			return err
		}
	}
}
