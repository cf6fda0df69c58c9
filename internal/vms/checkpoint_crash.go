package vms

import (
	"context"
	"time"

	"github.com/bangerdev/banger/internal/vmm"
)

// afterCheckpointCrash finishes, for a VM a restarted daemon adopts, a
// checkpoint an earlier daemon was killed in the middle of: the record
// names its temporary directory, which goes (no `run --from` can read
// it), and a machine left paused by it is resumed — a checkpoint is only
// taken of a running VM, so the pause was the checkpoint's.
func (s *Service) afterCheckpointCrash(ctx context.Context, lv *liveVM) {
	rt := lv.rt
	if rt.Record.Checkpoint == nil && !rt.Record.IsBroken("checkpoint") {
		return
	}
	if s.Checkpoints != nil {
		if err := (checkpointStage{s}).Release(ctx, rt); err != nil {
			s.Log.Warn("reconcile: discard a checkpoint a crash cut short", "vm", rt.VM.ID, "error", err)
		}
	}
	if rt.VM.State != Running {
		return
	}
	p, ok := rt.Machine.(vmm.Pauser)
	if !ok {
		return
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if st, err := rt.Machine.Status(sctx); err != nil || st != vmm.StatusPaused {
		return
	}
	if err := p.Resume(sctx); err != nil {
		s.Log.Warn("reconcile: resume a VM a crashed checkpoint left paused", "vm", rt.VM.ID, "error", err)
		return
	}
	s.Log.Info("reconcile: resumed a VM a crashed checkpoint left paused", "vm", rt.VM.ID)
	// The guest may have missed the dead daemon's hang-up while it was
	// saved (QEMU's postmigrate); a first connection then gets no answer,
	// and dropping it makes the guest see one. Reach it here, bounded.
	for try := range 2 {
		actx, cancel := context.WithTimeout(ctx, 15*time.Second)
		_, err := lv.agent.get(actx)
		cancel()
		if err == nil {
			return
		}
		s.Log.Warn("reconcile: the agent of a VM resumed after a crashed checkpoint does not answer", "vm", rt.VM.ID, "try", try+1, "error", err)
		lv.agent.close()
	}
}
