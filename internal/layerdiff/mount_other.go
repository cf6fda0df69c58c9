//go:build !linux

package layerdiff

import (
	"context"
	"fmt"

	"github.com/bangerdev/banger/pkg/errdefs"
)

type runner interface {
	run(ctx context.Context, argv []string) (string, error)
}

type execRunner struct{}

func (execRunner) run(context.Context, []string) (string, error) {
	return "", fmt.Errorf("%w: loop devices are Linux only", errdefs.ErrUnsupported)
}

func mountRO(context.Context, runner, string, string) (func() error, error) {
	return nil, fmt.Errorf("%w: mounting ext4 images needs Linux", errdefs.ErrUnsupported)
}
