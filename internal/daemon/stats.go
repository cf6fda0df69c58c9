package daemon

import (
	"context"
	"time"

	"github.com/bangerdev/banger/internal/agentclient"
	"github.com/bangerdev/banger/internal/hostnet"
	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/internal/vms"
	"github.com/bangerdev/banger/internal/vmstats"
	"github.com/bangerdev/banger/pkg/api"
)

// stats samples the running VMs refs names (every one when none): the VM
// service says which VMs and VMMs, the collector reads the host, the
// drives' counters and the guest's agent.
func (d *Daemon) stats(ctx context.Context, refs []string) ([]api.VMStats, error) {
	got, err := d.sample(ctx, refs)
	return statsToAPI(got), err
}

// sample is stats in the collector's own terms (the Docker API's stats
// convert them too).
func (d *Daemon) sample(ctx context.Context, refs []string) ([]vmstats.Stats, error) {
	sampled, err := d.vms.Sample(ctx, refs)
	if err != nil {
		return nil, err
	}
	targets := make([]vmstats.Target, len(sampled))
	for i, sm := range sampled {
		targets[i] = statsTarget(ctx, d.vms, sm)
	}
	return (&vmstats.Collector{Host: vmstats.LocalHost}).Collect(ctx, targets)
}

// statsTarget is what the collector samples of one VM: its drives through
// the machine when the backend counts them, its guest through the agent
// connection (none for a paused VM, whose agent cannot answer).
func statsTarget(ctx context.Context, svc *vms.Service, sm vms.Sampled) vmstats.Target {
	t := vmstats.Target{ID: sm.VM.ID, Name: sm.VM.Name, PID: sm.PID, Tap: sm.Tap}
	if sm.Netns != "" {
		t.Net = hostnet.NewNamespaces().Counter(sm.Netns, sm.Tap)
	}
	if b, ok := sm.Machine.(vmm.BlockStatser); ok {
		t.Block = b
	}
	if sm.VM.State == vms.Running {
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if c, err := svc.Agent(actx, sm.VM.ID); err == nil {
			t.Guest = agentclient.Over(c)
		}
		cancel()
	}
	return t
}
