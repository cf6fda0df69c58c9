package vms

import (
	"cmp"
	"context"
	"fmt"

	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// imageStage resolves the image the VM was created from. It holds nothing
// on the host.
type imageStage struct{ cat Catalog }

func (imageStage) Name() string { return "image" }

func (s imageStage) Acquire(_ context.Context, rt *Runtime) error {
	img, err := s.cat.Image(cmp.Or(rt.VM.ImageID, rt.VM.Spec.Image))
	if err != nil {
		return err
	}
	if img.AgentVersion == "" {
		return fmt.Errorf("%w: image %s has no guest agent injected (banger-agent was not found when it was built); install banger-agent (make install puts it in PREFIX/lib/banger) and pull or import the image again", errdefs.ErrConflict, img.Name)
	}
	rt.Image = img
	return nil
}

func (imageStage) Release(context.Context, *Runtime) error { return nil }

// kernelStage resolves the kernel the VM boots, with its initrd up to
// date. The kernel's files belong to the catalog, not to the VM.
type kernelStage struct{ cat Catalog }

func (kernelStage) Name() string { return "kernel" }

func (s kernelStage) Acquire(_ context.Context, rt *Runtime) error {
	k, err := s.cat.Kernel(rt.VM.Spec.Kernel)
	if err != nil {
		return err
	}
	rt.Kernel = k
	return nil
}

func (kernelStage) Release(context.Context, *Runtime) error { return nil }

// backendStage picks the VMM backend (the VM's choice, or auto) from the
// cached probes. Later stages ask its capabilities. Auto, for a VM in a
// network namespace, is the first backend that can reach a tap there
// (Capabilities.Netns) and runs here; when none does, auto's usual pick
// and the network stage's refusal say why.
type backendStage struct{ backends Backends }

func (backendStage) Name() string { return "backend" }

func (s backendStage) Acquire(ctx context.Context, rt *Runtime) error {
	choice := rt.VM.Spec.VMM
	if (choice == "" || choice == vmm.Auto) && rt.VM.Spec.inNetns() {
		for _, b := range s.backends.Backends() {
			if !b.Capabilities().Netns {
				continue
			}
			if b, p, err := s.backends.Pick(ctx, b.Name()); err == nil {
				rt.Backend, rt.Probe = b, p
				return nil
			}
		}
	}
	b, p, err := s.backends.Pick(ctx, choice)
	if err != nil {
		return err
	}
	rt.Backend, rt.Probe = b, p
	return nil
}

func (backendStage) Release(context.Context, *Runtime) error { return nil }
