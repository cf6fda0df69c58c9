//go:build !linux

package hostnet

import "context"

type nsUnsupported struct{}

func newNsEdge() nsEdge { return nsUnsupported{} }

func (nsUnsupported) state(context.Context, string, uint64) (nsState, uint64, error) {
	return nsState{}, 0, errOS
}
func (nsUnsupported) apply(context.Context, string, uint64, []linkOp) error { return errOS }
func (nsUnsupported) named() []string                                       { return nil }
func (nsUnsupported) netBytes(string, string) (uint64, uint64, error)       { return 0, 0, errOS }
