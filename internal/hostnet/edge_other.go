//go:build !linux

package hostnet

import (
	"context"
	"errors"

	"github.com/bangerdev/banger/internal/hostnet/nftplan"
	"github.com/bangerdev/banger/pkg/errdefs"
)

var errOS = errors.Join(errdefs.ErrUnsupported, errors.New("host networking needs Linux (bridges, taps, nftables)"))

type unsupported struct{}

func newEdges() (linkEdge, nftEdge) { return unsupported{}, unsupported{} }

func (unsupported) state(context.Context, string) (hostState, error) { return hostState{}, errOS }
func (unsupported) apply(context.Context, []linkOp) error            { return errOS }
func (unsupported) ensure(context.Context, nftplan.Plan) error       { return errOS }
func (unsupported) add(context.Context, nftplan.Plan) error          { return errOS }
func (unsupported) deleteMarked(context.Context, string, string) error {
	return errOS
}
func (unsupported) rules(context.Context, string) (bool, []RuleInfo, error) { return false, nil, errOS }
func (unsupported) chains(context.Context, string) ([]string, error)        { return nil, errOS }
func (unsupported) deleteTable(context.Context, string) error               { return errOS }
