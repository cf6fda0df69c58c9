package dockerapi

import (
	"context"

	"golang.org/x/crypto/ssh"

	"github.com/bangerdev/banger/internal/events"
	"github.com/bangerdev/banger/internal/images"
	"github.com/bangerdev/banger/internal/vms"
	"github.com/bangerdev/banger/internal/vmstats"
	"github.com/bangerdev/banger/internal/volumes"
)

// Ops are the services behind the endpoints beyond `docker run`: exec,
// archive (docker cp), pause, rename, top, stats, volumes, events and
// system df. Each is the daemon's own.
type Ops struct {
	Live    Live
	Stats   Sampler
	Volumes VolumeCatalog
	Journal Journal
	Cache   BuildCache
}

// Live is what the operations on a running container ask of the VM
// service (internal/vms): its agent connection (exec, cp and top travel
// on it as `banger exec`, `cp` and `top` do), pause and rename.
type Live interface {
	Agent(ctx context.Context, ref string) (*ssh.Client, error)
	Pause(ctx context.Context, ref string) (vms.VM, error)
	Unpause(ctx context.Context, ref string) (vms.VM, error)
	Rename(ref, name string) (vms.VM, error)
}

// Sampler samples running VMs as `banger stats` does (the daemon's
// collector over the VM service): refs names them.
type Sampler func(ctx context.Context, refs []string) ([]vmstats.Stats, error)

// VolumeCatalog is the named volumes' catalog (internal/volumes).
type VolumeCatalog interface {
	List() ([]volumes.Volume, error)
	CreateWith(ctx context.Context, name string, o volumes.CreateOptions) (volumes.Volume, error)
	Inspect(name string) (volumes.Info, error)
	Remove(name string) error
}

// Journal is the daemon's event journal (internal/events).
type Journal interface {
	Subscribe(q events.Query) (*events.Subscription, error)
}

// BuildCache says what the build cache holds: a dry-run prune of it.
type BuildCache interface {
	Prune(opts images.PruneOptions) (images.PruneReport, error)
}
