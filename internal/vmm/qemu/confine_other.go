//go:build !linux

package qemu

import (
	"context"
	"errors"

	"github.com/bangerdev/banger/internal/vmm"
)

func (b *Backend) gatherFacts(context.Context, string) confineFacts {
	return confineFacts{UserErr: "confinement needs Linux", SandboxErr: errors.New("needs Linux")}
}

// Confinement implements vmm.Confiner.
func (b *Backend) Confinement(context.Context) vmm.ConfinementStatus {
	return vmm.ConfinementStatus{Summary: "none: confinement needs Linux"}
}
