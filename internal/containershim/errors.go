package containershim

import (
	"errors"
	"fmt"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// containerd's error kinds the service answers with.
var (
	errAlreadyExists      = cerrdefs.ErrAlreadyExists
	errFailedPrecondition = cerrdefs.ErrFailedPrecondition
	errInvalid            = cerrdefs.ErrInvalidArgument
)

// kinds maps banger's error kinds to containerd's, so containerd and
// its clients branch on them across the ttrpc connection.
var kinds = []struct{ banger, containerd error }{
	{errdefs.ErrNotFound, cerrdefs.ErrNotFound},
	{errdefs.ErrExists, cerrdefs.ErrAlreadyExists},
	{errdefs.ErrInvalid, cerrdefs.ErrInvalidArgument},
	{errdefs.ErrConflict, cerrdefs.ErrFailedPrecondition},
	{errdefs.ErrUnsupported, cerrdefs.ErrNotImplemented},
	{errdefs.ErrUnavailable, cerrdefs.ErrUnavailable},
}

// toGRPC is err as the task API answers it: with containerd's kind of
// the banger kind it carries.
func toGRPC(err error) error {
	for _, k := range kinds {
		if errors.Is(err, k.banger) && !errors.Is(err, k.containerd) {
			err = fmt.Errorf("%w: %w", k.containerd, err)
			break
		}
	}
	return errgrpc.ToGRPC(err)
}

// notFound is containerd's not-found error about what format names.
func notFound(format string, args ...any) error {
	return errgrpc.ToGRPCf(cerrdefs.ErrNotFound, format, args...)
}

// unsupported is containerd's not-implemented error about what format
// names.
func unsupported(format string, args ...any) error {
	return errgrpc.ToGRPCf(cerrdefs.ErrNotImplemented, format+" is not supported by the banger shim yet", args...)
}
