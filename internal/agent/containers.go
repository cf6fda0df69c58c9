package agent

import (
	"github.com/bangerdev/banger/internal/agent/ctrroot"
	"github.com/bangerdev/banger/internal/agent/proto"
)

// containerFunc is the server's container request: make or remove a
// container's root through ServiceOptions.Containers (nil without).
func (s *Service) containerFunc() func(proto.ContainerPayload) error {
	sys := s.opts.Containers
	if sys == nil {
		return nil
	}
	return func(p proto.ContainerPayload) error {
		if p.Remove {
			return ctrroot.Remove(p.ID, sys)
		}
		return ctrroot.Make(ctrroot.Spec{ID: p.ID, Lower: p.Lower}, sys)
	}
}
